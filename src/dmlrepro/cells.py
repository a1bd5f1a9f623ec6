"""A cell is one trained-and-evaluated configuration: a paper-spec row's cell over the paper's
defaults, on one dataset, at one scale.  Its id is a readable slug plus a hash of the resolved
configuration, so a cell that several tables need (PCB + CSALR, 96 samples, 2 groups, stages 1–3
appears in CSALR Tables 1–4) is one id, hence one Snakemake job.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Hyper-parameters each attention module reads from a cell; others are dropped so that, e.g.,
#: PCB without attention is one cell whatever `samples` the paper's defaults carry.
ATTENTION_PARAMS: dict[str, tuple[str, ...]] = {
    "none": (),
    "sa": (),
    "csa": ("bases", "groups"),
    "csalr": ("samples", "groups"),
}

#: Models the re-ID trainer can train (other rows stay reported-only until their trainer exists).
REID_MODELS = ("pcb", "pcb_rpp")

#: Scale-preset keys that change what a run computes (the rest, like worker counts, do not).
TRAINING_KEYS = (
    "input_size", "backbone", "batch_size", "epochs", "optimizer", "lr_schedule", "grad_clip_norm",
    "backbone_lr_mult", "attention_lr_mult", "pcb_rpp", "parts", "reduced_dim",
)

#: The input size at which the papers state landmark counts (CSALR Sec. 4.2: 384×128).
PAPER_INPUT_SIZE = (384, 128)


def resolve_reid_cell(paper_cell: dict, dataset: str, scale: dict, data_root: str) -> dict:
    """The full configuration of one re-ID training cell."""
    attention = paper_cell.get("attention", "none")
    if attention not in ATTENTION_PARAMS:
        raise ValueError(f"attention: unknown module {attention!r}; choose one of {sorted(ATTENTION_PARAMS)}")
    with_attention = attention != "none"
    cell: dict[str, Any] = {
        "task": "reid",
        "dataset": dataset,
        "data_root": str(data_root),
        "model": paper_cell.get("model", "pcb"),
        "attention": attention,
        "attention_params": {k: paper_cell[k] for k in ATTENTION_PARAMS[attention] if k in paper_cell},
        "stages": sorted(paper_cell.get("stages", [])) if with_attention else [],
        "deep_supervision": bool(paper_cell.get("deep_supervision", True)) and with_attention,
        "ds_lambda": float(paper_cell.get("ds_lambda", 1.0)) if with_attention else 0.0,
        "scale": scale["name"],
        "training": {k: scale[k] for k in TRAINING_KEYS},
    }
    if with_attention and not cell["stages"]:
        raise ValueError("stages: an attention cell needs at least one stage (1, 2 or 3)")
    return cell


def cell_hash(cell: dict) -> str:
    blob = json.dumps(cell, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:8]


def cell_id(cell: dict) -> str:
    """Readable and stable: `market1501-pcb-csalr-m96g2-st123-1a2b3c4d`."""
    parts = [cell["dataset"], cell["model"].replace("_", ""), cell["attention"]]
    params = cell["attention_params"]
    short = {"samples": "m", "groups": "g", "bases": "d"}
    if params:
        parts.append("".join(f"{short.get(k, k)}{v}" for k, v in sorted(params.items())))
    if cell["stages"]:
        parts.append("st" + "".join(str(s) for s in cell["stages"]))
    if cell["attention"] != "none" and not cell["deep_supervision"]:
        parts.append("nods")
    return "-".join(parts + [cell_hash(cell)])


def landmarks_at_input(samples: int, input_size: tuple[int, int]) -> int:
    """Landmarks per group at `input_size` for a paper count stated at 384×128.

    Interpretation: the CSALR paper fixes the number of sampled points (24–192) for 384×128 inputs.
    At another input size we keep the paper's compression ratio (positions per landmark) at every
    stage by scaling the count with the input area; at 384×128 this is the identity.
    """
    ratio = (input_size[0] * input_size[1]) / (PAPER_INPUT_SIZE[0] * PAPER_INPUT_SIZE[1])
    return max(1, round(samples * ratio))
