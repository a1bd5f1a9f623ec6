"""AiA-Net's hard-mined triplet loss (002_e585b7ac4801a221.txt, Eq. 18): each miner against a
float64 loop reference, the mining on a hand-made batch, and the miners pytorch-metric-learning
can express against PML."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import distances as pml_distances
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from pytorch_metric_learning import reducers as pml_reducers

from dmlrepro.errors import UserError
from dmlrepro.losses import build_loss, get_loss_class
from dmlrepro.losses.hard_triplet_loss import (
    TRIPLET_MININGS,
    HardTripletLoss,
    mine_triplets,
    pairwise_euclidean,
    paper_margin,
)

SEEDS = range(6)


def pk_batch(seed: int, p: int = 8, k: int = 4, dim: int = 16, dtype=torch.float64,
             singletons: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A P x K batch (as the identity sampler yields) of clustered embeddings, shuffled, with
    ``singletons`` extra identities of one image each (no positive)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(p).repeat_interleave(k)
    labels = torch.cat([labels, torch.arange(p, p + singletons)])
    centres = torch.randn(p + singletons, dim, generator=g, dtype=torch.float64)
    spread = 0.6 + 1.5 * float(torch.rand((), generator=g))
    x = centres[labels] + spread * torch.randn(len(labels), dim, generator=g, dtype=torch.float64)
    order = torch.randperm(len(labels), generator=g)
    return x[order].to(dtype), labels[order]


def distance_rows(x: torch.Tensor, eps: float = 0.0) -> list[list[float]]:
    rows = x.detach().double().tolist()
    return [[math.sqrt(math.fsum((a - b + eps) ** 2 for a, b in zip(u, v))) for v in rows] for u in rows]


def reference_triplets(x, y, mining: str, num_negatives: int) -> list[tuple[int, int, int]]:
    """The miners in plain Python loops (module docstring of hard_triplet_loss.py)."""
    d, ys = distance_rows(x), y.tolist()
    triplets = []
    for i in range(len(ys)):
        pos = [j for j in range(len(ys)) if j != i and ys[j] == ys[i]]
        neg = [j for j in range(len(ys)) if ys[j] != ys[i]]
        if not pos or not neg:
            continue
        neg.sort(key=lambda j: (d[i][j], j))
        if mining == "public_code":
            pairs = [(k, j) for j in neg for k in pos if d[i][k] < d[i][j]]
            triplets += [(i, k, j) for k, j in pairs[:num_negatives]]
        else:
            hardest = max(pos, key=lambda j: (d[i][j], -j))
            triplets += [(i, hardest, j) for j in neg[:num_negatives]]
    return triplets


def reference_loss(x, y, mining="paper", num_negatives=5, margin=1.0, reduction="mean") -> float:
    triplets = reference_triplets(x, y, mining, num_negatives)
    d = distance_rows(x, eps=1e-6 if mining == "public_code" else 0.0)
    hinges = [max(d[a][p] - d[a][n] + margin, 0.0) for a, p, n in triplets]
    if reduction == "mean_nonzero":
        hinges = [h for h in hinges if h > 0]
    return math.fsum(hinges) / len(hinges) if hinges else 0.0


def as_set(triplets) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in t) for t in zip(*triplets)}


CASES = [("paper", 5), ("batch_hard", 1), ("public_code", 5), ("paper", 3), ("public_code", 10)]


@pytest.mark.parametrize("mining, num_negatives", CASES)
@pytest.mark.parametrize("seed", SEEDS)
def test_mining_equals_the_loop_reference(mining, num_negatives, seed):
    x, y = pk_batch(seed, singletons=seed % 3)
    mined = mine_triplets(pairwise_euclidean(x), y, mining, num_negatives)
    expected = reference_triplets(x, y, mining, num_negatives)
    assert [tuple(map(int, t)) for t in zip(*mined)] == expected  # same triplets, same order


@pytest.mark.parametrize("mining, num_negatives", CASES)
@pytest.mark.parametrize("reduction", ["mean", "mean_nonzero"])
@pytest.mark.parametrize("seed", SEEDS)
def test_loss_equals_the_loop_reference_in_float64(mining, num_negatives, reduction, seed):
    x, y = pk_batch(seed, singletons=seed % 2)
    margin = 1.5 if seed % 2 else 1.0
    loss = HardTripletLoss(margin=margin, mining=mining, num_negatives=num_negatives,
                           reduction=reduction)
    value = loss(x, y).item()
    assert value == pytest.approx(reference_loss(x, y, mining, num_negatives, margin, reduction),
                                  rel=1e-12, abs=1e-12)
    assert value > 0  # the spreads keep some hinges active: the comparison is not 0 == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_is_within_rounding_of_the_reference(seed):
    x, y = pk_batch(seed, dtype=torch.float32)
    value = HardTripletLoss()(x, y)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(reference_loss(x, y), rel=1e-5, abs=1e-5)


def test_hand_made_batch_picks_the_hardest_positive_and_the_five_nearest_negatives():
    # Points on a line; anchor 0 (label 0) at 0. Its positives are at 1, 3 and 2: the hardest is
    # index 2 (distance 3). Its negatives are at 10, 4, 7, 5, 6, 9, 8 (indices 4..10): the five
    # nearest are indices 5 (4), 7 (5), 8 (6), 6 (7) and 10 (8).
    positions = [0.0, 1.0, 3.0, 2.0, 10.0, 4.0, 7.0, 5.0, 6.0, 9.0, 8.0]
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4])
    x = torch.tensor(positions, dtype=torch.float64)[:, None]
    a, p, n = mine_triplets(pairwise_euclidean(x), labels)
    assert a[a == 0].numel() == 5
    assert set(p[a == 0].tolist()) == {2}
    assert n[a == 0].tolist() == [5, 7, 8, 6, 10]
    # Anchor 10 (label 4) is alone: no positive, no triplet.
    assert 10 not in a.tolist()
    # 10 anchors with a positive, 5 triplets each.
    assert len(a) == 50 and torch.equal(torch.unique(a), torch.arange(10))
    loss = HardTripletLoss(margin=1.0)
    value = loss(x, labels)
    assert loss.last_num_triplets == 50
    # Anchor 0's five hinges: [3 - d + 1]_+ for d = 4, 5, 6, 7, 8 -> 0 (all inactive).
    hinge_0 = sum(max(3.0 - d + 1.0, 0.0) for d in (4, 5, 6, 7, 8))
    assert hinge_0 == 0.0 and value.item() == pytest.approx(reference_loss(x, labels), abs=1e-12)


def test_hand_made_batch_for_the_public_code_miner():
    # Anchor 0 at 0; positives (batch order) 1 at 2.0, 2 at 0.5, 3 at 3.5; negatives 4 at 1.0,
    # 5 at 3.0, 6 at 4.0. Nearest negative 4 (1.0) is beaten only by positive 2 (0.5); negative 5
    # (3.0) by positives 1 and 2; negative 6 (4.0) by 1, 2 and 3. First five pairs, in that order.
    x = torch.tensor([0.0, 2.0, 0.5, 3.5, 1.0, 3.0, 4.0], dtype=torch.float64)[:, None]
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    a, p, n = mine_triplets(pairwise_euclidean(x), y, "public_code", 5)
    first = [(int(pp), int(nn)) for aa, pp, nn in zip(a, p, n) if aa == 0]
    assert first == [(2, 4), (1, 5), (2, 5), (1, 6), (2, 6)]


def test_miners_differ_from_each_other():
    x, y = pk_batch(0)
    values = {m: HardTripletLoss(mining=m)(x, y).item() for m in TRIPLET_MININGS}
    assert len({round(v, 9) for v in values.values()}) == 3
    # The hardest negative gives the largest hinge of an anchor's five, so batch-hard's mean is
    # the larger one.
    assert values["batch_hard"] > values["paper"]


# --- pytorch-metric-learning ---------------------------------------------------------------


def pml_triplet_loss(margin: float, reducer=None):
    distance = pml_distances.LpDistance(normalize_embeddings=False, p=2, power=1)
    return pml_losses.TripletMarginLoss(margin=margin, distance=distance,
                                        reducer=reducer or pml_reducers.MeanReducer())


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_hard_equals_pml_batch_hard_miner(dtype, tol, seed):
    x, y = pk_batch(seed, dtype=dtype, singletons=seed % 2)
    x.requires_grad_(True)
    ours = HardTripletLoss(margin=1.0, mining="batch_hard")(x, y)
    distance = pml_distances.LpDistance(normalize_embeddings=False)
    miner = pml_miners.BatchHardMiner(distance=distance)
    theirs = pml_triplet_loss(1.0)(x, y, miner(x, y))
    assert ours.item() == pytest.approx(theirs.item(), rel=tol, abs=tol)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_pml,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(g_ours, g_pml, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("reduction", ["mean", "mean_nonzero"])
@pytest.mark.parametrize("seed", SEEDS)
def test_paper_loss_equals_pml_on_the_mined_triplets(reduction, seed):
    """PML has no 'hardest positive, k nearest negatives' miner; given our triplets, its
    TripletMarginLoss (MeanReducer for Eq. 18, its default AvgNonZeroReducer for mean_nonzero)
    computes the same loss and gradient."""
    x, y = pk_batch(seed)
    x.requires_grad_(True)
    ours = HardTripletLoss(margin=1.5, reduction=reduction)(x, y)
    triplets = mine_triplets(pairwise_euclidean(x.detach()), y)
    reducer = pml_reducers.MeanReducer() if reduction == "mean" else pml_reducers.AvgNonZeroReducer()
    theirs = pml_triplet_loss(1.5, reducer)(x, y, triplets)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_pml,) = torch.autograd.grad(theirs, x)
    torch.testing.assert_close(g_ours, g_pml, rtol=1e-9, atol=1e-12)


def test_public_code_hinge_equals_torch_triplet_margin_loss():
    """The public code's loss is nn.TripletMarginLoss(margin, p=2) on its mined triplets."""
    x, y = pk_batch(3)
    ours = HardTripletLoss(margin=1.0, mining="public_code")(x, y)
    a, p, n = mine_triplets(pairwise_euclidean(x), y, "public_code", 5)
    theirs = torch.nn.TripletMarginLoss(margin=1.0, p=2)(x[a], x[p], x[n])
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)


