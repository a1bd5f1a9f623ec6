"""HardNet loss against its equation in float64 loops, anchor swap and the near-duplicate skip on
constructed cases, and one-line errors for bad input."""

from __future__ import annotations

import math

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.losses.hardnet_loss import HardNetLoss

SEEDS = range(6)


def unit_pairs(seed: int, n: int = 24, dim: int = 16, spread: float = 0.6, dtype=torch.float64):
    """n matching pairs: p_i a noisy copy of a_i, both unit vectors; plus one near-duplicate
    negative (p_3 almost equal to a_5) that the loss must skip."""
    g = torch.Generator().manual_seed(seed)
    a = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    p = torch.nn.functional.normalize(a + spread * torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    p[3] = torch.nn.functional.normalize(a[5] + 1e-4 * torch.randn(dim, generator=g, dtype=torch.float64), dim=0)
    return a.to(dtype), p.to(dtype)


def hardnet_equation(a, p, margin=1.0, anchor_swap=True, near_duplicate=0.008, eps=1e-6) -> float:
    """1/n sum_i max(0, margin + d_ii - min(min_{j!=i, d_ij>=thr} d_ij, min_{k!=i, d_ki>=thr} d_ki)),
    d_ij = sqrt(|a_i - p_j|^2 + eps) + 1e-8, in float64 loops."""
    a, p = a.double().tolist(), p.double().tolist()
    n = len(a)
    d = [[math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a[i], p[j])) + eps) + 1e-8 for j in range(n)]
         for i in range(n)]
    total = 0.0
    for i in range(n):
        candidates = [d[i][j] for j in range(n) if j != i and d[i][j] >= near_duplicate]
        if anchor_swap:
            candidates += [d[k][i] for k in range(n) if k != i and d[k][i] >= near_duplicate]
        total += max(0.0, margin + d[i][i] - min(candidates))
    return total / n


def hardnet_equation_torch(a, p, margin=1.0):
    """The same equation with autograd in float64 (direct differences, negatives removed by +inf),
    for the gradient."""
    n = a.shape[0]
    d = torch.sqrt(((a[:, None, :] - p[None, :, :]) ** 2).sum(-1) + 1e-6) + 1e-8
    skip = torch.eye(n, dtype=torch.bool) | (d < 0.008)
    masked = d.masked_fill(skip, float("inf"))
    hardest = torch.minimum(masked.min(1).values, masked.min(0).values)
    return torch.clamp(margin + d.diagonal() - hardest, min=0).mean()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("anchor_swap", [True, False])
