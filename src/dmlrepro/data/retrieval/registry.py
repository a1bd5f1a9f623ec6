"""A registry of class-split retrieval dataset loaders filled by a decorator, after timm's
``_registry.py`` and ``dmlrepro.data.registry`` (which holds the re-ID loaders; the two are kept
apart because their data contracts differ).

Loaders register on import of ``dmlrepro.data.retrieval``; ``build_retrieval_dataset("cub200",
root)`` then reads one by the name that configs and paper specs use, optionally with the
validation hold-out of 003_72cd4b33cee60b89.txt, Sec. 4.1 (see ``holdout.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dmlrepro.data.retrieval.retrieval_dataset import RetrievalDataset
from dmlrepro.registry import Registry

Loader = Callable[[str | Path], RetrievalDataset]
LoaderT = TypeVar("LoaderT", bound=Loader)

_REGISTRY: Registry[Loader] = Registry("retrieval dataset")


def register_retrieval_dataset(name: str) -> Callable[[LoaderT], LoaderT]:
    """Decorator that registers ``loader(root) -> RetrievalDataset`` under ``name``."""
    return _REGISTRY.register(name)


def list_retrieval_datasets() -> list[str]:
    """The registered names, sorted."""
    return _REGISTRY.names()


def get_retrieval_loader(name: str) -> Loader:
    """The loader registered under ``name``; a one-line UserError listing the valid names."""
    return _REGISTRY.get(name)


def build_retrieval_dataset(name: str, root: str | Path, holdout: float | None = None,
                            holdout_by: str = "classes", holdout_seed: int = 0) -> RetrievalDataset:
    """Read the dataset registered under ``name`` from the data root ``root`` (the folder holding
    the dataset folder, or the dataset folder itself). With ``holdout`` (e.g. 0.2) the training
    set is split into training and validation as ``holdout.apply_holdout`` describes (by
    ``holdout_by``, drawn with ``holdout_seed``), and the validation part takes the place of the
    test set."""
    dataset = get_retrieval_loader(name)(root)
    if holdout is None:
        return dataset
    from dmlrepro.data.retrieval.holdout import apply_holdout

    return apply_holdout(dataset, holdout, by=holdout_by, seed=holdout_seed)
