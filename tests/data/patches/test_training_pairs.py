"""HardNet's pair sampling (no 3-D point twice in a batch, two different patches of one point) and
its flip / 90° rotation augmentation (the same for both patches of a pair)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlrepro.data.patches.training_pairs import flip_rotate, sample_pairs
from dmlrepro.errors import UserError


def labels_with_sizes(sizes, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)) * 7 + 3, sizes)  # ids need not be 0..n-1
    return labels[rng.permutation(labels.size)]  # patches of a point need not be consecutive


def test_each_pair_is_two_different_patches_of_one_point_and_no_point_repeats_in_a_batch():
    sizes = [2, 3, 1, 5, 2, 4] * 20
    labels = labels_with_sizes(sizes)
    pairs = sample_pairs(labels, num_pairs=1000, batch_size=64, rng=np.random.default_rng(1))
    assert pairs.shape == (1000, 2)
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert (labels[pairs[:, 0]] == labels[pairs[:, 1]]).all()
    for start in range(0, 1000, 64):
        window = labels[pairs[start:start + 64, 0]]
        assert len(set(window.tolist())) == len(window)
    single = set(labels[np.isin(labels, [k * 7 + 3 for k, s in enumerate(sizes) if s == 1])].tolist())
    assert not single & set(labels[pairs[:, 0]].tolist())  # a point with one patch cannot pair


def test_points_and_patches_are_drawn_uniformly():
    labels = labels_with_sizes([3] * 40)
    pairs = sample_pairs(labels, num_pairs=24000, batch_size=20, rng=np.random.default_rng(2))
    points = np.unique(labels[pairs[:, 0]], return_counts=True)[1]
    assert points.size == 40 and points.min() > 0.8 * 600 and points.max() < 1.2 * 600
    first = np.bincount(pairs[:, 0], minlength=labels.size)
    assert first.min() > 0.75 * 200 and first.max() < 1.25 * 200


def test_a_batch_larger_than_the_points_is_a_one_line_error():
    with pytest.raises(UserError, match="a batch of 10 pairs needs 10 3-D points with two or more patches; "
                                        "the training subset has 4: lower the batch size"):
        sample_pairs(labels_with_sizes([2, 2, 2, 2, 1]), 100, 10, np.random.default_rng(0))


def test_the_same_seed_gives_the_same_pairs():
    labels = labels_with_sizes([2, 4] * 30)
    a = sample_pairs(labels, 300, 16, np.random.default_rng(5))
    assert np.array_equal(a, sample_pairs(labels, 300, 16, np.random.default_rng(5)))
    assert not np.array_equal(a, sample_pairs(labels, 300, 16, np.random.default_rng(6)))


def test_flip_rotate_applies_one_of_four_transforms_to_both_patches():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 1, 8, 8, generator=g)
    y = x + 1.0
    a, p = flip_rotate(x, y, generator=g)
    transforms = [lambda t: t, lambda t: t.transpose(-1, -2), lambda t: t.flip(-1),
                  lambda t: t.transpose(-1, -2).flip(-1)]
    seen = set()
    for i in range(200):
        kinds = [k for k, f in enumerate(transforms) if torch.equal(a[i], f(x[i]))]
        assert len(kinds) == 1
        assert torch.equal(p[i], transforms[kinds[0]](y[i]))  # the same transform for the positive
        seen.add(kinds[0])
    assert seen == {0, 1, 2, 3}
    # transpose then mirror is a rotation by 90 degrees
    assert torch.equal(transforms[3](x[0]), torch.rot90(x[0], k=-1, dims=(-2, -1)))


def test_flip_rotate_refuses_mismatched_batches():
    with pytest.raises(UserError, match="flip_rotate takes two"):
        flip_rotate(torch.zeros(2, 1, 8, 8), torch.zeros(3, 1, 8, 8))
