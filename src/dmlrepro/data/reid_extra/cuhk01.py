"""CUHK01 (Li et al., ACCV 2012), AiA-Net's small benchmark (002_e585b7ac4801a221.txt, Sec. 5.1:
3,884 images of 971 identities, two camera views with two images each, the 485/486 protocol;
Table 12).

Read in torchreid's layout (``torchreid/data/datasets/image/cuhk01.py``): ``<root>/cuhk01/
campus/NNNNMMM.png``, person NNNN (1-971) and image MMM, images 001-002 from camera A and 003-004
from camera B (camid ``(MMM - 1) // 2``). pids are ``NNNN - 1``, as torchreid's.

Splits. The 485/486 protocol trains on floor(971 / 2) = 485 identities and tests on the other
486, one camera's images as the query and the other's as the gallery. torchreid draws 10 random
identity splits, each used twice (camera A as query, then camera B), with an *unseeded*
``np.random.shuffle``, and caches them in ``cuhk01/splits.json``:

* if ``splits.json`` is there (a torchreid cache), split ``split_id`` of it is used, so a run can
  use exactly the identities of an earlier torchreid run (images found by file name in
  ``campus/``);
* otherwise split ``split_id`` (0-19) is drawn here, reproducibly: identities permuted by
  ``numpy.random.default_rng([split_seed, split_id // 2])``, the first half (rounded down) for
  training; even ``split_id`` queries with camera A, odd with camera B (torchreid's order). The
  paper says which split(s) it used nowhere; split 0 is the default.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dmlrepro.data.reid_dataset import Item, ReIDDataset
from dmlrepro.data.reid_extra.common import (
    ExtraLayout,
    read_torchreid_splits,
    relabel,
    resolve_dataset_dir,
)
from dmlrepro.data.reid_extra.registry import register_extra_dataset

NUM_SPLITS = 20
NAME_PATTERN = re.compile(r"(\d{4})(\d{3})")

CUHK01 = ExtraLayout(
    name="cuhk01",
    subdirs=("cuhk01", "."),
    required=("campus/",),
    contents="campus/ with NNNNMMM.png images (person NNNN; image MMM 001-002 camera A, 003-004 camera B)",
)


@register_extra_dataset("cuhk01")
def cuhk01(root: str | Path, split_id: int = 0, split_seed: int = 0) -> ReIDDataset:
    """CUHK01 split ``split_id`` from the data root ``root`` (or the ``cuhk01`` folder itself)."""
    root, dataset_dir = resolve_dataset_dir(CUHK01, root)
    campus = dataset_dir / "campus"
    cached = dataset_dir / "splits.json"
    if cached.is_file():
        split = read_torchreid_splits(CUHK01, root, cached, campus, split_id)
        return ReIDDataset("cuhk01", dataset_dir, relabel(split["train"]), split["query"], split["gallery"])
    if isinstance(split_id, bool) or not isinstance(split_id, int) or not 0 <= split_id < NUM_SPLITS:
        CUHK01.fail(root, dataset_dir, f"split_id {split_id!r} is out of range 0..{NUM_SPLITS - 1}",
                    f"choose a split_id in 0..{NUM_SPLITS - 1}")
    images = read_campus(root, campus)
    pids = sorted({pid for _, pid, _ in images})
    order = np.random.default_rng([split_seed, split_id // 2]).permutation(len(pids))
    train_pids = {pids[i] for i in order[: len(pids) // 2]}
    train = [item for item in images if item[1] in train_pids]
    test = [item for item in images if item[1] not in train_pids]
    query_cam = split_id % 2
    query = [item for item in test if item[2] == query_cam]
    gallery = [item for item in test if item[2] != query_cam]
    return ReIDDataset("cuhk01", dataset_dir, relabel(train), query, gallery)


def read_campus(root: Path, campus: Path) -> list[Item]:
    """``(path, pid, camid)`` of every png in ``campus``, sorted by name."""
    items = []
    for path in sorted(campus.iterdir()):
        if path.suffix.lower() != ".png" or not path.is_file():
            continue
        match = NAME_PATTERN.fullmatch(path.stem)
        image = int(match.group(2)) if match else 0
        if match is None or int(match.group(1)) < 1 or not 1 <= image <= 4:
            CUHK01.fail(root, path, "image name is not NNNNMMM.png with person NNNN >= 0001 and image "
                                    "MMM 001-004", "rename or remove it, or " + CUHK01.generate_hint(root))
        items.append((str(path), int(match.group(1)) - 1, (image - 1) // 2))
    if len({pid for _, pid, _ in items}) < 2:
        CUHK01.fail(root, campus, "campus/ holds images of fewer than 2 persons")
    return items
