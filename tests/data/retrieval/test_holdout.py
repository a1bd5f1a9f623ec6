"""The 20% validation hold-out of 003_72cd4b33cee60b89.txt, Sec. 4.1, in both readings."""

from __future__ import annotations

from collections import Counter

import pytest

from dmlrepro.data.retrieval import HOLDOUT_READINGS, apply_holdout, build_retrieval_dataset
from dmlrepro.data.retrieval.retrieval_dataset import RetrievalDataset
from dmlrepro.errors import UserError


def _toy(num_classes: int = 10, per_class: tuple[int, ...] = (1, 2, 3, 5, 10)) -> RetrievalDataset:
    items = []
    for label in range(num_classes):
        items += [(f"c{label}_{k}.jpg", label) for k in range(per_class[label % len(per_class)])]
    ids = tuple(100 + 3 * label for label in range(num_classes))  # original ids, not 0..C-1
    return RetrievalDataset("toy", None, train=items, train_class_ids=ids, test=[("t.jpg", 999)])


def _originals(dataset: RetrievalDataset) -> Counter:
    return Counter((path, dataset.train_class_ids[label]) for path, label in dataset.train)


def test_by_classes_sets_aside_a_fifth_of_the_classes_whole():
    full = _toy(10)
    split = apply_holdout(full, 0.2, by="classes", seed=0)
    validation_classes = {label for _, label in split.test}
    assert len(validation_classes) == 2 and split.num_train_classes == 8
    assert validation_classes.isdisjoint(split.train_class_ids)
    assert validation_classes | set(split.train_class_ids) == set(full.train_class_ids)
    # Every training image ends up in exactly one part, with its original class.
    assert _originals(split) + Counter(split.test) == _originals(full)
    assert sorted({label for _, label in split.train}) == list(range(8))
    assert split.holdout == {"fraction": 0.2, "by": "classes", "seed": 0,
                             "validation_classes": sorted(validation_classes)}


def test_by_images_sets_aside_a_fifth_of_each_class():
    full = _toy(10)
    split = apply_holdout(full, 0.2, by="images", seed=0)
    assert split.train_class_ids == full.train_class_ids  # every class keeps training images
    held = Counter(label for _, label in split.test)
    for label, class_id in enumerate(full.train_class_ids):
        n = sum(1 for _, lab in full.train if lab == label)
        # round half up of 20%, never the class's last image: 1->0, 2->0, 3->1, 5->1, 10->2
        assert held[class_id] == {1: 0, 2: 0, 3: 1, 5: 1, 10: 2}[n]
    assert _originals(split) + Counter(split.test) == _originals(full)
    assert split.holdout["validation_images"] == len(split.test)


@pytest.mark.parametrize("by", HOLDOUT_READINGS)
def test_the_split_is_deterministic_given_the_seed(by):
    full = _toy(20)
    first, again = apply_holdout(full, 0.2, by=by, seed=3), apply_holdout(full, 0.2, by=by, seed=3)
    assert (first.train, first.test) == (again.train, again.test)
    others = [apply_holdout(full, 0.2, by=by, seed=s).test for s in range(4, 8)]
    assert any(sorted(o) != sorted(first.test) for o in others)


def test_class_counts_are_clamped_to_keep_both_parts():
    assert len({c for _, c in apply_holdout(_toy(2), 0.2, seed=0).test}) == 1
    assert apply_holdout(_toy(3), 0.9, seed=0).num_train_classes == 1
    with pytest.raises(UserError, match="at least 2 training classes"):
        apply_holdout(_toy(1), 0.2)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, "0.2", True, None])
def test_a_bad_fraction_is_one_line_user_error(fraction):
    with pytest.raises(UserError, match="holdout must be null or a fraction strictly between 0 and 1"):
        apply_holdout(_toy(), fraction)


def test_a_bad_reading_and_a_second_holdout_are_user_errors():
    with pytest.raises(UserError, match="holdout_by must be one of classes, images"):
        apply_holdout(_toy(), 0.2, by="pairs")
    with pytest.raises(UserError, match="already has a validation hold-out"):
        apply_holdout(apply_holdout(_toy(), 0.2), 0.2)


def test_registry_applies_the_holdout_to_inshop_and_drops_query_gallery(generated):
    full = build_retrieval_dataset("inshop", generated["inshop"])
    split = build_retrieval_dataset("inshop", generated["inshop"], holdout=0.2, holdout_by="classes",
                                    holdout_seed=1)
    assert split.query is None and split.protocol == "self"
    assert {label for _, label in split.test} <= set(full.train_class_ids)
    assert len(split.train) + len(split.test) == len(full.train)
    assert "hold-out 0.2 by classes (seed 1)" in split.summary()
    assert "validation" in split.summary()
