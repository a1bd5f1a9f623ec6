"""Whether a trained cell ran the experiment the paper reports, decided from what the run recorded
(`metrics.json`: the resolved `cell` and the `provenance`), never from the scale's name.

A cell is comparable with the paper when it trained on real data in the paper's setting: the
setting of CSALR Sec. 4.2 (000_6bea8c3e96cdf0f5.txt), which CSA states too (001_5fbd5da13318fd56.txt,
Implementation Details), is the `paper` preset of config/presets/csalr.yaml (and csa.yaml, equal);
each paper's own presets give its setting.  Every way a run departs from
it is a deviation, named in words ("16 epochs (paper 100)"); the verdict lists them all.
`setting_deviations` takes the paper's setting as a dict, so that a per-paper preset can replace
the shared one without touching this module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Training keys in the order a reader weighs them; keys not named here follow in the run's order.
_ORDER = ("input_size", "epochs", "backbone", "batch_size", "optimizer", "lr_schedule", "grad_clip_norm",
          "backbone_lr_mult", "attention_lr_mult", "pcb_rpp", "random_erasing", "parts", "reduced_dim")
#: Keys that only some models read (the PCB-RPP phases: schedule.phase_of); others ignore them.
_MODEL_ONLY = {"pcb_rpp": ("pcb_rpp",)}
#: Preset keys that do not change what a run computes (evaluation batching, workers): never deviations.
_NOT_COMPUTING = frozenset({"eval_batch_size", "num_workers", "description"})
_PRETRAINED = {"none": "from scratch", "imagenet": "ImageNet", None: "from scratch"}
SYNTHETIC_DATA = "synthetic data"


def paper_setting(paper: str | None = None, task: str | None = None) -> dict:
    """The setting the paper's accuracy numbers were obtained in: the `paper` preset of the
    paper's own training presets (config/presets/<paper>[.<task>].yaml, dmlrepro.presets; CSALR's
    when no paper is named)."""
    import yaml

    from dmlrepro.errors import UserError
    from dmlrepro.presets import preset_path

    own = preset_path(paper or "csalr", task)
    if not own.is_file():
        raise UserError(f"{own}: paper {paper!r} has no training presets; add config/presets/{paper}.yaml "
                        "with its `paper` setting (see config/presets/csalr.yaml)")
    return yaml.safe_load(own.read_text())["paper"]


def _size(value) -> str:
    return "x".join(str(v) for v in value)


def _pretrained(value) -> str:
    return _PRETRAINED.get(value, str(value))


def _differs(run, paper) -> bool:
    if isinstance(run, (list, tuple)) and isinstance(paper, (list, tuple)):
        return list(run) != list(paper)
    return run != paper


def _describe(key: str, run, paper) -> list[str]:
    """Words for one differing key; mappings are compared key by key."""
    if isinstance(run, dict) and isinstance(paper, dict):
        if key == "backbone":
            words = {"pretrained": lambda r, p: f"backbone {_pretrained(r)} (paper {_pretrained(p)})",
                     "blocks": lambda r, p: f"backbone blocks {list(r)} (paper {list(p)})",
                     "width": lambda r, p: f"backbone width {r} (paper {p})"}
        elif key == "optimizer":
            words = {sub: (lambda name: lambda r, p: f"{name} {r} (paper {p})")(sub.replace("_", " "))
                     for sub in set(run) | set(paper)}
        elif key == "lr_schedule":
            words = {sub: (lambda name: lambda r, p: f"lr schedule {name} {r} (paper {p})")(sub)
                     for sub in set(run) | set(paper)}
        elif key == "pcb_rpp":
            words = {"pcb_epochs": lambda r, p: f"{r} PCB epochs before RPP (paper {p})",
                     "rpp_classifier_epochs": lambda r, p: f"{r} RPP classifier-only epochs (paper {p})"}
        else:
            words = {}
        out = []
        for sub in sorted(set(run) | set(paper), key=lambda s: (s != "pretrained", s)):
            r, p = run.get(sub), paper.get(sub)
            if isinstance(r, dict) or isinstance(p, dict):
                out += _describe(f"{key}.{sub}", r or {}, p or {})
            elif _differs(r, p):
                out.append(words.get(sub, lambda r, p: f"{key}.{sub} {r} (paper {p})")(r, p))
        return out
    if not _differs(run, paper):
        return []
    if key == "input_size":
        return [f"input {_size(run)} (paper {_size(paper)})"]
    if key == "epochs":
        return [f"{run} epochs (paper {paper})"]
    if key == "batch_size":
        return [f"batch {run} (paper {paper})"]
    if key == "grad_clip_norm":
        return [f"gradient clipping at {run} (paper {'none' if paper is None else paper})" if run is not None
                else f"no gradient clipping (paper {paper})"]
    if key.endswith("_lr_mult"):
        return [f"{key[: -len('_lr_mult')]} lr x{run} (paper x{paper})"]
    if key == "random_erasing":
        return [f"random erasing {run} (paper {'off' if paper is None else paper})" if run is not None
                else f"no random erasing (paper {paper})"]
    if key == "parts":
        return [f"{run} parts (paper {paper})"]
    if key == "reduced_dim":
        return [f"reduced dim {run} (paper {paper})"]
    return [f"{key} {_text(run)} (paper {_text(paper)})"]


def _text(value) -> str:
    return "none" if value is None else str(value)


def setting_deviations(training: dict, paper: dict, model: str | None = None) -> list[str]:
    """Every way a run's training settings (`cell["training"]`) differ from the paper's setting.

    Compared: the keys the run recorded and the keys that change what a run computes
    (cells.TRAINING_KEYS) that the paper's setting holds; a key the run did not record counts as
    unset (code that predates an option ran without it).  The preset's other keys (worker counts,
    a description, the evaluation batch) are not compared; keys only some models read are skipped
    for the others, and of a per-model setting only the cell's model's entry is compared."""
    from dmlrepro.cells import TRAINING_KEYS

    known = list(training) + [k for k in TRAINING_KEYS if k not in training]
    keys = [k for k in _ORDER if k in known] + [k for k in known if k not in _ORDER]
    if isinstance(model, dict):
        model = model.get("name")
    out: list[str] = []
    for key in keys:
        if key not in paper or key in _NOT_COMPUTING or (key in _MODEL_ONLY and model not in _MODEL_ONLY[key]):
            continue
        run, ours = training.get(key), paper[key]
        if model is not None and isinstance(run, dict) and isinstance(ours, dict) and model in run and model in ours:
            # a per-model setting ({hardnet: 1024, ralnet: 512}): only this cell's model's entry counts
            run, ours = run[model], ours[model]
        out += _describe(key, run, ours)
    return out


def _dataset_dirs(root: Path, dataset: str | None) -> list[Path]:
    """The folders of `root` where the dataset's split folders may be (its layout's subdirs)."""
    from dmlrepro.data.synthetic import VARIANTS

    if dataset in VARIANTS:
        return [root / sub for sub in VARIANTS[dataset].layout.subdirs]
    return [root] + ([p for p in root.iterdir() if p.is_dir()] if root.is_dir() else [])


def is_synthetic(data_root: str | os.PathLike | None, dataset: str | None = None) -> bool:
    """Whether `data_root` holds generated data: the embedded root (plan.SYNTHETIC_ROOT or a
    scale's data/synthetic-<scale>, also when unset), or a dataset folder that dmlrepro.data.synthetic wrote (its owner file, or a
    DATASET_COMPLETE marker naming the generator), or the workflow's `.<dataset>.complete` mark."""
    from dmlrepro.data.synthetic import MARKER_NAME, OWNER_NAME
    from dmlrepro.plan import SYNTHETIC_ROOT

    if data_root in (None, ""):
        return True
    root = Path(data_root)
    if os.path.normpath(root) == os.path.normpath(SYNTHETIC_ROOT) or (
            os.path.normpath(root.parent) == os.path.normpath(Path(SYNTHETIC_ROOT).parent)
            and root.name.startswith(Path(SYNTHETIC_ROOT).name + "-")):
        return True
    try:
        if root.resolve() == Path(SYNTHETIC_ROOT).resolve():
            return True
    except OSError:
        pass
    if dataset and (root / f".{dataset}.complete").exists():
        return True
    for folder in _dataset_dirs(root, dataset):
        if (folder / OWNER_NAME).is_file():
            return True
        try:
            marker = json.loads((folder / MARKER_NAME).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(marker, dict) and marker.get("generator") == "dmlrepro.data.synthetic":
            return True
    return False


def describe_data(cell: dict) -> str:
    """What the data was, for the caption: "synthetic (data/synthetic)" or the dataset's path."""
    root = cell.get("data_root") or "data/synthetic"
    if is_synthetic(cell.get("data_root"), cell.get("dataset")):
        return f"synthetic ({root})"
    return f"{cell.get('dataset')} from {root}"


def run_deviations(cell: dict | None, provenance: dict, paper: dict) -> list[str]:
    """Every deviation of one recorded run from the paper: the data, the training settings, and
    weights reused from a run by other code (provenance `reused_weights.same_code` false)."""
    if not isinstance(cell, dict):
        return ["run settings not recorded in metrics.json"]
    out = []
    if is_synthetic(cell.get("data_root"), cell.get("dataset")):
        out.append(SYNTHETIC_DATA)
    out += setting_deviations(cell.get("training") or {}, paper, cell.get("model"))
    reused = provenance.get("reused_weights")
    if isinstance(reused, dict) and reused.get("same_code") is False:
        version = reused.get("code_version") or reused.get("commit") or "unknown"
        out.append(f"weights trained by other code version {version}")
    return out
