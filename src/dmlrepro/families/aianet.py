"""AiA-Net (002_e585b7ac4801a221.txt): a model family of the re-ID task, trained with the triplet
loss of Eq. 18 and the cross-entropy of Eq. 19 on both feature extractors (Sec. 4.3-4.4;
`dmlrepro.training.aianet_parts`).

A row's cell over the paper's defaults (and the spec's `dataset_defaults` for the column's
dataset) resolves to the model AiA-Net builds (`model`: backbone, attention kind with or without
the inner attention, r, c', positions p1-p4 as `stages`, the part extractor F_p and its T), the
loss weights and the triplet margin tau, plus the paper's training preset for the scale
(config/presets/aianet.yaml).

Per-dataset defaults (Sec. 4.4) are resolved from the cell's dataset, never per row: r = 8 on
CUHK03 and CUHK01 and 4 elsewhere, c' = 960 on DukeMTMC-reID and 480 elsewhere, tau = 1.5 on
CUHK03 and CUHK01 and 1 elsewhere; the lr (1e-3 / 5e-4) is the preset's `lr_by_dataset`.  The
spec states them in `dataset_defaults` (paper_tables/aianet.yaml); a dataset it does not list
gets the same rule from `dataset_default` here (tests hold the two equal).  A table or row that
sets r or c' itself (Table 3: "r = 4"; Tables 5-6's sweeps) overrides them.

Keys a row may set and that change the model: a key an attention does not read (r of SE is read,
c' only by Gau, `aia` only by Lin/SoP/Gau, `stages` only with an attention, `part_regions` only
with F_p, `triplet_margin` only with a triplet term) is dropped when inherited and refused when
the row sets it itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.cells import cell_hash
from dmlrepro.errors import UserError
from dmlrepro.tasks.family import ModelFamily, register_family

MODELS = ("aianet",)
#: Cell keys the AiA-Net trainer reads.
READ_KEYS = frozenset({"model", "backbone", "attention", "aia", "reduction", "c_prime", "stages",
                       "part_extractor", "part_regions", "embedding_dim", "loss", "triplet_margin",
                       "split"})  # split: the plan refuses it off CUHK03 vanilla (tables/splits.py)
#: googlenet(_bn): the paper's BN-GoogLeNet; resnet50 (Table 2); densenet121, mobilenet_v2,
#: shufflenet_v2: torchvision's networks of Sec. 5.6 / Fig. 11 (dmlrepro.models.torchvision_backbones,
#: where their Blk 1-4 end), shaped by the preset's entry of the same name.
BACKBONES = ("googlenet", "googlenet_bn", "resnet50", "densenet121", "mobilenet_v2", "shufflenet_v2")
#: Preset keys that shape one backbone only: a cell keeps its own backbone's, so that the cells of
#: the other backbones do not change with them.
BACKBONE_PRESET_KEYS = ("densenet121", "mobilenet_v2", "shufflenet_v2")
#: Attention kinds and the hyper-parameters each reads (Table 1; SE and NL read r, Sec. 5.2.2).
ATTENTION_READS: dict[str, tuple[str, ...]] = {
    "none": (),
    "lin": ("aia", "reduction"), "sop": ("aia", "reduction"), "gau": ("aia", "reduction", "c_prime"),
    "nonlinear_v1": ("reduction",), "nonlinear_v2": ("reduction",),
    "se": ("reduction",), "nl": ("reduction",),
}
LOSS_TERMS = ("triplet", "cross_entropy")
#: Datasets the family trains and evaluates (the reid task's loaders; tasks/reid.py).
DATASETS = ("market1501", "dukemtmc", "cuhk03np", "cuhk03np_labeled", "cuhk03", "cuhk03_labeled",
            "msmt17", "cuhk01")
#: Named protocols per dataset (metrics["protocols"][name]); the flat metrics are single query.
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "market1501": ("single_query", "multi_query"),
    "cuhk03": ("single_gallery_shot@100", "market"),
    "cuhk03_labeled": ("single_gallery_shot@100", "market"),
}
METRICS = ("rank1", "rank5", "rank10", "rank20", "map")


def dataset_default(dataset: str, key: str) -> Any:
    """Sec. 4.4's per-dataset default of `key` (reduction r, c_prime c', triplet_margin tau)."""
    cuhk = dataset.startswith(("cuhk03", "cuhk01"))
    if key == "reduction":
        return 8 if cuhk else 4
    if key == "c_prime":
        return 960 if dataset == "dukemtmc" else 480
    if key == "triplet_margin":
        return 1.5 if cuhk else 1.0
    raise KeyError(key)


def protocols_for(dataset: str) -> tuple[str, ...]:
    return PROTOCOLS.get(dataset, ())


def _reads(cell: dict, key: str) -> bool:
    """Whether AiA-Net reads `key` for this paper cell."""
    attention = cell.get("attention", "none")
    if key in ("aia", "reduction", "c_prime"):
        return key in ATTENTION_READS.get(attention, ())
    if key == "stages":
        return attention != "none"
    if key == "part_regions":
        return bool(cell.get("part_extractor", True))
    if key == "triplet_margin":
        return "triplet" in cell.get("loss", {"triplet": 1.0})
    return key in READ_KEYS


@register_family
class AiANetFamily(ModelFamily):
    name = "aianet"
    task = "reid"
    models = MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        for key in sorted(paper_cell):
            if key not in READ_KEYS:
                return (f"{key}: {paper_cell[key]!r} does nothing in aianet (the AiA-Net trainer reads "
                        f"{', '.join(sorted(READ_KEYS))}); remove it or mark the row reported_only")
        if paper_cell.get("backbone", "googlenet") not in BACKBONES:
            return (f"backbone {paper_cell['backbone']!r}: AiA-Net builds {', '.join(BACKBONES)}; "
                    "remove it or mark the row reported_only")
        attention = paper_cell.get("attention", "none")
        if attention not in ATTENTION_READS:
            return f"attention {attention!r} is not an AiA-Net attention ({', '.join(ATTENTION_READS)})"
        if attention != "none" and not paper_cell.get("stages"):
            return "stages: an attention cell needs its positions (1-4, the paper's p1-p4)"
        loss = paper_cell.get("loss", {"triplet": 1.0, "cross_entropy": 1.0})
        if not loss or set(loss) - set(LOSS_TERMS):
            return f"loss {loss}: AiA-Net trains {{triplet: w, cross_entropy: w}} (Eqs. 18-19) or one of them"
        for key in sorted(own):
            if not _reads(paper_cell, key):
                return f"{key}: {own[key]!r} does nothing: attention {attention!r} does not read it; remove it from the row"
        return None

    def protocols(self, dataset: str) -> tuple[str, ...]:
        return protocols_for(dataset)

    def column_problem(self, column: dict) -> str | None:
        problem = self.protocol_problem(column)
        if problem:
            return problem
        if column["metric"] not in METRICS:
            return f"metric {column['metric']!r} is not computed by the AiA-Net evaluation ({', '.join(METRICS)})"
        dataset = column.get("dataset")
        if dataset not in DATASETS:
            return f"dataset {dataset!r} has no AiA-Net loader (trained: {', '.join(DATASETS)})"
        boxes = column.get("boxes")
        if boxes is not None:
            labeled = dataset.endswith("_labeled")
            if not dataset.startswith("cuhk03") or (boxes == "labeled") != labeled:
                return (f"boxes: {boxes} does not match dataset {dataset} (CUHK03's labeled boxes are the datasets "
                        "cuhk03np_labeled / cuhk03_labeled, detected cuhk03np / cuhk03)")
        if column.get("query_mode", "single_query") != "single_query" and column.get("protocol") != column["query_mode"]:
            return f"query_mode: {column['query_mode']} needs protocol: {column['query_mode']} on the column"
        for key in ("train_dataset", "eval_dims", "mean_of", "scope"):
            if key in column:
                return f"{key} cannot be honoured by the AiA-Net evaluation; remove it or make the table's rows reported_only"
        return None

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        from dmlrepro.presets import training_preset

        attention = paper_cell.get("attention", "none")
        model: dict[str, Any] = {
            "model": "aianet",
            "backbone": "googlenet" if paper_cell.get("backbone", "googlenet") == "googlenet_bn" else paper_cell.get("backbone", "googlenet"),
            "attention": attention,
            "part_extractor": bool(paper_cell.get("part_extractor", True)),
            "embedding_dim": int(paper_cell.get("embedding_dim", 1024)),
        }
        for key in ATTENTION_READS[attention]:
            default = True if key == "aia" else dataset_default(dataset, key)
            model[key] = paper_cell.get(key, default)
        if attention != "none":
            model["stages"] = sorted(paper_cell.get("stages", []))
        if model["part_extractor"]:
            model["part_regions"] = int(paper_cell.get("part_regions", 4))
        loss = {k: float(v) for k, v in sorted(paper_cell.get("loss", {"triplet": 1.0, "cross_entropy": 1.0}).items())}
        training = training_preset(paper, scale, "aianet_preset.schema.yaml", task=self.task)
        for key in BACKBONE_PRESET_KEYS:
            if key != model["backbone"]:
                training.pop(key, None)
        if training["backbone"]["pretrained"] == "torchvision":
            training["backbone"]["variant"] = "torchvision"
        cell = {
            "task": self.task,
            "family": self.name,
            "paper": paper,
            "dataset": dataset,
            "data_root": str(data_root),
            "model": model,
            "loss": loss,
            "triplet_margin": float(paper_cell.get("triplet_margin", dataset_default(dataset, "triplet_margin"))),
            "scale": scale["name"],
            "training": training,
        }
        if "triplet" not in loss:
            cell.pop("triplet_margin")
        if paper_cell.get("split"):  # vanilla split k; split 0 names none (its id as before splits)
            cell["split"] = int(paper_cell["split"])
        return cell

    def cell_id(self, cell: dict) -> str:
        """`cuhk03np-aianet-gau-r8c480-st1234-fap-1a2b3c4d` (`lin-noaia`, `fa` without F_p)."""
        model = cell["model"]
        parts = [cell["dataset"], "aianet"]
        if model["backbone"] != "googlenet":
            parts.append(model["backbone"])
        parts.append(model["attention"] + ("-noaia" if model.get("aia") is False else ""))
        params = "".join(f"{letter}{model[key]}" for key, letter in (("reduction", "r"), ("c_prime", "c")) if key in model)
        if params:
            parts.append(params)
        if model.get("stages"):
            parts.append("st" + "".join(str(s) for s in model["stages"]))
        parts.append("fap" if model["part_extractor"] else "fa")
        if cell.get("split"):
            parts.append(f"split{cell['split']}")
        return "-".join(parts + [cell_hash(cell)])

    def validate_cell(self, cell: dict) -> None:
        import torch

        from dmlrepro.training.aianet_parts import build_model, check_sampler

        check_sampler(cell["training"], f"training preset of aianet ({cell['scale']})")
        height, width = cell["training"]["input_size"]
        with torch.device("meta"):
            model = build_model(cell, num_classes=4, load_pretrained=False)
            model.eval()
            model(torch.empty(2, 3, height, width))

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        import time

        from dmlrepro.training.aianet_parts import aianet_parts
        from dmlrepro.training.engine import prepare_run, run_training

        started = time.time()
        device, flags = prepare_run(runtime.get("threads"), runtime.get("device_name", "auto"), seed)
        return run_training(
            cell, seed, out_dir, checkpoint_dir,
            lambda device_, fresh: aianet_parts(cell, device_, fresh, runtime.get("num_workers", 0),
                                                runtime.get("eval_batch_size")),
            device, flags, started, progress=runtime.get("progress", True),
            progress_file=runtime.get("progress_file"), reuse_weights=runtime.get("reuse_weights", False),
        )

    def paper_probe(self, batch_size: int = 2) -> dict:
        """AiA-Net's default cell (F_a + F_p with Gau-attention w/ AiA at p1-p4) on CUHK03-NP at
        `paper` scale: BN-GoogLeNet at 256x128, 767 identities, one Adam step of Eqs. 18-19."""
        import torch

        from dmlrepro.config import resolve_scale
        from dmlrepro.specs import load_paper_spec
        from dmlrepro.tasks.registry import _spec_path
        from dmlrepro.training.aianet_parts import AiANetLoss, build_model, build_optimizer, learning_rate

        spec = load_paper_spec(_spec_path("aianet"))
        scale = resolve_scale({"scale": "paper", "pretrained": "none"})
        paper_cell = _default_cell(spec, "cuhk03np")
        cell = self.resolve_cell(paper_cell, "cuhk03np", scale, "unused", "aianet")
        training = cell["training"]
        model = build_model(cell, num_classes=767, load_pretrained=False).train()
        loss_fn = AiANetLoss(cell["loss"], cell["triplet_margin"], training["triplet"])
        optimizer = build_optimizer(model, training)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(0, training, cell["dataset"])
        height, width = training["input_size"]
        labels = torch.arange(batch_size) // 2
        loss = loss_fn(model(torch.randn(batch_size, 3, height, width)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "input_size": [height, width],
                "parameters": sum(p.numel() for p in model.parameters())}


def _default_cell(spec: dict, dataset: str) -> dict:
    """The paper's defaults under the dataset's defaults (spec.defaults < dataset_defaults)."""
    import copy

    cell = copy.deepcopy(spec["defaults"])
    cell.update(copy.deepcopy(spec.get("dataset_defaults", {}).get(dataset, {})))
    return cell
