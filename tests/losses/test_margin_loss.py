"""Margin loss (004_82c542c12fef7e00.txt, §2; Wu et al. 2017): equal to its float64 equation and to
pytorch-metric-learning's MarginLoss on the same triplets (values and gradients, shared and
class-specific β), β learnable in the text variant and fixed in the code's, the code variant against a
loop reference of the public code's procedure, the sampling generator in the state dict, and the
registry."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses

from dmlrepro.errors import UserError
from dmlrepro.losses.distance_weighted_sampling import Triplets
from dmlrepro.losses.margin_loss import MarginLoss
from dmlrepro.losses.registry import build_loss, get_loss_class

SEEDS = range(6)


def batch(seed: int, size: int = 40, dim: int = 16, classes: int = 10, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(size) % classes
    centres = torch.randn(classes, dim, generator=g, dtype=torch.float64)
    spread = 0.3 + float(torch.rand((), generator=g))
    x = centres[labels] + spread * torch.randn(size, dim, generator=g, dtype=torch.float64)
    return x.to(dtype), labels


def margin_equation(x, labels, triplets, beta, alpha=0.2) -> float:
    """Σ (D_ap − β + α)_+ + (β − D_an + α)_+ over the triplets, divided by the non-zero terms."""
    rows = []
    for r in x.detach().double().tolist():
        norm = math.sqrt(math.fsum(v * v for v in r))
        rows.append([v / norm for v in r])

    def dist(i, j):
        return math.sqrt(math.fsum((u - v) ** 2 for u, v in zip(rows[i], rows[j])))

    terms = []
    for a, p, n in zip(triplets.anchors.tolist(), triplets.positives.tolist(), triplets.negatives.tolist()):
        b = beta[labels[a]] if isinstance(beta, list) else beta
        terms += [max(0.0, dist(a, p) - b + alpha), max(0.0, b - dist(a, n) + alpha)]
    active = sum(1 for t in terms if t > 0)
    return math.fsum(terms) / active if active else 0.0


def pml_twin(loss: MarginLoss) -> pml_losses.MarginLoss:
    twin = pml_losses.MarginLoss(margin=loss.margin, nu=0.0, beta=1.2, learn_beta=loss.learn_beta,
                                 num_classes=loss.num_beta_classes)
    with torch.no_grad():
        twin.beta.copy_(loss.beta.detach())
    return twin


@pytest.mark.parametrize("variant", ["text", "code"])
@pytest.mark.parametrize("seed", SEEDS)
def test_equals_the_float64_equation_on_its_own_triplets(variant, seed):
    x, y = batch(seed)
    loss = MarginLoss(variant=variant, seed=seed)
    with torch.no_grad():
        loss.beta.fill_(1.0 + 0.1 * seed)  # away from 1.2 as well
    value = loss(x, y)
    triplets = loss.sampler(x, y, generator=torch.Generator().manual_seed(seed))
    expected = margin_equation(x, y, triplets, float(loss.beta.detach()))
    assert value.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert loss.last["triplets"] == len(triplets) > 0 and loss.last["active_terms"] > 0


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("learn_beta", [True, False])
@pytest.mark.parametrize("seed", SEEDS)
def test_equals_pml_margin_loss_on_the_same_triplets_value_and_gradients(seed, learn_beta, dtype, tol):
    x, y = batch(seed, dtype=dtype)
    loss = MarginLoss(learn_beta=learn_beta, seed=seed).to(dtype)
    triplets = loss.sample(x, y)
    twin = pml_twin(loss).to(dtype)
    ours_x = x.clone().requires_grad_(True)
    theirs_x = x.clone().requires_grad_(True)
    ours = loss.loss_from_triplets(torch.nn.functional.normalize(ours_x, dim=1), y, triplets)
    theirs = twin(theirs_x, y, indices_tuple=(triplets.anchors, triplets.positives, triplets.negatives))
    assert ours.item() == pytest.approx(theirs.item(), rel=tol, abs=tol)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(ours_x.grad, theirs_x.grad, rtol=tol * 10, atol=tol)
    if learn_beta:
        torch.testing.assert_close(loss.beta.grad, twin.beta.grad.to(dtype), rtol=tol, atol=tol)


def test_class_specific_beta_equals_pml_and_the_equation():
    x, y = batch(3)
    loss = MarginLoss(num_beta_classes=10, seed=0)
    with torch.no_grad():
        loss.beta.copy_(torch.linspace(0.9, 1.4, 10))
    triplets = loss.sample(x, y)
    ours = loss.loss_from_triplets(torch.nn.functional.normalize(x, dim=1), y, triplets)
    twin = pml_twin(loss).double()
    theirs = twin(x, y, indices_tuple=(triplets.anchors, triplets.positives, triplets.negatives))
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-12)
    assert ours.item() == pytest.approx(margin_equation(x, y, triplets, loss.beta.tolist()), rel=1e-12)


def test_text_variant_learns_beta_and_code_variant_keeps_it_fixed():
    x, y = batch(1, dtype=torch.float32)
    text, code = MarginLoss(seed=0), MarginLoss(variant="code")
    assert [n for n, _ in text.named_parameters()] == ["beta"] and list(code.parameters()) == []
    assert float(text.beta.detach()) == float(code.beta) == pytest.approx(1.2)
    opt = torch.optim.SGD(text.parameters(), lr=0.1)
    text(x, y).backward()
    opt.step()
    assert float(text.beta.detach()) != pytest.approx(1.2)
    assert "beta" in code.state_dict()  # a buffer: saved, moved with .to(), never optimised


def test_code_variant_equals_the_public_codes_procedure_on_a_class_balanced_batch():
    """The code's per-anchor sum: every positive, the m = 3 closest negatives at >= 0.5, the sum of
    both kinds of terms over the non-zero ones (β = 1.2 fixed)."""
    x, y = batch(4, size=40, classes=10)  # 4 images per class, as the code's batches
    xn = torch.nn.functional.normalize(x, dim=1)
    d = (xn[:, None, :] - xn[None, :, :]).norm(dim=2)
    terms = []
    for i in range(40):
        pos = [j for j in range(40) if j != i and y[j] == y[i]]
        neg = sorted((float(d[i, j]), j) for j in range(40) if y[j] != y[i] and d[i, j] >= 0.5)[:3]
        terms += [max(0.0, float(d[i, j]) - 1.2 + 0.2) for j in pos]
        terms += [max(0.0, 1.2 - dist + 0.2) for dist, _ in neg]
    expected = math.fsum(terms) / sum(1 for t in terms if t > 0)
    loss = MarginLoss(variant="code").double()
    loss.beta.fill_(1.2)  # β is created in float32 (1.2000000477); the reference uses 1.2
    assert loss(x, y).item() == pytest.approx(expected, rel=1e-12)


def test_a_batch_without_triplets_gives_a_connected_zero():
    x = torch.randn(4, 16, requires_grad=True)
    loss = MarginLoss(seed=0)
    value = loss(x, torch.zeros(4, dtype=torch.int64))
    assert value.item() == 0.0 and loss.last["triplets"] == 0
    value.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_identical_images_give_finite_gradients():
    x = torch.randn(8, 16)
    x[1] = x[0]
    x.requires_grad_(True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    MarginLoss(seed=0)(x, y).backward()
    assert torch.isfinite(x.grad).all()


def test_the_input_is_normalised_so_the_scale_does_not_matter():
    x, y = batch(2)
    a = MarginLoss(seed=5)(x, y)
    b = MarginLoss(seed=5)(3.0 * x, y)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


def test_the_sampling_generator_is_part_of_the_state_dict():
    x, y = batch(0)
    loss = MarginLoss(seed=1)
    loss(x, y)
    state = {k: v.clone() if torch.is_tensor(v) else v for k, v in loss.state_dict().items()}
    after = loss.sample(x, y).negatives
    resumed = MarginLoss(seed=99)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.sample(x, y).negatives, after)


def test_the_registry_builds_both_variants():
    assert get_loss_class("margin") is MarginLoss
    code = build_loss("margin", variant="code")
    assert code.variant == "code" and not code.learn_beta
    x = torch.randn(12, 8, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    value = build_loss("margin", seed=0)(x, y)
    value.backward()
    assert torch.isfinite(value) and x.grad.abs().sum() > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"variant": "wu"}, "unknown margin-loss variant 'wu'"),
    ({"margin": -0.1}, "margin must be"),
    ({"beta": 0.0}, "beta must be"),
    ({"num_beta_classes": 0}, "num_beta_classes"),
    ({"cutoff": 2.5}, "cutoff must be"),
])
def test_bad_parameters_are_one_line_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message) as info:
        MarginLoss(**kwargs)
    assert "\n" not in str(info.value)


def test_labels_outside_the_beta_classes_are_a_user_error():
    with pytest.raises(UserError, match="labels must lie in 0..3"):
        MarginLoss(num_beta_classes=4)(torch.randn(4, 8), torch.tensor([0, 0, 5, 5]))


def test_triplets_may_be_given_directly():
    x, y = batch(0)
    xn = torch.nn.functional.normalize(x, dim=1)
    t = Triplets(torch.tensor([0]), torch.tensor([10]), torch.tensor([1]))
    value = MarginLoss().loss_from_triplets(xn, y, t)
    assert value.item() == pytest.approx(margin_equation(x, y, t, 1.2), rel=1e-12)