# --- edges, registry, margins ----------------------------------------------------------------


def test_batch_without_triplets_gives_a_connected_zero():
    x = torch.randn(6, 4, requires_grad=True)
    for labels in (torch.zeros(6, dtype=torch.long), torch.arange(6)):  # one identity; all singletons
        for mining in TRIPLET_MININGS:
            loss = HardTripletLoss(mining=mining)
            value = loss(x, labels)
            assert value.item() == 0.0 and loss.last_num_triplets == 0
            value.backward()
            assert torch.equal(x.grad, torch.zeros_like(x))


def test_fewer_negatives_than_asked_uses_all_of_them():
    x, y = pk_batch(1, p=2, k=3)  # 3 negatives per anchor, 5 asked
    loss = HardTripletLoss()
    loss(x, y)
    assert loss.last_num_triplets == 6 * 3


def test_duplicate_images_give_finite_gradients():
    # An identity with one image is sampled K times with replacement: its positives are copies
    # of the anchor, at distance 0.
    x = torch.tensor([[1.0, 2.0]] * 4 + [[1.5, 2.0], [3.0, 1.0]], requires_grad=True)
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    value = HardTripletLoss()(x, y)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0 and torch.isfinite(x.grad).all()


def test_a_few_steps_lower_the_loss():
    x, y = pk_batch(2, dtype=torch.float32)
    x = x.clone().requires_grad_(True)
    loss = HardTripletLoss(margin=1.0)
    optimiser = torch.optim.Adam([x], lr=0.05)
    first = None
    for _ in range(30):
        value = loss(x, y)
        first = value.item() if first is None else first
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
    assert loss(x, y).item() < 0.5 * first


