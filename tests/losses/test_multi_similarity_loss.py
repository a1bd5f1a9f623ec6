"""Multi-Similarity loss (003_72cd4b33cee60b89.txt, Eq. 6), each variant against its equation in
float64, and the variants pytorch-metric-learning computes against PML."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

from dmlrepro.errors import UserError
from dmlrepro.losses import MS_VARIANTS, MultiSimilarityLoss

SEEDS = range(8)


def cosine_matrix(x: torch.Tensor) -> list[list[float]]:
    rows = []
    for row in x.detach().double().tolist():
        norm = math.sqrt(math.fsum(v * v for v in row))
        rows.append([v / max(norm, 1e-12) for v in row])
    return [[math.fsum(a * b for a, b in zip(u, v)) for v in rows] for u in rows]


def ms_equation(embeddings, labels, gamma=2.0, beta=50.0, sigma=1.0, negative_sign=-1.0,
                epsilon=None) -> float:
    """Eq. 6 in float64 loops, with "S - sigma" (negative_sign = -1) or "S + sigma" (+1, as
    printed) in the negative term. With ``epsilon``: only the MS paper's hard pairs, a negative if
    S + eps > the anchor's smallest positive S, a positive if S - eps < its largest negative S."""
    sims, ys = cosine_matrix(embeddings), labels.tolist()
    total = 0.0
    for i in range(len(ys)):
        pos = [k for k in range(len(ys)) if k != i and ys[k] == ys[i]]
        neg = [k for k in range(len(ys)) if ys[k] != ys[i]]
        if epsilon is not None:
            min_pos = min((sims[i][k] for k in pos), default=math.inf)
            max_neg = max((sims[i][k] for k in neg), default=-math.inf)
            pos, neg = ([k for k in pos if sims[i][k] - epsilon < max_neg],
                        [k for k in neg if sims[i][k] + epsilon > min_pos])
        pos_part = math.log(1.0 + sum(math.exp(-gamma * (sims[i][k] - sigma)) for k in pos))
        neg_part = math.log(1.0 + sum(math.exp(beta * (sims[i][k] + negative_sign * sigma))
                                      for k in neg))
        total += pos_part / gamma + neg_part / beta
    return total / len(ys)


EQUATION_ARGS = {
    "eq6_minus_sigma": dict(negative_sign=-1.0),
    "eq6_as_printed": dict(negative_sign=+1.0),
    "wang2019_mined": dict(negative_sign=-1.0, epsilon=0.1),
}


def test_every_variant_has_an_equation():
    assert set(EQUATION_ARGS) == set(MS_VARIANTS)


