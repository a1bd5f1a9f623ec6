"""Local-descriptor data for the CSA paper's Tables 7–8 (001_5fbd5da13318fd56.txt, "Local
Descriptor Learning"): Brown in torchvision's PhotoTour layout, HPatches in its release layout with
the benchmark's task lists, HardNet's training pairs and flip/rotation augmentation, and the
embedded synthetic stand-in for both (``dmlrepro.data.patches.synthetic_patches``)."""

from __future__ import annotations

from typing import Any

from dmlrepro.data.patches.hpatches import (
    HPATCHES_SPLITS,
    TABLE8_SPLIT,
    HPatchesLayoutError,
    HPatchesRelease,
    TaskSizes,
    generate_hpatches_tasks,
    read_hpatches_tasks,
    read_splits,
    split_sequences,
    write_hpatches_tasks,
)
from dmlrepro.data.patches.phototour import (
    PHOTOTOUR_SUBSETS,
    PhotoTourLayoutError,
    PhotoTourSubset,
    read_phototour,
    resize_patches,
)
from dmlrepro.data.patches.training_pairs import flip_rotate, sample_pairs

__all__ = [
    "HPATCHES_SPLITS",
    "PHOTOTOUR_SUBSETS",
    "TABLE8_SPLIT",
    "HPatchesLayoutError",
    "HPatchesRelease",
    "PhotoTourLayoutError",
    "PhotoTourSubset",
    "TaskSizes",
    "flip_rotate",
    "generate_hpatches",
    "generate_hpatches_tasks",
    "generate_phototour",
    "read_hpatches_tasks",
    "read_phototour",
    "read_splits",
    "resize_patches",
    "sample_pairs",
    "split_sequences",
    "write_hpatches_tasks",
]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m dmlrepro.data.patches.synthetic_patches` does not find the
    # module already imported by its own package (runpy warns about that).
    if name in ("generate_phototour", "generate_hpatches"):
        from dmlrepro.data.patches import synthetic_patches

        return getattr(synthetic_patches, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
