"""A registry of the loaders of AiA-Net's additional datasets (002_e585b7ac4801a221.txt, Sec. 5.1,
5.5), after timm's ``_registry.py`` and ``dmlrepro.data.registry``.

Kept apart from ``dmlrepro.data.registry`` because its contract differs: these loaders take
options (``split_id``, ``boxes``, ...) besides the root, and MARS yields tracklets
(:class:`~dmlrepro.data.reid_extra.common.VideoReIDDataset`). Loaders register on import of
``dmlrepro.data.reid_extra``; ``build_extra_dataset("cuhk03_classic", root, boxes="labeled",
split_id=3)`` then reads one by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dmlrepro.errors import UserError
from dmlrepro.registry import Registry

Loader = Callable[..., Any]
LoaderT = TypeVar("LoaderT", bound=Loader)

_REGISTRY: Registry[Loader] = Registry("dataset")


def register_extra_dataset(name: str) -> Callable[[LoaderT], LoaderT]:
    """Decorator that registers ``loader(root, **options)`` under ``name``."""
    return _REGISTRY.register(name)


def list_extra_datasets() -> list[str]:
    """The registered names, sorted."""
    return _REGISTRY.names()


def get_extra_loader(name: str) -> Loader:
    """The loader registered under ``name``; a one-line UserError listing the valid names."""
    return _REGISTRY.get(name)


def extra_dataset_options(name: str) -> list[str]:
    """The keyword options the loader registered under ``name`` accepts besides ``root``."""
    parameters = inspect.signature(get_extra_loader(name)).parameters
    return [p for p in parameters if p != "root"]


def build_extra_dataset(name: str, root: str | Path, **options: Any) -> Any:
    """Read the dataset registered under ``name`` from the data root ``root``; an unknown option
    is a one-line UserError naming the valid ones."""
    valid = extra_dataset_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid: "
                        f"{', '.join(valid) or '(none)'}")
    return get_extra_loader(name)(root, **options)
