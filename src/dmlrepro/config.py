"""Run configuration: the user's config (config/config.yaml) resolved against a scale preset
(config/scales.yaml), both validated against the JSON schemas in workflow/schemas/."""

from __future__ import annotations

from dmlrepro.errors import UserError

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
SCALES_PATH = REPO_ROOT / "config" / "scales.yaml"


class ConfigError(UserError):
    """An invalid configuration value; the message names the key and the valid choices."""


def _validate(instance: Any, schema_name: str, what: str) -> None:
    schema = yaml.safe_load((SCHEMA_DIR / schema_name).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"invalid {what}: {where}: {error.message}")


def normalize_run_config(config: dict) -> dict:
    """Undo command-line typing: `--config seeds=[0,1,2]` reaches the Snakefile as strings."""
    config = dict(config)
    seeds = config.get("seeds")
    if isinstance(seeds, (int, str)):
        seeds = str(seeds).strip("[]").split(",")
    if isinstance(seeds, list):
        config["seeds"] = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in seeds]
    return config


def validate_run_config(config: dict) -> None:
    """Check the user's run configuration; raise ConfigError naming the bad key."""
    _validate(config, "config.schema.yaml", "config")


def load_scales(path: Path = SCALES_PATH) -> dict[str, dict]:
    scales = yaml.safe_load(path.read_text())
    _validate(scales, "scales.schema.yaml", f"scale presets in {path}")
    return scales


def resolve_scale(config: dict, scales: dict[str, dict] | None = None) -> dict:
    """The preset named by `config['scale']`, with the config's overrides applied."""
    scales = scales if scales is not None else load_scales()
    name = config.get("scale")
    if name not in scales:
        raise ConfigError(f"invalid config: scale: unknown scale {name!r}; choose one of {sorted(scales)}")
    preset = copy.deepcopy(scales[name])
    preset["name"] = name
    # Each paper's training preset (dmlrepro.presets) applies the run's `pretrained` override.
    preset["pretrained_override"] = config.get("pretrained", "auto")
    return preset
