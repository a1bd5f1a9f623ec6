"""CUB-200-2011 (Wah et al., 2011) as Multi-Head DML splits it (003_72cd4b33cee60b89.txt,
Sec. 4.1: the 5,864 images of the first 100 classes train, the 5,924 of the other 100 test).

Read as pytorch-metric-learning's ``datasets/cub.py`` reads the release: ``images.txt``
(``<image_id> <relative path>``) and ``image_class_labels.txt`` (``<image_id> <class>``, classes
1-based) joined on the image id, paths relative to ``images/``; classes 1-100 train, 101-200
test. The release's ``train_test_split.txt`` is the classification split and is not used.
(Proxy-Anchor's ``cub.py`` instead enumerates ``images/`` with ImageFolder and splits on the
sorted folder index, which gives the same split on the real release.)
"""

from __future__ import annotations

from pathlib import Path

from dmlrepro.data.retrieval.registry import register_retrieval_dataset
from dmlrepro.data.retrieval.retrieval_dataset import (
    RetrievalDataset,
    RetrievalLayout,
    check_images_exist,
    parse_int,
    read_synthetic_marker,
    read_table,
    relabel,
    resolve_dataset_dir,
)

NUM_CLASSES = 200
LAST_TRAIN_CLASS = 100

CUB200 = RetrievalLayout(
    name="cub200",
    subdirs=("CUB_200_2011", "cub200/CUB_200_2011", "."),
    required=("images.txt", "image_class_labels.txt", "images/"),
    contents=("images.txt ('<image_id> <path under images/>' per line), image_class_labels.txt "
              f"('<image_id> <class 1..{NUM_CLASSES}>' per line) and images/<NNN.Name>/<file>.jpg; "
              f"classes 1..{LAST_TRAIN_CLASS} train, {LAST_TRAIN_CLASS + 1}..{NUM_CLASSES} test"),
)


@register_retrieval_dataset("cub200")
def cub200(root: str | Path) -> RetrievalDataset:
    """CUB-200-2011 from the data root ``root`` (or from the ``CUB_200_2011`` folder itself)."""
    root, folder = resolve_dataset_dir(CUB200, root)
    images_txt, labels_txt = folder / "images.txt", folder / "image_class_labels.txt"
    paths = _read_id_table(root, images_txt, "<image_id> <path>", value_is_path=True)
    classes = _read_id_table(root, labels_txt, "<image_id> <class>", value_is_path=False)
    for image_id in sorted(paths.keys() ^ classes.keys()):
        listed, unlisted = (images_txt, labels_txt) if image_id in paths else (labels_txt, images_txt)
        CUB200.fail(root, unlisted, f"image id {image_id} of {listed.name} is not listed")
    items = [(str(folder / "images" / paths[i]), classes[i]) for i in sorted(paths)]
    check_images_exist(CUB200, root, items, images_txt)
    train_items = [item for item in items if item[1] <= LAST_TRAIN_CLASS]
    test = [item for item in items if item[1] > LAST_TRAIN_CLASS]
    for split, chosen, rule in (("train", train_items, f"1..{LAST_TRAIN_CLASS}"),
                                ("test", test, f"{LAST_TRAIN_CLASS + 1}..{NUM_CLASSES}")):
        if not chosen:
            CUB200.fail(root, labels_txt, f"no {split} images (classes {rule})")
    train, train_ids = relabel(train_items)
    return RetrievalDataset("cub200", folder, train, train_ids, test,
                            synthetic=read_synthetic_marker(folder))


def _read_id_table(root: Path, path: Path, columns: str, value_is_path: bool) -> dict[int, str | int]:
    values: dict[int, str | int] = {}
    for number, (id_text, value) in read_table(CUB200, root, path, columns.split()):
        where = f"{path}:{number}"
        image_id = parse_int(CUB200, root, where, "image id", id_text)
        if image_id in values:
            CUB200.fail(root, where, f"image id {image_id} is listed twice")
        if value_is_path:
            values[image_id] = value
        else:
            values[image_id] = parse_int(CUB200, root, where, "class", value, 1, NUM_CLASSES)
    return values
