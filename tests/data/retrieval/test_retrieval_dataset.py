"""The retrieval data contract: relabelling, protocols, queries without a positive, images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dmlrepro.data.image_dataset import CorruptImageError
from dmlrepro.data.retrieval import (
    RetrievalDataset,
    RetrievalImageDataset,
    build_retrieval_dataset,
    classes_without_positive,
)
from dmlrepro.data.retrieval.retrieval_dataset import SYNTHETIC_MARKER, relabel
from dmlrepro.data.retrieval.synthetic_retrieval import generate_retrieval_dataset
from dmlrepro.data.synthetic import MARKER_NAME


def test_train_labels_must_be_contiguous(tmp_path):
    with pytest.raises(ValueError, match="relabelled"):
        RetrievalDataset("x", tmp_path, train=[("a.jpg", 3)], train_class_ids=(7,), test=[])
    with pytest.raises(ValueError, match="train_class_ids"):
        RetrievalDataset("x", tmp_path, train=[("a.jpg", 0), ("b.jpg", 1)], train_class_ids=(7,), test=[])
    with pytest.raises(ValueError, match="query and gallery"):
        RetrievalDataset("x", tmp_path, train=[], train_class_ids=(), test=[], query=[("q.jpg", 1)])


def test_relabel_keeps_the_original_id_order():
    items, ids = relabel([("a", 30), ("b", 10), ("c", 30), ("d", 20)])
    assert ids == (10, 20, 30)
    assert items == [("a", 2), ("b", 0), ("c", 2), ("d", 1)]


def _slow_without_positive(queries, references, exclude_self):
    indices = []
    for i, (_, label) in enumerate(queries):
        others = [j for j, (_, other) in enumerate(references)
                  if other == label and not (exclude_self and j == i)]
        if not others:
            indices.append(i)
    return indices


@pytest.mark.parametrize("seed", range(5))
def test_queries_without_positive_equal_a_slow_reference(seed):
    rng = np.random.default_rng(seed)
    test = [(f"{i}.jpg", int(c)) for i, c in enumerate(rng.integers(0, 12, size=30))]
    found = classes_without_positive(test, test, exclude_self=True)
    expected = _slow_without_positive(test, test, True)
    assert list(found.query_indices) == expected and found.count == len(expected)
    assert found.class_ids == tuple(sorted({test[i][1] for i in expected}))
    query = [(f"q{i}.jpg", int(c)) for i, c in enumerate(rng.integers(0, 12, size=20))]
    gallery = [(f"g{i}.jpg", int(c)) for i, c in enumerate(rng.integers(0, 12, size=15))]
    found = classes_without_positive(query, gallery, exclude_self=False)
    assert list(found.query_indices) == _slow_without_positive(query, gallery, False)


def test_a_class_with_one_test_image_is_reported(tmp_path):
    # images_min=1: some classes get one image; in the test split they have no positive.
    root = tmp_path / "data"
    generate_retrieval_dataset(root, "sop", num_train_classes=4, num_test_classes=12,
                               images_min=1, images_max=2)
    dataset = build_retrieval_dataset("sop", root)
    counts: dict[int, int] = {}
    for _, label in dataset.test:
        counts[label] = counts.get(label, 0) + 1
    singletons = tuple(sorted(c for c, n in counts.items() if n == 1))
    assert singletons, "the seed should give at least one single-image test class"
    missing = dataset.classes_without_positive()
    assert missing.class_ids == singletons and missing.count == len(singletons)
    assert f"{len(singletons)} queries of {len(singletons)} classes have no positive" in dataset.summary()


def test_inshop_query_item_without_gallery_images_is_reported(tmp_path):
    # One-image test items have a query and no gallery image.
    root = tmp_path / "data"
    generate_retrieval_dataset(root, "inshop", num_train_classes=3, num_test_classes=10,
                               images_min=1, images_max=3)
    dataset = build_retrieval_dataset("inshop", root)
    gallery_items = {label for _, label in dataset.gallery}
    expected = tuple(sorted({label for _, label in dataset.query} - gallery_items))
    assert expected
    assert dataset.classes_without_positive().class_ids == expected


def test_self_retrieval_protocol(generated):
    dataset = build_retrieval_dataset("cub200", generated["cub200"])
    assert dataset.protocol == "self"
    assert dataset.retrieval_sets() == (dataset.test, dataset.test, True)
    assert dataset.classes_without_positive().count == 0


def test_marker_name_is_the_reid_generators(generated):
    assert SYNTHETIC_MARKER == MARKER_NAME
    assert (build_retrieval_dataset("sop", generated["sop"]).root / SYNTHETIC_MARKER).is_file()


def test_real_data_has_no_synthetic_marker(copy_of):
    root = copy_of("sop")
    (root / "Stanford_Online_Products" / SYNTHETIC_MARKER).unlink()
    dataset = build_retrieval_dataset("sop", root)
    assert dataset.synthetic is None and "synthetic" not in dataset.summary()


def test_image_dataset_yields_images_and_labels(generated, copy_of):
    dataset = build_retrieval_dataset("cars196", generated["cars196"])
    images = RetrievalImageDataset(dataset.train, transform=lambda image: image.size)
    assert len(images) == len(dataset.train)
    assert images[0] == ((128, 96), dataset.train[0][1])
    assert images.labels == [label for _, label in dataset.train]
    root = copy_of("cars196")
    broken = build_retrieval_dataset("cars196", root).train[0][0]
    Path(broken).write_bytes(Path(broken).read_bytes()[:200])
    with pytest.raises(CorruptImageError, match="cannot decode image"):
        RetrievalImageDataset(build_retrieval_dataset("cars196", root).train)[0]
