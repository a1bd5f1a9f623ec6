"""A registry of per-model resource measurers filled by a decorator, after timm's ``_registry.py``.

A measurer turns one resource-table row (its resolved paper cell) into ``{"metrics", "setup",
"cell"[, "metrics_by_scope"]}`` using the generic ``dmlrepro.resources.core``.  Measurers live in
``dmlrepro.resources.measurers``, one file per model family, and register on import of that
package; this module imports none of them, so nothing here can form an import cycle.

    @register_measurer("pcb", "pcb_rpp", metrics=..., check_cell=...)
    def measure_pcb(resource_cell, device, *, memory_batches, infer_batch, iterations, wanted): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dmlrepro.errors import UserError

if TYPE_CHECKING:
    import torch

MeasureFunction = Callable[..., dict]
#: (resolved paper cell, the keys the row's own `cell` sets) → the first key the measurer cannot
#: honour, as one line, or None.
CellCheck = Callable[[dict, dict], "str | None"]


@dataclass(frozen=True)
class Measurer:
    name: str
    function: MeasureFunction
    #: the resource metrics it measures (a column asking for another is rejected by the plan)
    metrics: frozenset[str]
    #: the scopes it reports them in (``network``; AiA-Net also ``attention_module``)
    scopes: frozenset[str]
    check_cell: CellCheck | None = None

    def __call__(self, resource_cell: dict, device: torch.device, **kwargs: Any) -> dict:
        return self.function(resource_cell, device, **kwargs)


_REGISTRY: dict[str, Measurer] = {}


def register_measurer(*names: str, metrics: Iterable[str], scopes: Iterable[str] = ("network",),
                      check_cell: CellCheck | None = None) -> Callable[[MeasureFunction], MeasureFunction]:
    """Function decorator that registers a measurer under each model name in ``names``."""
    if not names:
        raise TypeError("register_measurer needs at least one model name")

    def decorator(function: MeasureFunction) -> MeasureFunction:
        for name in names:
            previous = _REGISTRY.get(name)
            # Re-importing the same function (importlib.reload) is harmless; a second one is not.
            if previous is not None and _qualified(previous.function) != _qualified(function):
                raise ValueError(f"measurer {name!r} is already registered by {_qualified(previous.function)}")
            _REGISTRY[name] = Measurer(name, function, frozenset(metrics), frozenset(scopes), check_cell)
        return function

    return decorator


def list_measurers() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def has_measurer(model: str) -> bool:
    return model in _REGISTRY


def get_measurer(model: str) -> Measurer:
    """The measurer registered for ``model``; a one-line ``UserError`` listing the valid names."""
    try:
        return _REGISTRY[model]
    except KeyError:
        valid = ", ".join(list_measurers()) or "none (import dmlrepro.resources.measurers to register them)"
        raise UserError(f"model: no resource measurer for {model!r}; registered: {valid}") from None


def measure(resource_cell: dict, device: torch.device, *, memory_batches: tuple[int, int], infer_batch: int,
            iterations: int, wanted: set[str] | None = None) -> dict:
    """Measure one resource row with its model's measurer.  ``wanted`` names the metrics the tables
    need; a measurer may skip the costly ones (training-step memory, timing) when only parameters
    or MACs are wanted."""
    measurer = get_measurer(resource_cell.get("model", "pcb"))
    return measurer(resource_cell, device, memory_batches=memory_batches, infer_batch=infer_batch,
                    iterations=iterations, wanted=wanted)


def _qualified(obj: Callable) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"
