"""DukeMTMC-reID (Ristani et al., ECCVW 2016; Zheng et al., ICCV 2017), one of the three datasets
of the CSALR paper (000_6bea8c3e96cdf0f5.txt, Sec. 4.1: 702 training ids / 16,522 images; 702
test ids with 2,228 query and 17,661 gallery images; 8 cameras).

The release unpacks to ``DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}``; torchreid
expects it under ``<root>/dukemtmc-reid/``. Files are ``PPPP_cC_fFFFFFFF.jpg``: pid, camera 1-8,
frame. The gallery's extra 408 distractor identities carry ordinary pids, so there is no junk.
"""

from __future__ import annotations

import re
from pathlib import Path

from dmlrepro.data.registry import register_dataset
from dmlrepro.data.reid_dataset import DatasetLayout, ReIDDataset, load_reid_dataset

DUKEMTMC = DatasetLayout(
    name="dukemtmc",
    subdirs=("dukemtmc-reid/DukeMTMC-reID", "dukemtmc-reid", "DukeMTMC-reID", "."),
    extension=".jpg",
    num_cams=8,
    naming="PPPP_cC_fFFFFFFF.jpg",
    pattern=re.compile(r"(-1|\d+)_c(\d)_f\d+"),
)


@register_dataset("dukemtmc")
def dukemtmc(root: str | Path) -> ReIDDataset:
    """DukeMTMC-reID from the data root ``root`` (or from the dataset folder itself)."""
    return load_reid_dataset(DUKEMTMC, root)
