"""Proxy-Anchor loss (003_72cd4b33cee60b89.txt, Eq. 5) against its equation in float64 and against
pytorch-metric-learning's ProxyAnchorLoss with the same proxies."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses

from dmlrepro.errors import UserError
from dmlrepro.losses import ProxyAnchorLoss

SEEDS = range(8)


def unit_rows(x: torch.Tensor) -> list[list[float]]:
    out = []
    for row in x.detach().double().tolist():
        norm = math.sqrt(math.fsum(v * v for v in row))
        out.append([v / max(norm, 1e-12) for v in row])
    return out


def proxy_anchor_equation(embeddings, labels, proxies, alpha=32.0, delta=0.1) -> float:
    """Eq. 5 in float64 loops: P+ the proxies of the classes present, X_p+ / X_p- the batch items
    of / not of p's class."""
    xs, ps, ys = unit_rows(embeddings), unit_rows(proxies), labels.tolist()

    def s(x, p):
        return math.fsum(a * b for a, b in zip(x, p))

    positive_proxies = sorted(set(ys))
    pos_sum = 0.0
    for p in positive_proxies:
        inner = sum(math.exp(-alpha * (s(x, ps[p]) - delta)) for x, y in zip(xs, ys) if y == p)
        pos_sum += math.log(1.0 + inner)
    neg_sum = 0.0
    for p in range(len(ps)):
        inner = sum(math.exp(alpha * (s(x, ps[p]) + delta)) for x, y in zip(xs, ys) if y != p)
        neg_sum += math.log(1.0 + inner)
    return pos_sum / len(positive_proxies) + neg_sum / len(ps)


def pml_twin(loss: ProxyAnchorLoss) -> pml_losses.ProxyAnchorLoss:
    twin = pml_losses.ProxyAnchorLoss(loss.num_classes, loss.embedding_size, margin=loss.delta,
                                      alpha=loss.alpha)
    with torch.no_grad():
        twin.proxies.copy_(loss.proxies)
    return twin.to(loss.proxies.dtype)


