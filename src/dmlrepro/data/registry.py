"""A registry of re-ID dataset loaders filled by a decorator, after timm's ``_registry.py``.

Loaders register on import of ``dmlrepro.data``; ``build_reid_dataset("market1501", root)`` then
reads one by the name that configs and paper specs use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dmlrepro.data.reid_dataset import ReIDDataset
from dmlrepro.errors import UserError

Loader = Callable[[str | Path], ReIDDataset]
LoaderT = TypeVar("LoaderT", bound=Loader)

_REGISTRY: dict[str, Loader] = {}


def register_dataset(name: str) -> Callable[[LoaderT], LoaderT]:
    """Decorator that registers ``loader(root) -> ReIDDataset`` under ``name``."""

    def decorator(loader: LoaderT) -> LoaderT:
        previous = _REGISTRY.get(name)
        # Re-importing the same function (e.g. importlib.reload) is harmless; a second one is not.
        if previous is not None and _qualified(previous) != _qualified(loader):
            raise ValueError(f"dataset {name!r} is already registered by {_qualified(previous)}")
        _REGISTRY[name] = loader
        return loader

    return decorator


def list_datasets() -> list[str]:
    """The registered names, sorted."""
    return sorted(_REGISTRY)


def get_dataset_loader(name: str) -> Loader:
    """The loader registered under ``name``; ``UserError`` listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        valid = ", ".join(list_datasets()) or "(none registered)"
        raise UserError(f"unknown dataset {name!r}; valid names: {valid}") from None


def build_reid_dataset(name: str, root: str | Path) -> ReIDDataset:
    """Read the dataset registered under ``name`` from the data root ``root``."""
    return get_dataset_loader(name)(root)


def _qualified(obj: Callable) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"
