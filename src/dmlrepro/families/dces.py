"""Divide and Conquer the Embedding Space (004_82c542c12fef7e00.txt, the supplement; Sanakoyeu et al.,
CVPR 2019) as an image-retrieval model family: K learners on contiguous slices of a d-dim
embedding, re-clustered every T epochs (§1), trained with Margin loss (§2), on Stanford Online
Products (Tab. S1, Figs. S1, S2).  The re-ID family of the same model (Tab. S2) is
``families/dces_reid.py``; both train through ``training/dces_parts.py``.

A row's cell over the paper's defaults: ``learners`` (K; 1 is the baseline, one learner on the whole
embedding), ``embedding_dim`` (d), ``recluster_every`` (T, the public code's 2: the text does not
give it), ``loss: {margin: 1.0}``, ``backbone: resnet50`` (the preset's ResNet), ``attention: none``.
The training preset of the scale (config/presets/dces.yaml) holds the schedule, the sampler,
the clustering and loss variants.

One trained cell is evaluated once, on one embedding pass of the test set, into every protocol
(``protocols``): ``dims@a-b`` is Recall@K of dimensions a..b alone (1-based, inclusive, re-normalised):
the eight 16-dim slices (Tab. S1's "Learner k" rows; the baseline's embedding cut the same way) and
the first m dims for m = 32 … 128 (Fig. S2; m = 16 is ``dims@1-16``); ``slices_mean`` the mean over the
slices (Tab. S1's "Mean"); the standard protocol (no protocol) is the whole embedding ("All
together"), and ``corr_coeff`` the correlation coefficient between slices (Tab. S1's last row).
A column therefore never retrains a cell.  Fig. S2's x key ``eval_dims_first`` (the first m
dimensions) is read by the figure (protocol ``dims@1-m``), not by the training: every x value of a
series is the same cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.cells import cell_hash
from dmlrepro.errors import UserError
from dmlrepro.tasks.base import EVAL_EVERY_EPOCH
from dmlrepro.tasks.family import ModelFamily, register_family

MODELS = ("dces",)
#: Cell keys the Divide and Conquer trainer reads (eval_dims_first: a figure's x, read by the figure).
READ_KEYS = frozenset({"model", "backbone", "attention", "embedding_dim", "learners", "recluster_every", "loss",
                       "eval_dims_first"})
DCES_LOSS = {"margin": 1.0}
#: Tab. S1: d = 128 cut into 8 slices of 16 (the protocols a column may name).
PAPER_DIM, PAPER_SLICES = 128, 8
#: Column keys no Divide and Conquer evaluation reads.
_REFUSED_COLUMN_KEYS = ("boxes", "query_mode", "train_dataset", "eval_dims", "mean_of", "scope")


def dces_cell_problem(paper_cell: dict, figure_x: bool) -> str | None:
    """The first key of a resolved paper cell the Divide and Conquer trainer does not honour."""
    for key in sorted(paper_cell):
        if key not in READ_KEYS or (key == "eval_dims_first" and not figure_x):
            return (f"{key}: {paper_cell[key]!r} does nothing in the Divide and Conquer trainer (it reads "
                    f"{', '.join(sorted(READ_KEYS - {'eval_dims_first'}))}); remove it or mark the row reported_only")
    if paper_cell.get("backbone", "resnet50") != "resnet50":
        return "backbone: the Divide and Conquer trainer builds the preset's ResNet (resnet50); remove it or mark the row reported_only"
    if paper_cell.get("attention", "none") != "none":
        return f"attention {paper_cell['attention']!r}: the Divide and Conquer model has no attention (attention: none)"
    if paper_cell.get("loss", DCES_LOSS) != DCES_LOSS:
        return f"loss {paper_cell['loss']}: the Divide and Conquer trainer computes the Margin loss only ({DCES_LOSS})"
    dim = paper_cell.get("embedding_dim", PAPER_DIM)
    first = paper_cell.get("eval_dims_first")
    width = dim // PAPER_SLICES if dim % PAPER_SLICES == 0 else dim
    if first is not None and (isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= dim
                              or first % width):
        return (f"eval_dims_first {first!r}: the evaluation computes the first m dimensions for m = {width}, "
                f"{2 * width}, ..., {dim} (one slice more each); choose one of them")
    return None


def resolve_dces_cell(family: ModelFamily, paper_cell: dict, dataset: str, scale: dict, data_root: str,
                      paper: str) -> dict:
    """The full cell: model (d, K), T (none for the baseline, which never clusters), the loss, and
    the paper's training preset for the scale and task (config/presets/<paper>[.<task>].yaml)."""
    from dmlrepro.presets import training_preset

    learners = int(paper_cell.get("learners", PAPER_SLICES))
    return {
        "task": family.task,
        "family": family.name,
        "paper": paper,
        "dataset": dataset,
        "data_root": str(data_root),
        "model": {"embedding_dim": int(paper_cell.get("embedding_dim", PAPER_DIM)), "num_learners": learners},
        "recluster_every": paper_cell.get("recluster_every", 2) if learners > 1 else None,
        "loss": dict(DCES_LOSS),
        "scale": scale["name"],
        "training": training_preset(paper, scale, "dces_preset.schema.yaml", task=family.task),
    }


def dces_cell_id(cell: dict) -> str:
    """`sop-dces-d128-k8-t2-1a2b3c4d` (`...-k1-...` for the baseline)."""
    model = cell["model"]
    parts = [cell["dataset"], cell["paper"], f"d{model['embedding_dim']}", f"k{model['num_learners']}"]
    if cell.get("recluster_every"):
        parts.append(f"t{cell['recluster_every']}")
    return "-".join(parts + [cell_hash(cell)])