def test_registered_and_built_by_name():
    assert get_loss_class("hard_triplet") is HardTripletLoss
    loss = build_loss("hard_triplet", margin=1.5, mining="public_code")
    assert (loss.margin, loss.mining, loss.num_negatives) == (1.5, "public_code", 5)
    assert build_loss("hard_triplet", mining="batch_hard").num_negatives == 1


@pytest.mark.parametrize("params, message", [
    (dict(mining="semi"), "unknown triplet mining 'semi'; valid: paper, batch_hard, public_code"),
    (dict(mining="batch_hard", num_negatives=5), "batch_hard mining takes exactly 1 negative"),
    (dict(num_negatives=0), "num_negatives must be a positive integer"),
    (dict(margin=-1.0), "margin must be a finite number >= 0"),
    (dict(reduction="sum"), "unknown triplet reduction 'sum'"),
])
def test_bad_parameters_are_one_line_user_errors(params, message):
    with pytest.raises(UserError) as error:
        HardTripletLoss(**params)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("dataset, margin", [
    ("cuhk03np", 1.5), ("cuhk03_classic", 1.5), ("CUHK01", 1.5), ("market1501", 1.0),
    ("dukemtmc", 1.0), ("msmt17", 1.0), ("mars", 1.0),
])
def test_paper_margins(dataset, margin):
    assert paper_margin(dataset) == margin