def test_equals_the_equation_in_float64(seed, anchor_swap):
    a, p = unit_pairs(seed)
    loss = HardNetLoss(anchor_swap=anchor_swap)(a, p)
    expected = hardnet_equation(a, p, anchor_swap=anchor_swap)
    assert expected > 0.05  # the margin is active for some pairs
    assert loss.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_stays_close_to_the_equation(seed):
    a, p = unit_pairs(seed, dtype=torch.float32)
    assert HardNetLoss()(a, p).item() == pytest.approx(hardnet_equation(a, p), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_gradient_equals_the_equation(seed):
    a, p = unit_pairs(seed)
    a1, p1 = a.clone().requires_grad_(), p.clone().requires_grad_()
    a2, p2 = a.clone().requires_grad_(), p.clone().requires_grad_()
    HardNetLoss()(a1, p1).backward()
    hardnet_equation_torch(a2, p2).backward()
    assert torch.allclose(a1.grad, a2.grad, atol=1e-10) and torch.allclose(p1.grad, p2.grad, atol=1e-10)
    assert a1.grad.abs().sum() > 0


def chord(angle: float) -> float:
    """|u - v| for two unit vectors at this angle, with HardNet's eps."""
    return math.sqrt((2 * math.sin(angle / 2)) ** 2 + 1e-6) + 1e-8


def planar(*angles: float) -> torch.Tensor:
    return torch.tensor([[math.cos(t), math.sin(t)] for t in angles], dtype=torch.float64)


def test_anchor_swap_takes_the_anchor_closest_to_the_positive():
    # a0 at 0, p0 at 0.1; a1 at 0.3 (close to p0), p1 at 2.0 (far from a0).
    a, p = planar(0.0, 0.3), planar(0.1, 2.0)
    row0, col0 = chord(2.0), chord(0.2)  # d(a0, p1), d(a1, p0)
    pos0, pos1 = chord(0.1), chord(1.7)
    hardest1 = min(chord(0.2), chord(2.0))  # row 1: d(a1, p0); column 1: d(a0, p1)
    without = (max(0.0, 1 + pos0 - row0) + max(0.0, 1 + pos1 - hardest1)) / 2
    with_swap = (max(0.0, 1 + pos0 - min(row0, col0)) + max(0.0, 1 + pos1 - hardest1)) / 2
    assert HardNetLoss(anchor_swap=False)(a, p).item() == pytest.approx(without, abs=1e-12)
    assert HardNetLoss(anchor_swap=True)(a, p).item() == pytest.approx(with_swap, abs=1e-12)
    assert with_swap > without + 0.4  # the swap found the harder negative of pair 0


def test_a_near_duplicate_negative_is_skipped():
    # p1 equals a0 (the same patch under another point id): as a negative of pair 0 it is ignored
    # and the next-closest one, d(a0, p2), is used.
    a, p = planar(0.0, 1.0, 2.5), planar(0.05, 0.0, 0.6)
    loss = HardNetLoss(anchor_swap=False)(a, p)
    d = [[chord(abs(x - y)) for y in (0.05, 0.0, 0.6)] for x in (0.0, 1.0, 2.5)]
    hardest = [min(d[i][j] for j in range(3) if j != i and d[i][j] >= 0.008) for i in range(3)]
    expected = sum(max(0.0, 1 + d[i][i] - hardest[i]) for i in range(3)) / 3
    assert hardest[0] == d[0][2]
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert HardNetLoss(anchor_swap=False, near_duplicate=0.0)(a, p).item() > expected + 0.15


def test_margin_and_a_separated_batch():
    a = torch.eye(4, dtype=torch.float64)
    assert HardNetLoss()(a, a.clone()).item() == pytest.approx(0.0, abs=1e-12)  # 1 + ~0 - sqrt(2) < 0
    assert HardNetLoss(margin=2.0)(a, a.clone()).item() == pytest.approx(2 + chord(0) - chord(math.pi / 2), abs=1e-9)


@pytest.mark.parametrize("args, message", [
    ((torch.zeros(4, 8), torch.zeros(3, 8)), "must have the same shape"),
    ((torch.zeros(1, 8), torch.zeros(1, 8)), "at least 2 pairs"),
    ((torch.zeros(4, 8, dtype=torch.long), torch.zeros(4, 8)), "anchors must be a (n, dim) float tensor"),
    ((torch.zeros(4), torch.zeros(4)), "anchors must be a (n, dim) float tensor"),
])
def test_bad_input_is_one_line(args, message):
    with pytest.raises(UserError) as error:
        HardNetLoss()(*args)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_embeddings_and_labels_with_each_label_twice_are_the_same_pairs():
    a, p = unit_pairs(0, n=10)
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    embeddings = torch.cat([a, p])[order]
    labels = torch.cat([torch.arange(10) * 3 + 1, torch.arange(10) * 3 + 1])[order]
    # as_pairs takes each label's first row as the anchor: swap where the positive came first.
    first_is_anchor = torch.stack([(order == i).nonzero()[0, 0] < (order == i + 10).nonzero()[0, 0] for i in range(10)])
    anchors = torch.where(first_is_anchor[:, None], a, p)
    positives = torch.where(first_is_anchor[:, None], p, a)
    for anchor_swap in (True, False):
        loss = HardNetLoss(anchor_swap=anchor_swap)
        assert loss(embeddings, labels).item() == pytest.approx(loss(anchors, positives).item(), abs=1e-12)
    with pytest.raises(UserError, match="needs every label exactly twice"):
        HardNetLoss()(embeddings[:5], labels[:5])


def test_registered_by_name():
    from dmlrepro.losses.registry import build_loss, list_losses

    assert {"hardnet", "ral"} <= set(list_losses())
    loss = build_loss("hardnet", margin=2.0, anchor_swap=False)
    assert isinstance(loss, HardNetLoss) and loss.margin == 2.0 and not loss.anchor_swap


def test_bad_parameters_are_one_line():
    with pytest.raises(UserError, match="margin must be a finite number >= 0"):
        HardNetLoss(margin=-1)