@pytest.mark.parametrize("seed", SEEDS)
def test_equals_equation_in_float64(seed, random_batch):
    x, y = random_batch(seed)
    loss = ProxyAnchorLoss(20, x.shape[1], generator=torch.Generator().manual_seed(seed)).double()
    expected = proxy_anchor_equation(x, y, loss.proxies)
    assert loss(x, y).item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_is_within_float32_rounding_of_the_equation(seed, random_batch):
    x, y = random_batch(seed, dtype=torch.float32)
    loss = ProxyAnchorLoss(20, x.shape[1], generator=torch.Generator().manual_seed(seed))
    value = loss(x, y)
    assert value.dtype == torch.float32
    # alpha = 32 multiplies the float32 cosine error (~1e-7) into the exponent.
    assert value.item() == pytest.approx(proxy_anchor_equation(x, y, loss.proxies), rel=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_equals_pml_with_the_same_proxies(seed, dtype, tol, random_batch):
    x, y = random_batch(seed, dtype=dtype)
    x.requires_grad_(True)
    ours = ProxyAnchorLoss(20, x.shape[1], generator=torch.Generator().manual_seed(seed)).to(dtype)
    theirs = pml_twin(ours)
    a, b = ours(x, y), theirs(x, y)
    assert a.item() == pytest.approx(b.item(), rel=tol, abs=tol)
    grad_x_ours, grad_p_ours = torch.autograd.grad(a, [x, ours.proxies])
    grad_x_pml, grad_p_pml = torch.autograd.grad(b, [x, theirs.proxies])
    torch.testing.assert_close(grad_x_ours, grad_x_pml, rtol=tol * 10, atol=tol * 10)
    torch.testing.assert_close(grad_p_ours, grad_p_pml, rtol=tol * 10, atol=tol * 10)


def test_default_init_is_pml_and_proxy_anchor_code_init():
    """kaiming_normal_(fan_out) = N(0, 2 / num_classes): the same draw as PML's for the same seed."""
    torch.manual_seed(3)
    ours = ProxyAnchorLoss(300, 64)
    torch.manual_seed(3)
    theirs = pml_losses.ProxyAnchorLoss(300, 64)
    assert torch.equal(ours.proxies.data, theirs.proxies.data)
    assert float(ours.proxies.detach().std()) == pytest.approx(math.sqrt(2 / 300), rel=0.03)
    normal = ProxyAnchorLoss(300, 64, proxy_init="standard_normal")
    assert float(normal.proxies.detach().std()) == pytest.approx(1.0, rel=0.03)


def test_generator_makes_the_init_reproducible():
    a = ProxyAnchorLoss(10, 8, generator=torch.Generator().manual_seed(1))
    b = ProxyAnchorLoss(10, 8, generator=torch.Generator().manual_seed(1))
    c = ProxyAnchorLoss(10, 8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.proxies, b.proxies) and not torch.equal(a.proxies, c.proxies)


def test_proxies_are_a_parameter_and_all_receive_gradients(random_batch):
    x, y = random_batch(0, dtype=torch.float32)
    x.requires_grad_(True)
    loss = ProxyAnchorLoss(20, x.shape[1])
    assert any(p is loss.proxies for p in loss.parameters())
    loss(x, y).backward()
    assert torch.isfinite(loss.proxies.grad).all() and torch.isfinite(x.grad).all()
    # Every proxy has negatives in this batch, so every proxy is pulled or pushed.
    assert bool((loss.proxies.grad.norm(dim=1) > 0).all())
    absent = sorted(set(range(20)) - set(y.tolist()))
    assert absent  # the negative term alone moves proxies of classes absent from the batch
    assert bool((loss.proxies.grad[absent].norm(dim=1) > 0).all())


def test_only_classes_in_the_batch_count_in_the_positive_mean():
    """|P+| is the number of classes present, not num_classes: with one class present, the
    positive term is that class's term alone."""
    x = torch.randn(6, 4, dtype=torch.float64)
    y = torch.full((6,), 2)
    loss = ProxyAnchorLoss(5, 4).double()
    assert loss(x, y).item() == pytest.approx(proxy_anchor_equation(x, y, loss.proxies), rel=1e-12)


def test_gradients_finite_at_extremes():
    # Identical embeddings, proxies on top of them, and a large alpha.
    x = torch.ones(8, 4, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    loss = ProxyAnchorLoss(4, 4, alpha=200.0)
    with torch.no_grad():
        loss.proxies.fill_(1.0)
    loss(x, y).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(loss.proxies.grad).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=0, embedding_size=4), "num_classes must be a positive integer"),
    (dict(num_classes=3, embedding_size=2.5), "embedding_size must be a positive integer"),
    (dict(num_classes=3, embedding_size=4, alpha=0), "alpha must be a finite number > 0"),
    (dict(num_classes=3, embedding_size=4, delta=-0.1), "delta must be a finite number >= 0"),
    (dict(num_classes=3, embedding_size=4, proxy_init="uniform"), "unknown proxy_init 'uniform'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        ProxyAnchorLoss(**kwargs)


@pytest.mark.parametrize("x, y, message", [
    (torch.randn(4, 4), torch.tensor([0, 1, 2, 3]), r"labels must lie in 0\.\.2"),
    (torch.randn(4, 5), torch.tensor([0, 1, 2, 0]), "built for embedding_size=4"),
    (torch.randn(4, 4), torch.tensor([0, 1]), "one label per embedding"),
    (torch.randn(4, 4), torch.tensor([0.0, 1.0, 2.0, 0.0]), "integer tensor"),
])
def test_bad_inputs(x, y, message):
    with pytest.raises(UserError, match=message) as error:
        ProxyAnchorLoss(3, 4)(x, y)
    assert "\n" not in str(error.value)
