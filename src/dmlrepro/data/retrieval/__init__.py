"""Class-split image-retrieval data for Multi-Head DML (003_72cd4b33cee60b89.txt, Sec. 4.1):
the ``(img_path, label)`` contract, loaders for CUB-200-2011, Cars-196, Stanford Online Products
and In-Shop in the layouts the field's code reads, the validation hold-out, and the embedded
synthetic stand-in (``dmlrepro.data.retrieval.synthetic_retrieval``)."""

from __future__ import annotations

from typing import Any

# Importing the loader modules registers them.
from dmlrepro.data.retrieval import cars196, cub200, inshop, sop  # noqa: F401
from dmlrepro.data.retrieval.holdout import HOLDOUT_READINGS, apply_holdout
from dmlrepro.data.retrieval.registry import (
    build_retrieval_dataset,
    get_retrieval_loader,
    list_retrieval_datasets,
    register_retrieval_dataset,
)
from dmlrepro.data.retrieval.retrieval_dataset import (
    Item,
    NoPositive,
    RetrievalDataset,
    RetrievalLayout,
    RetrievalLayoutError,
    classes_without_positive,
)
from dmlrepro.data.retrieval.retrieval_image_dataset import RetrievalImageDataset

__all__ = [
    "HOLDOUT_READINGS",
    "Item",
    "NoPositive",
    "RetrievalDataset",
    "RetrievalImageDataset",
    "RetrievalLayout",
    "RetrievalLayoutError",
    "apply_holdout",
    "build_retrieval_dataset",
    "classes_without_positive",
    "generate_retrieval_dataset",
    "get_retrieval_loader",
    "list_retrieval_datasets",
    "register_retrieval_dataset",
]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m dmlrepro.data.retrieval.synthetic_retrieval` does not
    # find the module already imported by its own package (runpy warns about that).
    if name == "generate_retrieval_dataset":
        from dmlrepro.data.retrieval.synthetic_retrieval import generate_retrieval_dataset

        return generate_retrieval_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
