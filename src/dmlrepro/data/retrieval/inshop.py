"""In-Shop Clothes Retrieval (DeepFashion, Liu et al., CVPR 2016) with its standard split, as
Multi-Head DML uses it (003_72cd4b33cee60b89.txt, Sec. 4.1: 25,882 images of 3,997 items train;
the test set of 3,985 items is a query set of 14,218 images and a gallery of 12,612).

Read as Divide-and-Conquer's ``lib/data/set/inshop.py`` reads the release
(data-and-metrics.md): ``Eval/list_eval_partition.txt`` — line 1 the number of images, line 2 the
header ``image_name item_id evaluation_status``, then ``img/<...>/<file>.jpg id_XXXXXXXX
train|query|gallery`` — with paths relative to the dataset folder. Proxy-Anchor keeps the same
paths under an extra ``Img/`` folder; both are accepted. Training items are relabelled
``0..C-1``; query and gallery keep the item number of ``id_XXXXXXXX`` (the field relabels them
jointly, which changes nothing but the numbers). Training and test items must be disjoint.
"""

from __future__ import annotations

import re
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

PARTITION = "Eval/list_eval_partition.txt"
HEADER = ("image_name", "item_id", "evaluation_status")
STATUSES = ("train", "query", "gallery")
ITEM_ID = re.compile(r"id_(\d+)")
IMAGE_BASES = (".", "Img")
"""Where the ``img/...`` paths are rooted, relative to the dataset folder: the release (and
Divide-and-Conquer) has ``img/`` in the dataset folder, Proxy-Anchor ``Img/img/``."""

INSHOP = RetrievalLayout(
    name="inshop",
    subdirs=("Inshop_Clothes", "."),
    required=(PARTITION,),
    contents=(f"{PARTITION} (line 1: image count; line 2: '{' '.join(HEADER)}'; then "
              "'img/<...>/<file>.jpg id_XXXXXXXX train|query|gallery' per image, training and test "
              "items disjoint) and the img/ folder it lists (or Img/img/)"),
)


@register_retrieval_dataset("inshop")
def inshop(root: str | Path) -> RetrievalDataset:
    """In-Shop from the data root ``root`` (or from the ``Inshop_Clothes`` folder itself)."""
    root, folder = resolve_dataset_dir(INSHOP, root)
    path = folder / PARTITION
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    count = _read_count(root, path, lines)
    if len(lines) < 2 or tuple(lines[1].split()) != HEADER:
        got = repr(lines[1][:80]) if len(lines) > 1 else "missing"
        INSHOP.fail(root, f"{path}:2", f"header is {got}, not '{' '.join(HEADER)}'")
    rows = read_table(INSHOP, root, path, HEADER, skip=2)
    if len(rows) != count:
        INSHOP.fail(root, f"{path}:1", f"line 1 says {count} images but the file lists {len(rows)}")
    base = _image_base(root, folder, rows[0][1][0])
    splits: dict[str, list[Item]] = {status: [] for status in STATUSES}
    for number, (image, item_id, status) in rows:
        where = f"{path}:{number}"
        match = ITEM_ID.fullmatch(item_id)
        if match is None:
            INSHOP.fail(root, where, f"item_id {item_id[:40]!r} is not id_XXXXXXXX")
        label = parse_int(INSHOP, root, where, "item number", match.group(1))
        if status not in splits:
            INSHOP.fail(root, where, f"evaluation_status {status[:40]!r} is not one of {'|'.join(STATUSES)}")
        splits[status].append((str(base / image), label))
    for status, items in splits.items():
        if not items:
            INSHOP.fail(root, path, f"no images with evaluation_status {status}")
    shared = {label for _, label in splits["train"]} & {
        label for _, label in splits["query"] + splits["gallery"]}
    if shared:
        INSHOP.fail(root, path, f"{len(shared)} item(s) are in both train and query/gallery "
                                f"(e.g. id_{min(shared):08d})")
    check_images_exist(INSHOP, root, [item for items in splits.values() for item in items], path)
    train, train_ids = relabel(splits["train"])
    query, gallery = splits["query"], splits["gallery"]
    return RetrievalDataset("inshop", folder, train, train_ids, query + gallery, query=query,
                            gallery=gallery, synthetic=read_synthetic_marker(folder))


def _read_count(root: Path, path: Path, lines: list[str]) -> int:
    text = lines[0].strip() if lines else ""
    return parse_int(INSHOP, root, f"{path}:1", "image count (line 1)", text or "(empty)", 1)


def _image_base(root: Path, folder: Path, first_image: str) -> Path:
    for base in IMAGE_BASES:
        candidate = folder if base == "." else folder / base
        if (candidate / first_image).is_file():
            return candidate
    return folder  # check_images_exist then names the missing image
