"""RAL-Net's robust angular loss against its equation in float64 loops, the saturation that makes
it robust, and the scale reading."""

from __future__ import annotations

import math

import pytest
import torch

from dmlrepro.losses.hardnet_loss import HardNetLoss
from dmlrepro.losses.ral_loss import RALLoss

SEEDS = range(6)


def unit_pairs(seed: int, n: int = 24, dim: int = 16, spread: float = 0.6, dtype=torch.float64):
    """n matching pairs of unit vectors plus a near-duplicate negative (p_3 almost a_5, so that
    2(1 - cos) < 0.000064)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.nn.functional.normalize(torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    p = torch.nn.functional.normalize(a + spread * torch.randn(n, dim, generator=g, dtype=torch.float64), dim=1)
    p[3] = torch.nn.functional.normalize(a[5] + 1e-4 * torch.randn(dim, generator=g, dtype=torch.float64), dim=0)
    return a.to(dtype), p.to(dtype)


def ral_equation(a, p, anchor_swap=True, near_duplicate=0.000064, scale=2.0) -> float:
    """1/n sum_i (1 + tanh(D_ii - min over j != i of D_ij and k != i of D_ki)), D = scale (1 - cos)
    + 1e-8, near-duplicates removed, in float64 loops."""
    a, p = a.double().tolist(), p.double().tolist()
    n = len(a)

    def cos(x, y):
        return math.fsum(u * v for u, v in zip(x, y)) / math.sqrt(math.fsum(u * u for u in x) * math.fsum(v * v for v in y))

    d = [[scale * (1 - cos(a[i], p[j])) + 1e-8 for j in range(n)] for i in range(n)]
    total = 0.0
    for i in range(n):
        candidates = [d[i][j] for j in range(n) if j != i and d[i][j] >= near_duplicate]
        if anchor_swap:
            candidates += [d[k][i] for k in range(n) if k != i and d[k][i] >= near_duplicate]
        total += 1 + math.tanh(d[i][i] - min(candidates))
    return total / n


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("anchor_swap", [True, False])
def test_equals_the_equation_in_float64(seed, anchor_swap):
    a, p = unit_pairs(seed)
    got = RALLoss(anchor_swap=anchor_swap)(a, p).item()
    assert got == pytest.approx(ral_equation(a, p, anchor_swap=anchor_swap), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_scale_one_is_the_plain_cosine_distance(seed):
    a, p = unit_pairs(seed)
    got = RALLoss(scale=1.0, near_duplicate=0.000032)(a, p).item()
    assert got == pytest.approx(ral_equation(a, p, scale=1.0, near_duplicate=0.000032), rel=1e-12)
    assert got != pytest.approx(RALLoss()(a, p).item(), rel=1e-3)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_float32_stays_close_to_the_equation(seed):
    a, p = unit_pairs(seed, dtype=torch.float32)
    assert RALLoss()(a, p).item() == pytest.approx(ral_equation(a, p), rel=1e-5, abs=1e-6)


def test_embeddings_and_labels_with_each_label_twice_are_the_same_pairs():
    a, p = unit_pairs(1, n=8)
    embeddings = torch.stack([a, p], 1).reshape(16, -1)  # a0, p0, a1, p1, ...
    labels = torch.arange(8).repeat_interleave(2) + 100
    assert RALLoss()(embeddings, labels).item() == pytest.approx(RALLoss()(a, p).item(), abs=1e-12)


def test_the_near_duplicate_is_what_would_otherwise_be_the_hardest_negative():
    a, p = unit_pairs(0)
    assert RALLoss(near_duplicate=0.0)(a, p).item() > RALLoss()(a, p).item()


def test_a_wrong_pair_gets_a_bounded_gradient_where_the_margin_loss_grows():
    # Pair 0 is a mislabelled correspondence: its "positive" is the vector opposite to its anchor.
    angles_a = [0.0, 1.2, 2.4]
    angles_p = [math.pi, 1.25, 2.45]
    a = torch.tensor([[math.cos(t), math.sin(t)] for t in angles_a], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([[math.cos(t), math.sin(t)] for t in angles_p], dtype=torch.float64)
    RALLoss()(a, p).backward()
    ral_grad = a.grad[0].norm().item()
    a.grad = None
    HardNetLoss()(a, p).backward()
    margin_grad = a.grad[0].norm().item()
    assert ral_grad < 0.1 * margin_grad  # tanh has saturated for the wrong pair
    value = RALLoss()(a.detach(), p).item()
    assert 0.0 <= value <= 2.0
