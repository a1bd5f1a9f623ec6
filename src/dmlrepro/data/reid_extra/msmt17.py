"""MSMT17 (Wei et al., CVPR 2018), one of AiA-Net's benchmarks (002_e585b7ac4801a221.txt,
Sec. 5.1: 4,101 identities, 15 cameras; 32,621 training images of 1,041 identities; 11,659 query
and 82,161 gallery images of 3,060 identities; Table 11).

Read in torchreid's layout (``torchreid/data/datasets/image/msmt17.py``):
``<root>/msmt17/MSMT17_V1/{train/, test/, list_train.txt, list_val.txt, list_query.txt,
list_gallery.txt}``. Each list line is ``<relative path> <pid>``, e.g.
``0000/0000_000_01_0303morning_0015_0.jpg 0``, relative to ``train/`` (train and val lists) or
``test/`` (query and gallery lists); the camera is the third ``_`` field of the file name, 1-15.
As in torchreid the list pids are used as they are (train 0..1040 and test 0..3059 are numbered
separately; train is relabelled in pid order, which leaves torchreid's labels unchanged), and
``list_val.txt`` (images of the training identities) stays out of training unless
``train_with_val`` (torchreid's ``combineall``): the papers' convention. Every listed image must
exist. The blurred-face ``MSMT17_V2`` release (``mask_train_v2``/``mask_test_v2``) is not read.
"""

from __future__ import annotations

from pathlib import Path

from dmlrepro.data.reid_dataset import Item, ReIDDataset
from dmlrepro.data.reid_extra.common import (
    ExtraLayout,
    check_files,
    read_lines,
    relabel,
    resolve_dataset_dir,
)
from dmlrepro.data.reid_extra.registry import register_extra_dataset

NUM_CAMS = 15
LISTS = {"train": ("train", "list_train.txt"), "val": ("train", "list_val.txt"),
         "query": ("test", "list_query.txt"), "gallery": ("test", "list_gallery.txt")}

MSMT17 = ExtraLayout(
    name="msmt17",
    subdirs=("msmt17/MSMT17_V1", "MSMT17_V1", "."),
    required=("train/", "test/", "list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt"),
    contents=("train/, test/ and list_{train,val,query,gallery}.txt with lines '<pid>/<name>.jpg <pid>', "
              "the camera (1-15) the third '_' field of <name> (MSMT17_V1; V2 is not read)"),
)


@register_extra_dataset("msmt17")
def msmt17(root: str | Path, train_with_val: bool = False) -> ReIDDataset:
    """MSMT17_V1 from the data root ``root`` (or the ``MSMT17_V1`` folder itself)."""
    root, dataset_dir = resolve_dataset_dir(MSMT17, root)
    splits = {split: read_list(root, dataset_dir, folder, name) for split, (folder, name) in LISTS.items()}
    train = splits["train"] + (splits["val"] if train_with_val else [])
    return ReIDDataset("msmt17", dataset_dir, relabel(train), splits["query"], splits["gallery"])


def read_list(root: Path, dataset_dir: Path, folder: str, name: str) -> list[Item]:
    """``(path, pid, camid)`` of every line of ``dataset_dir/name``, images under ``folder``."""
    path = dataset_dir / name
    items = []
    for number, line in read_lines(MSMT17, root, path):
        where = f"{path}:{number}"
        fields = line.split()
        if len(fields) != 2:
            MSMT17.fail(root, where, f"line has {len(fields)} fields where '<relative path> <pid>' has 2")
        relative, pid_text = fields
        if not pid_text.isdigit():
            MSMT17.fail(root, where, f"pid {pid_text!r} is not a non-negative integer")
        parts = Path(relative).name.split("_")
        camera = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0
        if not 1 <= camera <= NUM_CAMS:
            MSMT17.fail(root, where, f"file name {Path(relative).name!r} has no camera 1..{NUM_CAMS} "
                                     "as its third '_' field")
        items.append((str(dataset_dir / folder / relative), int(pid_text), camera - 1))
    check_files(MSMT17, root, (p for p, _, _ in items), path)
    return items
