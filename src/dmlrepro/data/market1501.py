"""Market-1501 (Zheng et al., ICCV 2015), one of the three datasets of the CSALR paper
(000_6bea8c3e96cdf0f5.txt, Sec. 4.1: 751 training ids / 12,936 images; 750 test ids with 3,368
query and 19,732 gallery images; 6 cameras).

The release unpacks to ``Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}``;
torchreid expects it under ``<root>/market1501/`` (and also accepts the three folders directly in
``<root>/market1501``). Files are ``PPPP_cCsS_FFFFFF_NN.jpg``: pid, camera 1-6, sequence, frame,
detection index. The gallery holds pid ``0000`` distractors (false detections), which stay as
non-matches, and pid ``-1`` junk (partial bodies), which is dropped here as in torchreid
(implementation-facts.md §8).
"""

from __future__ import annotations

import re
from pathlib import Path

from dmlrepro.data.registry import register_dataset
from dmlrepro.data.reid_dataset import DatasetLayout, ReIDDataset, load_reid_dataset

MARKET1501 = DatasetLayout(
    name="market1501",
    subdirs=("market1501/Market-1501-v15.09.15", "market1501", "Market-1501-v15.09.15", "."),
    extension=".jpg",
    num_cams=6,
    naming="PPPP_cCsS_FFFFFF_NN.jpg",
    pattern=re.compile(r"(-1|\d+)_c(\d)s\d+_\d+_\d+"),
)


@register_dataset("market1501")
def market1501(root: str | Path) -> ReIDDataset:
    """Market-1501 from the data root ``root`` (or from the dataset folder itself)."""
    return load_reid_dataset(MARKET1501, root)
