"""Start-up validation of every cell a plan contains, before any job runs.

Each distinct model is built on PyTorch's `meta` device (shapes only, no memory, no weights) and
run forward once at the cell's input size, so that every construction-time check (groups dividing
the channels, …) and every shape-time check (more landmarks than positions, a landmark grid that
does not fit the map) fires now, naming the cell, instead of hours into a cluster run.
"""

from __future__ import annotations

import json

import torch

from dmlrepro.errors import UserError
from dmlrepro.models.build import build_reid_model
from dmlrepro.training.schedule import validate_schedule


def validate_cell(cell: dict, num_classes: int = 8) -> None:
    """A re-ID cell (other tasks validate their own cells: `Task.validate_cell`)."""
    validate_schedule(cell["model"], cell["training"])
    height, width = cell["training"]["input_size"]
    with torch.device("meta"):
        model = build_reid_model(cell, num_classes, load_pretrained=False)
        model.train()
        model(torch.empty(2, 3, height, width))


def validate_plan(plan) -> None:
    """Raise a one-line ``UserError`` naming the first invalid cell and why.

    Only the checks' own errors (ValueError, of which UserError is one: groups not dividing the
    channels, more landmarks than positions, ...) are turned into that line; anything else — a
    RuntimeError from a forward pass, a KeyError — is a bug and keeps its traceback."""
    seen: set[str] = set()
    for cid, cell in plan.cells.items():
        key = json.dumps({k: v for k, v in cell.items() if k not in ("dataset", "data_root")}, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        try:
            if cell.get("task", "reid") == "reid" and "family" not in cell:  # PCB cells name no family
                validate_cell(cell)
            else:
                from dmlrepro.tasks import get_task

                get_task(cell["task"]).validate_cell(cell)
        except ValueError as exc:
            raise UserError(f"cell {cid} (scale {cell['scale']}): {str(exc).splitlines()[0]}") from None
