"""The multi-head model of Multi-Head DML (003_72cd4b33cee60b89.txt): the image-retrieval task's
first model family.

A row's cell over the paper's defaults resolves to the multi-head model's configuration (`heads`
from `descriptors` and `attention_heads`, `soa` from `attention`, `embedding_dim`), the loss of
Eq. 5-7 (`loss`), and the paper's training preset for the scale (config/presets/<paper>.yaml).

`eval_every_epoch: true` (set by the plan on the cells of a `training_curve` figure, MHDML
Figure 1: Recall@1 against epochs; not a spec key) evaluates the test set after every epoch into
that epoch's history line (`history[i]["eval"]`, every Recall@K the final evaluation reports).
It changes nothing in the training (the engine restores the RNG around it), but it is part of the
resolved cell, so a cell with the curve has its own id, and the cells of tables, which do not
need the curve, keep theirs.  The name says what it does: the whole evaluation runs, not Recall@1
alone, because Recall@1 costs the same embedding pass as every other K.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.cells import cell_hash
from dmlrepro.errors import UserError
from dmlrepro.tasks.base import EVAL_EVERY_EPOCH
from dmlrepro.tasks.family import ModelFamily, register_family
from dmlrepro.tasks.retrieval import RECALL_METRICS

MODELS = ("mhdml",)
#: Cell keys the multi-head trainer reads.
READ_KEYS = frozenset({"model", "backbone", "attention", "descriptors", "attention_heads", "pooling",
                       "embedding_dim", "loss", EVAL_EVERY_EPOCH})
_LOSS_FORMS = "{ms: 1.0, proxy_anchor: λ} (Eq. 7), {proxy_anchor: 1.0} or {ms: 1.0}"


def heads_of(paper_cell: dict) -> str:
    """MHDML's `descriptors` ([local], [global] or both) and `attention_heads` (multi | single)
    as the model's `heads` (local | global | both | single)."""
    descriptors = sorted(paper_cell.get("descriptors", ["global", "local"]))
    if paper_cell.get("attention_heads", "multi") == "single":
        if descriptors != ["global", "local"]:
            raise UserError("attention_heads: single concatenates the local and global maps (Sec. 4.5); "
                            "it needs descriptors [local, global]")
        return "single"
    return "both" if descriptors == ["global", "local"] else descriptors[0]


def _loss_problem(loss: dict) -> str | None:
    names = set(loss)
    if names == {"ms", "proxy_anchor"} and loss["ms"] == 1.0:
        return None
    if names in ({"ms"}, {"proxy_anchor"}) and set(loss.values()) == {1.0}:
        return None
    return f"loss {loss} is not computed by the retrieval trainer: it computes {_LOSS_FORMS}"


