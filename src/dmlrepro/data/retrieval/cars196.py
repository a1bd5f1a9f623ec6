"""Cars-196 (Krause et al., 3dRR 2013) as Multi-Head DML splits it (003_72cd4b33cee60b89.txt,
Sec. 4.1: the 8,054 images of the first 98 classes train, the 8,131 of the other 98 test).

Read as Proxy-Anchor's ``code/dataset/cars.py`` reads the release (data-and-metrics.md):
``cars_annos.mat``, whose ``annotations`` struct array has per image ``relative_im_path``
(``car_ims/NNNNNN.jpg``), ``bbox_x1``, ``bbox_y1``, ``bbox_x2``, ``bbox_y2``, ``class`` (1-based)
and ``test``, next to ``car_ims/``; classes 1-98 train, 99-196 test. The fields are read by name
(Proxy-Anchor indexes field 5, which is ``class`` in the release's order). Neither the bounding
boxes nor the ``test`` flag (the classification split) are used: the field trains and tests on
the whole image. pytorch-metric-learning reads a different (Kaggle) layout and torchvision's
StanfordCars is the classification split; neither is this one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from dmlrepro.data.retrieval.registry import register_retrieval_dataset
from dmlrepro.data.retrieval.retrieval_dataset import (
    RetrievalDataset,
    RetrievalLayout,
    check_images_exist,
    parse_int,
    read_synthetic_marker,
    relabel,
    resolve_dataset_dir,
)

NUM_CLASSES = 196
LAST_TRAIN_CLASS = 98
ANNOTATION_FIELDS = ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test")
"""The release's field order, which the generator writes."""
REQUIRED_FIELDS = ("relative_im_path", "class")

CARS196 = RetrievalLayout(
    name="cars196",
    subdirs=("cars196", "."),
    required=("cars_annos.mat", "car_ims/"),
    contents=("cars_annos.mat (struct array 'annotations' with fields " + ", ".join(ANNOTATION_FIELDS)
              + f"; class 1..{NUM_CLASSES}) and car_ims/NNNNNN.jpg; classes 1..{LAST_TRAIN_CLASS} train, "
              f"{LAST_TRAIN_CLASS + 1}..{NUM_CLASSES} test"),
)


@register_retrieval_dataset("cars196")
def cars196(root: str | Path) -> RetrievalDataset:
    """Cars-196 from the data root ``root`` (or from the ``cars196`` folder itself)."""
    root, folder = resolve_dataset_dir(CARS196, root)
    mat_path = folder / "cars_annos.mat"
    items = [(str(folder / path), label) for path, label in read_annotations(root, mat_path)]
    check_images_exist(CARS196, root, items, mat_path)
    train_items = [item for item in items if item[1] <= LAST_TRAIN_CLASS]
    test = [item for item in items if item[1] > LAST_TRAIN_CLASS]
    for split, chosen, rule in (("train", train_items, f"1..{LAST_TRAIN_CLASS}"),
                                ("test", test, f"{LAST_TRAIN_CLASS + 1}..{NUM_CLASSES}")):
        if not chosen:
            CARS196.fail(root, mat_path, f"no {split} images (classes {rule})")
    train, train_ids = relabel(train_items)
    return RetrievalDataset("cars196", folder, train, train_ids, test,
                            synthetic=read_synthetic_marker(folder))


def read_annotations(root: Path, mat_path: Path) -> list[tuple[str, int]]:
    """``(relative_im_path, class)`` of every annotation, in file order."""
    try:
        mat = scipy.io.loadmat(mat_path, squeeze_me=True)
    except Exception as error:  # scipy raises MatReadError, ValueError, IndexError... on bad bytes
        reason = " ".join(str(error).split()) or type(error).__name__
        CARS196.fail(root, mat_path, f"not a readable MATLAB file ({reason})")
    annotations = mat.get("annotations")
    names = getattr(getattr(annotations, "dtype", None), "names", None) or ()
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if annotations is None or missing:
        problem = ("no 'annotations' variable" if annotations is None
                   else f"'annotations' lacks field(s) {', '.join(missing)}")
        CARS196.fail(root, mat_path, problem)
    rows = []
    for index, record in enumerate(np.atleast_1d(annotations), start=1):
        where = f"{mat_path} annotations({index})"
        path = _scalar(record["relative_im_path"])
        if not isinstance(path, str) or not path:
            CARS196.fail(root, where, "relative_im_path is not a file name")
        label = parse_int(CARS196, root, where, "class", str(_scalar(record["class"])), 1, NUM_CLASSES)
        rows.append((path, label))
    if not rows:
        CARS196.fail(root, mat_path, "'annotations' is empty")
    return rows


def _scalar(value: object) -> object:
    """The one value of a loadmat field (a numpy scalar, a str, or a 1-element array)."""
    array = np.asarray(value)
    if array.size != 1:
        return None
    item = array.reshape(()).item()
    if isinstance(item, float) and item.is_integer():
        return int(item)
    return item
