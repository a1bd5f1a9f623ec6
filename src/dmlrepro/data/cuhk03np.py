"""CUHK03-NP, detected boxes: CUHK03 (Li et al., CVPR 2014) under the new 767/700 protocol of
Zhong et al. (CVPR 2017), one of the three datasets of the CSALR paper (000_6bea8c3e96cdf0f5.txt,
Sec. 4.1: 767 training ids / 7,365 images; 700 test ids; 2 cameras). Evaluated with the
Market-1501 metric (implementation-facts.md §8); the CSA/CSALR code trains on the detected png
files.

The Zhong et al. release (github.com/zhunzhong07/person-re-ranking, folder CUHK03-NP) unpacks to
``cuhk03-np/{detected,labeled}/{bounding_box_train,query,bounding_box_test}`` with Market-style
names ``PPPP_cC_N.png`` (pid, camera 1-2, image index). Read from
``<root>/cuhk03-np/detected`` (also ``<root>/cuhk03_np/detected``, ``<root>/detected`` when
``<root>`` is the ``cuhk03-np`` folder, or the ``detected`` folder given directly).

torchreid's own layout — the raw ``cuhk03_release/cuhk-03.mat`` plus
``cuhk03_new_protocol_config_detected.mat`` — is NOT read: it needs a .mat-to-png conversion
(h5py/scipy) that this harness does not do. Download the CUHK03-NP release above instead, or
generate the embedded synthetic stand-in with
``python -m dmlrepro.data.synthetic --variant cuhk03np --out <root>``.
"""

from __future__ import annotations

import re
from pathlib import Path

from dmlrepro.data.registry import register_dataset
from dmlrepro.data.reid_dataset import DatasetLayout, ReIDDataset, load_reid_dataset

CUHK03NP = DatasetLayout(
    name="cuhk03np",
    subdirs=("cuhk03-np/detected", "cuhk03_np/detected", "detected", "."),
    extension=".png",
    num_cams=2,
    naming="PPPP_cC_N.png",
    pattern=re.compile(r"(-1|\d+)_c(\d)_\d+"),
    extra_hint=(
        "torchreid's raw cuhk-03.mat layout is not read, unpack the CUHK03-NP release "
        "(github.com/zhunzhong07/person-re-ranking, CUHK03-NP) into <root>/cuhk03-np instead, or "
    ),
)


@register_dataset("cuhk03np")
def cuhk03np(root: str | Path) -> ReIDDataset:
    """CUHK03-NP (detected) from the data root ``root`` (or from the dataset folder itself)."""
    return load_reid_dataset(CUHK03NP, root)
