"""Loaders and embedded synthetic stand-ins for the datasets AiA-Net adds to the re-ID ones of
``dmlrepro.data`` (002_e585b7ac4801a221.txt, Sec. 5.1 and 5.5): MSMT17, CUHK01, CUHK03 under the
vanilla protocol, and the MARS video benchmark, each in torchreid's layout.

Importing this package registers the loaders in its own registry (``list_extra_datasets()`` →
``["cuhk01", "cuhk03_classic", "mars", "msmt17"]``); the generators are in
``dmlrepro.data.reid_extra.synthetic_extra``.
"""

from __future__ import annotations

from typing import Any

# Importing the loader modules registers them.
from dmlrepro.data.reid_extra import cuhk01, cuhk03_classic, mars, msmt17  # noqa: F401
from dmlrepro.data.reid_extra.common import ExtraLayout, ExtraLayoutError, Tracklet, VideoReIDDataset
from dmlrepro.data.reid_extra.registry import (
    build_extra_dataset,
    extra_dataset_options,
    get_extra_loader,
    list_extra_datasets,
    register_extra_dataset,
)

__all__ = [
    "ExtraLayout",
    "ExtraLayoutError",
    "Tracklet",
    "VideoReIDDataset",
    "build_extra_dataset",
    "extra_dataset_options",
    "generate_extra_dataset",
    "get_extra_loader",
    "list_extra_datasets",
    "register_extra_dataset",
]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m dmlrepro.data.reid_extra.synthetic_extra` does not find
    # the module already imported by its own package (runpy warns about that).
    if name == "generate_extra_dataset":
        from dmlrepro.data.reid_extra.synthetic_extra import generate_extra_dataset

        return generate_extra_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
