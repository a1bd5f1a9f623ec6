"""Triplet sampling for the margin loss (004_82c542c12fef7e00.txt, §2, via Wu et al. 2017): the
negative distribution equals its float64 equation and pytorch-metric-learning's DistanceWeightedMiner
weights, the empirical frequencies of a fixed-seed sample follow q(d)^-1, the cutoffs, the per-pair
layout, the fallback, seeding; and the public code's closest-beyond-cutoff sampler against a loop
reference."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

from dmlrepro.errors import UserError
from dmlrepro.losses.distance_weighted_sampling import (
    ClosestBeyondCutoffSampling,
    DistanceWeightedSampling,
    log_inverse_sphere_density,
    negative_probabilities,
    positive_pairs,
)


def batch(seed: int, size: int = 32, dim: int = 16, classes: int = 8, spread: float = 0.6):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(size) % classes
    centres = torch.randn(classes, dim, generator=g, dtype=torch.float64)
    x = centres[labels] + spread * torch.randn(size, dim, generator=g, dtype=torch.float64)
    return torch.nn.functional.normalize(x, dim=1), labels


def equation_probabilities(x, labels, cutoff=0.5, nonzero=1.4):
    """Pr(n | a) ∝ q(max(d, cutoff))^-1 [d < nonzero] over a's negatives, in float64 loops (math)."""
    rows = x.tolist()
    n = len(rows[0])
    out = []
    for i, a in enumerate(rows):
        w = []
        for j, b in enumerate(rows):
            d = math.sqrt(math.fsum((u - v) ** 2 for u, v in zip(a, b)))
            if labels[i] == labels[j] or d >= nonzero:
                w.append(0.0)
                continue
            dc = max(d, cutoff)
            q = dc ** (n - 2) * (1 - dc * dc / 4) ** ((n - 3) / 2)
            w.append(1.0 / q)
        total = math.fsum(w)
        out.append([v / total if total > 0 else 0.0 for v in w])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("seed", range(4))
def test_negative_probabilities_equal_the_float64_equation(seed):
    x, y = batch(seed)
    torch.testing.assert_close(negative_probabilities(x, y), equation_probabilities(x, y), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dim", [4, 16, 128])
def test_negative_probabilities_equal_pml_distance_weighted_miner_weights(dim, monkeypatch):
    x, y = batch(dim, dim=dim, spread=1.5 if dim > 16 else 0.6)
    captured = {}
    original = lmu.get_random_triplet_indices

    def capture(labels, ref_labels=None, t_per_anchor=None, weights=None):
        captured["weights"] = weights.clone()
        return original(labels, ref_labels=ref_labels, t_per_anchor=t_per_anchor, weights=weights)

    monkeypatch.setattr(lmu, "get_random_triplet_indices", capture)
    pml_miners.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=1.4)(x, y)
    theirs = captured["weights"]
    ours = negative_probabilities(x, y)
    finite = torch.isfinite(theirs).all(dim=1)  # PML divides an all-zero row by 0
    assert finite.sum() >= len(x) // 2
    torch.testing.assert_close(ours[finite], theirs[finite], rtol=1e-6, atol=1e-9)
    assert (ours[~finite] == 0).all()


def test_empirical_frequencies_follow_the_inverse_sphere_density():
    """One anchor class of 100 identical points (9,900 draws from one distribution) and ten
    single-image negatives at set distances on S^3 (n = 4, where q^-1 spreads the mass widely)."""
    dim = 4
    distances = [0.3, 0.45, 0.6, 0.8, 1.0, 1.15, 1.3, 1.38, 1.5, 1.8]
    anchor = torch.tensor([1.0, 0, 0, 0], dtype=torch.float64)
    negatives = []
    for j, d in enumerate(distances):
        theta = 2 * math.asin(d / 2)
        other = torch.zeros(dim, dtype=torch.float64)
        other[1 + j % 3] = 1.0
        negatives.append(math.cos(theta) * anchor + math.sin(theta) * other)
    x = torch.cat([anchor.repeat(100, 1), torch.stack(negatives)])
    y = torch.cat([torch.zeros(100, dtype=torch.int64), torch.arange(1, 11)])
    triplets = DistanceWeightedSampling()(x, y, generator=torch.Generator().manual_seed(0))
    assert len(triplets) == 100 * 99
    counts = torch.bincount(triplets.negatives - 100, minlength=10).double()
    freq = counts / counts.sum()
    w = torch.tensor([0.0 if d >= 1.4 else math.exp(float(log_inverse_sphere_density(
        torch.tensor(max(d, 0.5), dtype=torch.float64), dim))) for d in distances], dtype=torch.float64)
    expected = w / w.sum()
    sigma = (expected * (1 - expected) / counts.sum()).sqrt()
    assert ((freq - expected).abs() <= 4 * sigma + 1e-12).all(), (freq, expected)
    assert float(counts[0]) == pytest.approx(float(counts[1]), rel=0.15)  # both clipped to 0.5
    assert counts[8] == counts[9] == 0  # beyond 1.4: never drawn
    assert expected[0] > expected[3] > expected[6]  # q^-1 falls from 0.5 to ~1.3 on S^3


