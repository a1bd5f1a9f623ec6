"""Stanford Online Products (Oh Song et al., CVPR 2016) with its standard split, as Multi-Head
DML uses it (003_72cd4b33cee60b89.txt, Sec. 4.1: 59,551 images of 11,318 classes train, the
remaining 60,502 images of 11,316 classes test).

Read as pytorch-metric-learning's ``datasets/sop.py`` and Proxy-Anchor's ``SOP.py`` read the
release: ``Ebay_train.txt`` and ``Ebay_test.txt``, each a header line
``image_id class_id super_class_id path`` and then one image per line, paths relative to the
dataset folder (``bicycle_final/111085122871_0.JPG``). The files give the split. Class ids are
1-based, 1..11,318 in the training file and 11,319..22,634 in the test file: Proxy-Anchor keeps
only rows in those ranges, so a row outside its file's range is reported here rather than
silently dropped. ``super_class_id`` (1..12) is read but not used.
"""

from __future__ import annotations

from pathlib import Path

from dmlrepro.data.retrieval.registry import register_retrieval_dataset
from dmlrepro.data.retrieval.retrieval_dataset import (
    Item,
    RetrievalDataset,
    RetrievalLayout,
    check_images_exist,
    parse_int,
    read_synthetic_marker,
    read_table,
    relabel,
    resolve_dataset_dir,
)

HEADER = ("image_id", "class_id", "super_class_id", "path")
NUM_TRAIN_CLASSES = 11318
NUM_CLASSES = 22634
NUM_SUPER_CLASSES = 12
CLASS_RANGES = {"train": (1, NUM_TRAIN_CLASSES), "test": (NUM_TRAIN_CLASSES + 1, NUM_CLASSES)}

SOP = RetrievalLayout(
    name="sop",
    subdirs=("Stanford_Online_Products", "."),
    required=("Ebay_train.txt", "Ebay_test.txt"),
    contents=(f"Ebay_train.txt and Ebay_test.txt (header '{' '.join(HEADER)}', then one image per line; "
              f"class_id 1..{NUM_TRAIN_CLASSES} in train, {NUM_TRAIN_CLASSES + 1}..{NUM_CLASSES} in test, "
              f"super_class_id 1..{NUM_SUPER_CLASSES}) and the images they list, e.g. "
              "bicycle_final/111085122871_0.JPG"),
)


@register_retrieval_dataset("sop")
def sop(root: str | Path) -> RetrievalDataset:
    """Stanford Online Products from the data root ``root`` (or from the dataset folder)."""
    root, folder = resolve_dataset_dir(SOP, root)
    splits = {split: read_split(root, folder, split) for split in CLASS_RANGES}
    train, train_ids = relabel(splits["train"])
    return RetrievalDataset("sop", folder, train, train_ids, splits["test"],
                            synthetic=read_synthetic_marker(folder))


def read_split(root: Path, folder: Path, split: str) -> list[Item]:
    """``(path, class_id)`` of every image listed in ``Ebay_<split>.txt``."""
    path = folder / f"Ebay_{split}.txt"
    header = path.read_text(encoding="utf-8", errors="replace").splitlines()[:1]
    if not header or tuple(header[0].split()) != HEADER:
        got = repr(header[0][:80]) if header else "an empty file"
        SOP.fail(root, f"{path}:1", f"header is {got}, not '{' '.join(HEADER)}'")
    low, high = CLASS_RANGES[split]
    items, image_ids = [], set()
    for number, (image_id, class_id, super_id, relative) in read_table(SOP, root, path, HEADER, skip=1):
        where = f"{path}:{number}"
        image_id = parse_int(SOP, root, where, "image_id", image_id)
        if image_id in image_ids:
            SOP.fail(root, where, f"image_id {image_id} is listed twice")
        image_ids.add(image_id)
        label = parse_int(SOP, root, where, "class_id", class_id, low, high)
        parse_int(SOP, root, where, "super_class_id", super_id, 1, NUM_SUPER_CLASSES)
        items.append((str(folder / relative), label))
    check_images_exist(SOP, root, items, path)
    return items