def validate_dces_cell(cell: dict) -> None:
    """K divides d, T below the clustered epochs, the sampler's product, the evaluation slices: one
    line each; then the model built and run on the meta device."""
    import torch

    from dmlrepro.models.divide_and_conquer import build_divide_and_conquer_model, learner_slices
    from dmlrepro.training.dces_parts import build_schedule, model_config

    model = cell["model"]
    training = cell["training"]
    try:
        learner_slices(model["embedding_dim"], model["num_learners"])
    except UserError as exc:
        raise UserError(f"{cell['paper']} cell on {cell['dataset']}: {exc} (the spec's learners / embedding_dim)") from None
    build_schedule(cell)
    sampler = training["sampler"]
    if sampler["classes_per_batch"] * sampler["images_per_class"] != training["batch_size"]:
        raise UserError(f"config/presets/{cell['paper']}*.yaml (scale {cell['scale']}): classes_per_batch x "
                        "images_per_class must equal batch_size")
    if model["embedding_dim"] % training["eval_slices"]:
        raise UserError(f"config/presets/{cell['paper']}*.yaml (scale {cell['scale']}): eval_slices "
                        f"{training['eval_slices']} does not divide embedding_dim {model['embedding_dim']}")
    size = training["input"]
    shape = (size["crop"], size["crop"]) if "crop" in size else (size["height"], size["width"])
    with torch.device("meta"):
        net = build_divide_and_conquer_model(model_config(cell), load_pretrained=False)
        net.train()
        net(torch.empty(2, 3, *shape))


def dces_paper_probe(family: ModelFamily, dataset: str, batch_size: int) -> dict:
    """One training step of the paper's Divide and Conquer cell (K = 8, d = 128, ResNet-50 at the
    paper preset's input size) on the CPU: learner 0's Margin loss on its slice, Adam.  The margin
    loss needs two classes of two images: at least 4 images."""
    import torch

    from dmlrepro.config import resolve_scale
    from dmlrepro.models.divide_and_conquer import build_divide_and_conquer_model
    from dmlrepro.specs import load_paper_spec
    from dmlrepro.tasks.registry import _spec_path
    from dmlrepro.training.dces_parts import build_losses, build_optimizer, model_config

    spec = load_paper_spec(_spec_path("dces"))
    scale = resolve_scale({"scale": "paper", "pretrained": "none"})
    cell = family.resolve_cell(dict(spec["defaults"]), dataset, scale, "unused", "dces")
    model = build_divide_and_conquer_model(model_config(cell), load_pretrained=False).train()
    losses = build_losses(cell, 0)
    optimizer = build_optimizer(model, losses, cell["training"])
    size = cell["training"]["input"]
    shape = [size["crop"], size["crop"]] if "crop" in size else [size["height"], size["width"]]
    n = max(batch_size, 4)
    labels = torch.arange(n) // 2
    loss = losses[0](model.learner_embedding(model(torch.randn(n, 3, *shape)), 0), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "input_size": shape, "parameters": sum(p.numel() for p in model.parameters())}


def train_dces_cell(cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
    import time

    from dmlrepro.training.dces_parts import dces_parts
    from dmlrepro.training.engine import prepare_run, run_training

    started = time.time()
    device, flags = prepare_run(runtime.get("threads"), runtime.get("device_name", "auto"), seed)
    return run_training(
        cell, seed, out_dir, checkpoint_dir,
        lambda device_, fresh: dces_parts(cell, seed, device_, fresh, runtime.get("num_workers", 0),
                                          runtime.get("eval_batch_size")),
        device, flags, started, progress=runtime.get("progress", True),
        progress_file=runtime.get("progress_file"), reuse_weights=runtime.get("reuse_weights", False),
    )


@register_family
class DivideAndConquerFamily(ModelFamily):
    """Image retrieval (SOP): Tab. S1 and Figs. S1-S2 (module docstring)."""

    name = "dces"
    task = "image_retrieval"
    models = MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        if paper_cell.get(EVAL_EVERY_EPOCH):
            return f"{EVAL_EVERY_EPOCH}: the Divide and Conquer trainer evaluates once, after training"
        return dces_cell_problem(paper_cell, figure_x=True)

    def protocols(self, dataset: str) -> tuple[str, ...]:
        from dmlrepro.training.dces_parts import slice_protocols

        return tuple(slice_protocols(PAPER_DIM, PAPER_SLICES))

    def column_problem(self, column: dict) -> str | None:
        from dmlrepro.tasks.retrieval import RECALL_METRICS

        problem = self.protocol_problem(column)
        if problem:
            return problem
        metric = column["metric"]
        if metric == "corr_coeff":
            if "protocol" in column:
                return "corr_coeff is computed between the slices of the whole embedding; remove the column's protocol"
        elif metric not in RECALL_METRICS:
            return (f"metric {metric!r} is not computed by the Divide and Conquer evaluation "
                    f"({', '.join(RECALL_METRICS)}, corr_coeff)")
        for key in _REFUSED_COLUMN_KEYS:
            if key in column:
                return f"{key} cannot be honoured by the Divide and Conquer evaluation; remove it or make the table's rows reported_only"
        return None

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        return resolve_dces_cell(self, paper_cell, dataset, scale, data_root, paper)

    def cell_id(self, cell: dict) -> str:
        return dces_cell_id(cell)

    def validate_cell(self, cell: dict) -> None:
        validate_dces_cell(cell)

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        return train_dces_cell(cell, seed, out_dir, checkpoint_dir, **runtime)

    def paper_probe(self, batch_size: int = 2) -> dict:
        """ResNet-50 at 224×224 (the SOP preset), K = 8, d = 128."""
        return dces_paper_probe(self, "sop", batch_size)