def test_clipping_gives_close_negatives_the_weight_at_the_cutoff():
    d = torch.tensor([0.1, 0.3, 0.5], dtype=torch.float64).clamp(min=0.5)
    w = log_inverse_sphere_density(d, 16)
    assert torch.equal(w, torch.full_like(w, float(w[2])))


def test_every_positive_pair_is_used_once_with_a_true_negative():
    x, y = batch(5, size=24, classes=6)
    t = DistanceWeightedSampling()(x, y, generator=torch.Generator().manual_seed(1))
    a, p = positive_pairs(y)
    assert torch.equal(t.anchors, a) and torch.equal(t.positives, p)
    assert len(t) == 24 * 3  # 4 images per class: 3 positives per anchor
    assert (y[t.negatives] != y[t.anchors]).all()


def test_an_anchor_with_every_negative_beyond_the_nonzero_loss_cutoff_falls_back_to_uniform():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-0.99, 0.141]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    t = DistanceWeightedSampling()(x, y, generator=torch.Generator().manual_seed(0))
    assert t.fallback_anchors == 4 and len(t) == 4
    assert (y[t.negatives] != y[t.anchors]).all()


def test_a_batch_of_one_class_or_of_singletons_gives_no_triplet():
    x, _ = batch(0, size=6)
    assert len(DistanceWeightedSampling()(x, torch.zeros(6, dtype=torch.int64))) == 0
    assert len(DistanceWeightedSampling()(x, torch.arange(6))) == 0


def test_same_seed_same_triplets_other_seed_other_triplets():
    x, y = batch(2)
    s = DistanceWeightedSampling()
    first = s(x, y, generator=torch.Generator().manual_seed(3)).negatives
    again = s(x, y, generator=torch.Generator().manual_seed(3)).negatives
    other = s(x, y, generator=torch.Generator().manual_seed(4)).negatives
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cutoff": 0.0}, "cutoff must be"),
    ({"cutoff": 0.5, "nonzero_loss_cutoff": 0.4}, "nonzero_loss_cutoff must be"),
])
def test_bad_cutoffs_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        DistanceWeightedSampling(**kwargs)


# --- the public code's sampler ----------------------------------------------------------------


def closest_beyond_cutoff_reference(x, labels, cutoff=0.5):
    """For every anchor: its positives in batch order, and the m = pairs // batch closest negatives
    at distance >= cutoff, in batch order; the j-th positive with the j-th negative."""
    rows, ys = x.tolist(), labels.tolist()
    size = len(rows)

    def dist(i, j):
        return math.sqrt(math.fsum((u - v) ** 2 for u, v in zip(rows[i], rows[j])))

    m = sum(1 for i in range(size) for j in range(size) if i != j and ys[i] == ys[j]) // size
    out = []
    for i in range(size):
        pos = [j for j in range(size) if j != i and ys[j] == ys[i]]
        cand = sorted((dist(i, j), j) for j in range(size) if ys[j] != ys[i] and dist(i, j) >= cutoff)
        neg = sorted(j for _, j in cand[:m])
        out += [(i, p, n) for p, n in zip(pos, neg)]
    return out


@pytest.mark.parametrize("seed", range(4))
def test_closest_beyond_cutoff_equals_its_loop_reference_on_class_balanced_batches(seed):
    x, y = batch(seed, size=40, classes=10, spread=0.8)
    t = ClosestBeyondCutoffSampling()(x, y)
    got = list(zip(t.anchors.tolist(), t.positives.tolist(), t.negatives.tolist()))
    assert got == closest_beyond_cutoff_reference(x, y)
    assert len(got) == 40 * 3 and t.short_anchors == 0
    d = torch.cdist(x, x)
    assert (d[t.anchors, t.negatives] >= 0.5).all()


def test_closest_beyond_cutoff_keeps_only_the_pairs_an_anchor_has():
    x = torch.nn.functional.normalize(torch.tensor(
        [[1.0, 0.0], [0.99, 0.14], [0.98, 0.2], [0.0, 1.0], [0.1, 0.99], [0.2, 0.98]], dtype=torch.float64), dim=1)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    t = ClosestBeyondCutoffSampling(cutoff=1.35)  # only some cross-class pairs are that far apart
    out = t(x, y)
    assert out.short_anchors > 0
    d = torch.cdist(x, x)
    assert (d[out.anchors, out.negatives] >= 1.35).all()