@register_family
class MultiHeadFamily(ModelFamily):
    name = "mhdml"
    task = "image_retrieval"
    models = MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        for key in sorted(paper_cell):
            if key not in READ_KEYS:
                return (f"{key}: {paper_cell[key]!r} does nothing in the multi-head trainer (it reads "
                        f"{', '.join(sorted(READ_KEYS))}); remove it or mark the row reported_only")
        if paper_cell.get("backbone", "resnet50") != "resnet50":
            return "backbone: the multi-head trainer builds the preset's ResNet (resnet50); remove it or mark the row reported_only"
        if paper_cell.get("attention", "soa") not in ("soa", "none"):
            return f"attention {paper_cell['attention']!r}: the multi-head model has soa or none"
        if paper_cell.get("pooling", "gap+gmp") != "gap+gmp":
            return f"pooling {paper_cell['pooling']!r}: the multi-head model pools GAP + GMP (Eq. 4) only"
        if paper_cell.get(EVAL_EVERY_EPOCH, True) is not True:
            return f"{EVAL_EVERY_EPOCH}: only true is meaningful (leave it out for no per-epoch evaluation)"
        if "loss" in paper_cell:
            return _loss_problem(paper_cell["loss"])
        return "loss: a multi-head cell needs its loss (" + _LOSS_FORMS + ")"

    def column_problem(self, column: dict) -> str | None:
        problem = self.protocol_problem(column)
        if problem:
            return problem
        if column["metric"] not in RECALL_METRICS:
            return f"metric {column['metric']!r} is not computed by the retrieval evaluation ({', '.join(RECALL_METRICS)})"
        for key in ("boxes", "query_mode", "train_dataset", "eval_dims", "mean_of", "scope"):
            if key in column:
                return f"{key} cannot be honoured by the retrieval evaluation; remove it or make the table's rows reported_only"
        return None

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        from dmlrepro.presets import training_preset

        embedding_dim = int(paper_cell.get("embedding_dim", 512))
        heads = heads_of(paper_cell)
        if heads == "both" and embedding_dim % 2:
            raise UserError(f"embedding_dim {embedding_dim}: the embedding is D/2 per head, so D must be even")
        cell = {
            "task": self.task,
            "paper": paper,
            "dataset": dataset,
            "data_root": str(data_root),
            "model": {"heads": heads, "soa": paper_cell.get("attention", "soa") == "soa",
                      "embedding_dim": embedding_dim},
            "loss": dict(sorted(paper_cell.get("loss", {"ms": 1.0, "proxy_anchor": 0.03}).items())),
            "scale": scale["name"],
            "training": training_preset(paper, scale, "retrieval_preset.schema.yaml"),
        }
        if paper_cell.get(EVAL_EVERY_EPOCH):
            # Only when set: the cells without the curve keep the ids they had before the key existed.
            cell[EVAL_EVERY_EPOCH] = True
        return cell

    def cell_id(self, cell: dict) -> str:
        """`cars196-mhdml-d512-both-soa-ms1pa0.03-1a2b3c4d` (`...-curve-<hash>` with eval_every_epoch)."""
        model = cell["model"]
        short = {"ms": "ms", "proxy_anchor": "pa"}
        loss = "".join(f"{short.get(k, k)}{v:g}" for k, v in cell["loss"].items())
        parts = [cell["dataset"], cell["paper"], f"d{model['embedding_dim']}", model["heads"],
                 "soa" if model["soa"] else "nosoa", loss] + (["curve"] if cell.get(EVAL_EVERY_EPOCH) else [])
        return "-".join(parts + [cell_hash(cell)])

    def validate_cell(self, cell: dict) -> None:
        import torch

        from dmlrepro.models.multi_head_embedding import build_multi_head_model
        from dmlrepro.training.retrieval_parts import build_retrieval_loss

        training = cell["training"]
        sampler = training["sampler"]
        if sampler["classes_per_batch"] * sampler["images_per_class"] != training["batch_size"]:
            raise UserError(f"training preset of {cell['paper']} ({cell['scale']}): classes_per_batch x "
                            f"images_per_class must equal batch_size")
        crop = training["input"]["crop"]
        with torch.device("meta"):
            model = build_multi_head_model({**cell["model"], "backbone": training["backbone"]}, load_pretrained=False)
            model.train()
            model(torch.empty(2, 3, crop, crop))
        build_retrieval_loss(cell["loss"], 4, cell["model"]["embedding_dim"])

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        import time

        from dmlrepro.training.engine import prepare_run, run_training
        from dmlrepro.training.retrieval_parts import retrieval_parts

        started = time.time()
        device, flags = prepare_run(runtime.get("threads"), runtime.get("device_name", "auto"), seed)
        return run_training(
            cell, seed, out_dir, checkpoint_dir,
            lambda device_, fresh: retrieval_parts(cell, seed, device_, fresh, runtime.get("num_workers", 0),
                                                   runtime.get("eval_batch_size")),
            device, flags, started, progress=runtime.get("progress", True),
            progress_file=runtime.get("progress_file"), reuse_weights=runtime.get("reuse_weights", False),
        )

    def paper_probe(self, batch_size: int = 2) -> dict:
        """MHDML's default cell (both heads with SOA, D = 512, the hybrid loss) at `paper` scale:
        ResNet-50 at 224×224, 100 proxies (CUB-200-2011's training classes)."""
        import torch

        from dmlrepro.config import resolve_scale
        from dmlrepro.models.multi_head_embedding import build_multi_head_model
        from dmlrepro.specs import load_paper_spec
        from dmlrepro.tasks.registry import _spec_path
        from dmlrepro.training.retrieval_parts import build_retrieval_loss, build_retrieval_optimizer

        spec = load_paper_spec(_spec_path("mhdml"))
        scale = resolve_scale({"scale": "paper", "pretrained": "none"})
        cell = self.resolve_cell(dict(spec["defaults"]), "cub200", scale, "unused", "mhdml")
        training = cell["training"]
        model = build_multi_head_model({**cell["model"], "backbone": training["backbone"],
                                        "freeze_bn": training["freeze_bn"]}, load_pretrained=False).train()
        loss_fn = build_retrieval_loss(cell["loss"], 100, cell["model"]["embedding_dim"])
        optimizer = build_retrieval_optimizer(model, loss_fn, training["optimizer"])
        crop = training["input"]["crop"]
        labels = torch.arange(batch_size) // 2  # pairs of one class: MS has positives
        loss = loss_fn(model(torch.randn(batch_size, 3, crop, crop)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "input_size": [crop, crop],
                "parameters": sum(p.numel() for p in model.parameters())}
