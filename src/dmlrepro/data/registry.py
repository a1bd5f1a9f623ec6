"""A registry of re-ID dataset loaders filled by a decorator, after timm's ``_registry.py``.

Loaders register on import of ``dmlrepro.data``; ``build_reid_dataset("market1501", root)`` then
reads one by the name that configs and paper specs use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dmlrepro.data.reid_dataset import ReIDDataset
from dmlrepro.registry import Registry

Loader = Callable[[str | Path], ReIDDataset]
LoaderT = TypeVar("LoaderT", bound=Loader)

_REGISTRY: Registry[Loader] = Registry("dataset")


def register_dataset(name: str) -> Callable[[LoaderT], LoaderT]:
    """Decorator that registers ``loader(root) -> ReIDDataset`` under ``name``."""
    return _REGISTRY.register(name)


def list_datasets() -> list[str]:
    """The registered names, sorted."""
    return _REGISTRY.names()


def get_dataset_loader(name: str) -> Loader:
    """The loader registered under ``name``; a one-line UserError listing the valid names."""
    return _REGISTRY.get(name)


def build_reid_dataset(name: str, root: str | Path) -> ReIDDataset:
    """Read the dataset registered under ``name`` from the data root ``root``."""
    return get_dataset_loader(name)(root)

