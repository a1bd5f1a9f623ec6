"""Re-ID data: the (img_path, pid, camid) contract, loaders for the three datasets of the CSALR
paper (000_6bea8c3e96cdf0f5.txt, Sec. 4.1), images and transforms, and the embedded synthetic
stand-in (``dmlrepro.data.synthetic``)."""

from __future__ import annotations

from typing import Any

# Importing the loader modules registers them.
from dmlrepro.data import cuhk03np, dukemtmc, market1501  # noqa: F401
from dmlrepro.data.image_dataset import CorruptImageError, ImageDataset, read_image
from dmlrepro.data.registry import build_reid_dataset, get_dataset_loader, list_datasets, register_dataset
from dmlrepro.data.reid_dataset import DatasetLayout, DatasetLayoutError, Item, ReIDDataset, load_reid_dataset
from dmlrepro.data.transforms import build_transforms

__all__ = [
    "CorruptImageError",
    "DatasetLayout",
    "DatasetLayoutError",
    "ImageDataset",
    "Item",
    "ReIDDataset",
    "build_reid_dataset",
    "build_transforms",
    "generate_reid_dataset",
    "get_dataset_loader",
    "list_datasets",
    "load_reid_dataset",
    "read_image",
    "register_dataset",
]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m dmlrepro.data.synthetic` does not find the module
    # already imported by its own package (runpy warns about that).
    if name == "generate_reid_dataset":
        from dmlrepro.data.synthetic import generate_reid_dataset

        return generate_reid_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
