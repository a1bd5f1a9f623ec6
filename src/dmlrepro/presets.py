"""Training presets per paper and scale (config/presets/<paper>.yaml, or <paper>.<task>.yaml for a
paper with several tasks): the paper's own schedule at `paper`, a small one at `smoke` and
`tiny`, each validated against its family's schema (workflow/schemas/*_preset.schema.yaml).  One
scale name thus means each paper's own setting; config/scales.yaml says only what a scale means
for the run as a whole (workers, threads, synthetic data sizes)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

from dmlrepro.config import REPO_ROOT, SCHEMA_DIR
from dmlrepro.errors import UserError

PRESET_DIR = REPO_ROOT / "config" / "presets"


@functools.lru_cache(maxsize=None)
def _load(path: Path, schema_name: str) -> dict:
    try:
        presets = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"training presets {path}: cannot read ({exc.strerror or exc}); "
                        "every paper of this task needs its config/presets/<paper>.yaml") from None
    schema = yaml.safe_load((SCHEMA_DIR / schema_name).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(presets), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        raise UserError(f"invalid training presets {path}: {where}: {errors[0].message}")
    return presets


def preset_path(paper: str, task: str | None = None, preset_dir: Path | None = None) -> Path:
    """config/presets/<paper>.<task>.yaml for a paper with several tasks (CSA's patch
    descriptors beside its re-ID tables), else config/presets/<paper>.yaml."""
    preset_dir = PRESET_DIR if preset_dir is None else preset_dir
    if task is not None:
        own = Path(preset_dir) / f"{paper}.{task}.yaml"
        if own.is_file():
            return own
    return Path(preset_dir) / f"{paper}.yaml"


def training_preset(paper: str, scale: dict, schema_name: str, preset_dir: Path | None = None,
                    task: str | None = None) -> dict:
    """The `paper`'s preset (for `task`, see `preset_path`) for the scale named `scale["name"]`,
    with the run's `pretrained` override (config `pretrained`) applied."""
    path = preset_path(paper, task, preset_dir)
    presets = _load(path, schema_name)
    name = scale["name"]
    if name not in presets:
        raise UserError(f"{path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path} has no preset for scale {name!r} (it has {', '.join(presets)}); "
                        f"add one or choose another scale")
    preset = copy.deepcopy(presets[name])
    override = scale.get("pretrained_override")
    if override not in (None, "auto"):
        preset["backbone"]["pretrained"] = override
    return preset
