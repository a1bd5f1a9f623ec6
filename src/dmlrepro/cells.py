"""A cell is one trained-and-evaluated configuration: a paper-spec row's cell over the paper's
defaults, on one dataset, at one scale.  Its id is a readable slug plus a hash of the resolved
configuration, so a cell that several tables need (PCB + CSALR, 96 samples, 2 groups, stages 1–3
appears in CSALR Tables 1–4) is one id, hence one Snakemake job.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dmlrepro.errors import UserError

#: ``group_mode`` of the multi-head modules: ``partition`` (the default) is both papers' reading —
#: the feature map's channels are partitioned into G groups and the module is applied to each
#: group independently (000_6bea8c3e96cdf0f5.txt Sec. 3.2; 001_5fbd5da13318fd56.txt after Eq. 7);
#: ``split_heads`` is the public code's — full-width Q/K/V projections split into G heads.
GROUP_MODES = ("partition", "split_heads")

#: ``ds_branch`` of the attention framework: what the deep-supervision branch pools.
#: ``input_times_response`` (the default) is CSALR's GAP(x ⊙ y) (000 Sec. 3.3); ``response`` is
#: CSA's GAP(y) (001 Eq. 8), y being the module's output before the residual.
DS_BRANCHES = ("input_times_response", "response")

#: Hyper-parameters each attention module reads from a cell; others are dropped so that, e.g.,
#: PCB without attention is one cell whatever `samples` the paper's defaults carry.
ATTENTION_PARAMS: dict[str, tuple[str, ...]] = {
    "none": (),
    "sa": (),
    "csa": ("bases", "groups", "group_mode"),
    "csalr": ("samples", "groups", "group_mode"),
}

#: Values an attention cell gets when its paper cell does not say.
ATTENTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "csa": {"group_mode": GROUP_MODES[0]},
    "csalr": {"group_mode": GROUP_MODES[0]},
}

#: Cell-id parts for hyper-parameters: a letter before the value, or a word for a non-default
#: choice (a default choice adds nothing, so the ids of the papers' own cells stay short).
_PARAM_LETTERS = {"samples": "m", "groups": "g", "bases": "d"}
_CHOICE_WORDS = {("group_mode", "split_heads"): "heads", ("ds_branch", "response"): "dsresp"}

#: Models the re-ID trainer can train (other rows stay reported-only until their trainer exists).
REID_MODELS = ("pcb", "pcb_rpp")

#: Training-preset keys of a re-ID cell (config/presets/<paper>.yaml): all change what a run computes.
TRAINING_KEYS = (
    "input_size", "backbone", "batch_size", "epochs", "optimizer", "lr_schedule", "grad_clip_norm",
    "backbone_lr_mult", "attention_lr_mult", "pcb_rpp", "parts", "reduced_dim", "random_erasing",
)

#: The input size at which the papers state landmark counts (CSALR Sec. 4.2: 384×128).
PAPER_INPUT_SIZE = (384, 128)


def resolve_reid_cell(paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str = "csalr") -> dict:
    """The full configuration of one re-ID training cell: the row's model and attention, and the
    `paper`'s training preset for the scale (config/presets/<paper>.yaml; the paper's name is not
    part of the cell, so papers with the same setting share their cells).  `paper` defaults to
    CSALR, whose schedule the CSA paper shares."""
    attention = paper_cell.get("attention", "none")
    if attention not in ATTENTION_PARAMS:
        raise UserError(f"attention: unknown module {attention!r}; choose one of {sorted(ATTENTION_PARAMS)}")
    with_attention = attention != "none"
    params = {**ATTENTION_DEFAULTS.get(attention, {}),
              **{k: paper_cell[k] for k in ATTENTION_PARAMS[attention] if k in paper_cell}}
    if "group_mode" in params:
        require_choice("group_mode", params["group_mode"], GROUP_MODES)
    cell: dict[str, Any] = {
        "task": "reid",
        "dataset": dataset,
        "data_root": str(data_root),
        "model": paper_cell.get("model", "pcb"),
        "attention": attention,
        "attention_params": params,
        "stages": sorted(paper_cell.get("stages", [])) if with_attention else [],
        "deep_supervision": bool(paper_cell.get("deep_supervision", True)) and with_attention,
        "ds_lambda": float(paper_cell.get("ds_lambda", 1.0)) if with_attention else 0.0,
        "scale": scale["name"],
        "training": reid_training(paper, scale),
    }
    if cell["model"] != "pcb_rpp":
        # Only PCB-RPP reads its phases (training/schedule.py): a PCB cell does not carry them, so
        # changing the RPP schedule leaves every PCB cell (and its id) as it was.
        del cell["training"]["pcb_rpp"]
    if cell["deep_supervision"]:  # without branches the choice changes nothing, so it is not kept
        cell["ds_branch"] = paper_cell.get("ds_branch", DS_BRANCHES[0])
        require_choice("ds_branch", cell["ds_branch"], DS_BRANCHES)
    if with_attention and not cell["stages"]:
        raise UserError("stages: an attention cell needs at least one stage (1, 2 or 3)")
    return cell


def reid_training(paper: str, scale: dict) -> dict:
    """The `paper`'s PCB schedule at the scale (dmlrepro.presets), its TRAINING_KEYS only."""
    from dmlrepro.presets import training_preset

    preset = training_preset(paper, scale, "reid_preset.schema.yaml", task="reid")
    return {k: preset[k] for k in TRAINING_KEYS}


def require_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ``UserError`` naming ``key`` and its valid values unless ``value`` is one of them."""
    if value not in choices:
        raise UserError(f"{key}: {value!r} is not one of {', '.join(choices)}; set {key} to one of them")


def cell_hash(cell: dict) -> str:
    blob = json.dumps(cell, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()[:8]


def cell_id(cell: dict) -> str:
    """Readable and stable: `market1501-pcb-csalr-g2m96-st123-1a2b3c4d`; a non-default choice adds
    a word (`...-csa-d32g2-heads-st123-dsresp-...` for split heads and CSA's branch)."""
    parts = [cell["dataset"], cell["model"].replace("_", ""), cell["attention"]]
    params = cell["attention_params"]
    numbers = {k: v for k, v in params.items() if k != "group_mode"}
    if numbers:
        parts.append("".join(f"{_PARAM_LETTERS.get(k, k)}{v}" for k, v in sorted(numbers.items())))
    if ("group_mode", params.get("group_mode")) in _CHOICE_WORDS:
        parts.append(_CHOICE_WORDS[("group_mode", params["group_mode"])])
    if cell["stages"]:
        parts.append("st" + "".join(str(s) for s in cell["stages"]))
    if cell["attention"] != "none" and not cell["deep_supervision"]:
        parts.append("nods")
    if ("ds_branch", cell.get("ds_branch")) in _CHOICE_WORDS:
        parts.append(_CHOICE_WORDS[("ds_branch", cell["ds_branch"])])
    return "-".join(parts + [cell_hash(cell)])


def landmarks_at_input(samples: int, input_size: tuple[int, int]) -> int:
    """Landmarks per group at `input_size` for a paper count stated at 384×128.

    Interpretation: the CSALR paper fixes the number of sampled points (24–192) for 384×128 inputs.
    At another input size we keep the paper's compression ratio (positions per landmark) at every
    stage by scaling the count with the input area; at 384×128 this is the identity.
    """
    ratio = (input_size[0] * input_size[1]) / (PAPER_INPUT_SIZE[0] * PAPER_INPUT_SIZE[1])
    return max(1, round(samples * ratio))
