"""CUHK03-NP, labeled boxes: CUHK03 under the new 767/700 protocol of Zhong et al. (CVPR 2017)
with the manually labeled bounding boxes, AiA-Net's "@ Labeled" columns of Table 10
(002_e585b7ac4801a221.txt, Sec. 5.3).  The labeled boxes are a different training set from the
detected ones (``dmlrepro.data.cuhk03np``), so a labeled column trains a cell of its own.

Read from the same release, ``<root>/cuhk03-np/labeled/{bounding_box_train,query,
bounding_box_test}`` (also ``cuhk03_np/labeled``, ``labeled`` or the folder itself), Market-style
names ``PPPP_cC_N.png``.  The synthetic stand-in (``generate_labeled``) is the CUHK03-NP
generator's output with another seed, written to ``cuhk03-np/labeled``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from dmlrepro.data.registry import register_dataset
from dmlrepro.data.reid_dataset import DatasetLayout, ReIDDataset, load_reid_dataset

CUHK03NP_LABELED = DatasetLayout(
    name="cuhk03np_labeled",
    subdirs=("cuhk03-np/labeled", "cuhk03_np/labeled", "labeled", "."),
    extension=".png",
    num_cams=2,
    naming="PPPP_cC_N.png",
    pattern=re.compile(r"(-1|\d+)_c(\d)_\d+"),
    extra_hint="unpack the CUHK03-NP release (github.com/zhunzhong07/person-re-ranking, CUHK03-NP) into <root>/cuhk03-np, or ",
)
#: The synthetic labeled set differs from the detected one by its seed.
SEED_OFFSET = 1_000


@register_dataset("cuhk03np_labeled")
def cuhk03np_labeled(root: str | Path) -> ReIDDataset:
    """CUHK03-NP (labeled) from the data root ``root`` (or from the dataset folder itself)."""
    return load_reid_dataset(CUHK03NP_LABELED, root)


def generate_labeled(out: Path, seed: int = 0, **sizes) -> Path:
    """Write the synthetic CUHK03-NP labeled set under ``out/cuhk03-np/labeled`` (kept if there)."""
    from dmlrepro.data.synthetic import generate_reid_dataset

    final = Path(out) / CUHK03NP_LABELED.subdirs[0]
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".labeled-") as tmp:
        written = generate_reid_dataset(Path(tmp), "cuhk03np", seed=seed + SEED_OFFSET, **sizes)
        shutil.move(str(written), str(final))
    return final