@pytest.mark.parametrize("variant", MS_VARIANTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_equals_equation_in_float64(variant, seed, random_batch):
    x, y = random_batch(seed)
    value = MultiSimilarityLoss(variant=variant)(x, y).item()
    assert value == pytest.approx(ms_equation(x, y, **EQUATION_ARGS[variant]), rel=1e-12,
                                  abs=1e-12)


@pytest.mark.parametrize("variant", MS_VARIANTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_float32_is_within_float32_rounding_of_the_equation(variant, seed, random_batch):
    x, y = random_batch(seed, dtype=torch.float32)
    value = MultiSimilarityLoss(variant=variant)(x, y)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(ms_equation(x, y, **EQUATION_ARGS[variant]), rel=1e-6,
                                         abs=1e-6)


def pml_value(x, y, mined: bool, **params):
    loss = pml_losses.MultiSimilarityLoss(alpha=params.get("gamma", 2.0),
                                          beta=params.get("beta", 50.0),
                                          base=params.get("sigma", 1.0))
    if not mined:
        return loss(x, y)
    return loss(x, y, pml_miners.MultiSimilarityMiner(epsilon=params.get("epsilon", 0.1))(x, y))


@pytest.mark.parametrize("variant, mined", [("eq6_minus_sigma", False), ("wang2019_mined", True)])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("seed", SEEDS)
def test_equals_pml(variant, mined, dtype, tol, seed, random_batch):
    x, y = random_batch(seed, dtype=dtype)
    x.requires_grad_(True)
    ours = MultiSimilarityLoss(variant=variant)(x, y)
    theirs = pml_value(x, y, mined)
    assert ours.item() == pytest.approx(theirs.item(), rel=tol, abs=tol)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_pml,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(g_ours, g_pml, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("seed", SEEDS)
def test_equals_pml_at_other_settings(seed, random_batch):
    """The mapping gamma -> alpha, beta -> beta, sigma -> base holds at other values too (PML's
    default base 0.5, the MS authors' code's beta 40)."""
    x, y = random_batch(seed)
    params = dict(gamma=3.0, beta=40.0, sigma=0.5, epsilon=0.05)
    ours = MultiSimilarityLoss(variant="wang2019_mined", **params)(x, y)
    assert ours.item() == pytest.approx(pml_value(x, y, True, **params).item(), rel=1e-12)


def test_mining_drops_pairs_and_changes_the_value(random_batch):
    x, y = random_batch(1)
    full = MultiSimilarityLoss(variant="eq6_minus_sigma")(x, y).item()
    mined = MultiSimilarityLoss(variant="wang2019_mined")(x, y).item()
    assert mined < full  # fewer positive exponentials: every dropped term is positive


def test_as_printed_differs_from_the_ms_sign(random_batch):
    """The printed "+sigma" makes the negative term about max_n S + sigma, never small: a different
    loss, larger on every batch with negatives."""
    for seed in SEEDS:
        x, y = random_batch(seed)
        printed = MultiSimilarityLoss(variant="eq6_as_printed")(x, y).item()
        ms_sign = MultiSimilarityLoss(variant="eq6_minus_sigma")(x, y).item()
        assert printed > ms_sign + 0.5


@pytest.mark.parametrize("variant", MS_VARIANTS)
def test_gradients_finite_at_extremes(variant):
    # Identical embeddings (S = 1 everywhere, exponents up to beta (1 + sigma) = 100 as printed),
    # float32.
    x = torch.ones(8, 4, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss = MultiSimilarityLoss(variant=variant)(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("variant", MS_VARIANTS)
def test_batches_without_positives_or_negatives(variant):
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    for y in (torch.arange(6), torch.zeros(6, dtype=torch.int64)):
        loss = MultiSimilarityLoss(variant=variant)(x, y)
        assert loss.item() == pytest.approx(ms_equation(x, y, **EQUATION_ARGS[variant]),
                                            abs=1e-12)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(variant="paper"), "unknown multi-similarity variant 'paper'; valid: eq6_minus_sigma, "
                            "eq6_as_printed, wang2019_mined"),
    (dict(gamma=0), "gamma must be a finite number > 0"),
    (dict(beta=float("inf")), "beta must be a finite number > 0"),
    (dict(sigma=-1), "sigma must be a finite number >= 0"),
    (dict(epsilon=-0.1), "epsilon must be a finite number >= 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError) as error:
        MultiSimilarityLoss(**kwargs)
    assert message in str(error.value)


def test_hard_pair_rule_by_hand():
    """Anchor 0 with positives at S = 0.75 and 0.5 and negatives at 0.5 and 0.25, epsilon = 0.25
    (all exact in binary): a negative is kept iff S + 0.25 > 0.5 (min positive), so 0.5 is kept and
    0.25 (equal: ties dropped) is not; a positive iff S - 0.25 < 0.5 (max negative), so 0.5 is
    kept and 0.75 (equal) is not."""
    from dmlrepro.losses import ms_hard_pairs

    sims = torch.tensor([[1.0, 0.75, 0.5, 0.5, 0.25]])
    positive = torch.tensor([[False, True, True, False, False]])
    negative = torch.tensor([[False, False, False, True, True]])
    hard_pos, hard_neg = ms_hard_pairs(sims, positive, negative, 0.25)
    assert hard_pos.tolist() == [[False, False, True, False, False]]
    assert hard_neg.tolist() == [[False, False, False, True, False]]
