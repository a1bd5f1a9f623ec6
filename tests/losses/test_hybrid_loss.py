"""The hybrid objective L = l_m + lambda l_p (003_72cd4b33cee60b89.txt, Eq. 7)."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning import losses as pml_losses

from dmlrepro.errors import UserError
from dmlrepro.losses import HybridLoss, MS_VARIANTS, MultiSimilarityLoss, ProxyAnchorLoss

SEEDS = range(6)


@pytest.mark.parametrize("seed", SEEDS)
def test_lambda_weights_the_proxy_anchor_term(seed, random_batch):
    x, y = random_batch(seed)
    hybrid = HybridLoss(20, x.shape[1], generator=torch.Generator().manual_seed(seed)).double()
    ms = MultiSimilarityLoss()(x, y)
    pa = ProxyAnchorLoss(20, x.shape[1]).double()
    with torch.no_grad():
        pa.proxies.copy_(hybrid.proxies)
    assert hybrid.lam == 0.03
    assert hybrid(x, y).item() == pytest.approx((ms + 0.03 * pa(x, y)).item(), rel=1e-12)
    terms = hybrid.terms(x, y)
    assert terms["multi_similarity"].item() == pytest.approx(ms.item(), rel=1e-12)
    assert terms["proxy_anchor"].item() == pytest.approx(pa(x, y).item(), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_equals_pml_composite(seed, dtype, tol, random_batch):
    """PML MultiSimilarityLoss(2, 50, base=1) + 0.03 ProxyAnchorLoss(margin 0.1, alpha 32)."""
    x, y = random_batch(seed, dtype=dtype)
    x.requires_grad_(True)
    hybrid = HybridLoss(20, x.shape[1]).to(dtype)
    pa = pml_losses.ProxyAnchorLoss(20, x.shape[1], margin=0.1, alpha=32)
    with torch.no_grad():
        pa.proxies.copy_(hybrid.proxies)
    pa = pa.to(dtype)
    ms = pml_losses.MultiSimilarityLoss(alpha=2, beta=50, base=1)
    ours, theirs = hybrid(x, y), ms(x, y) + 0.03 * pa(x, y)
    assert ours.item() == pytest.approx(theirs.item(), rel=tol, abs=tol)
    g_ours = torch.autograd.grad(ours, [x, hybrid.proxies])
    g_pml = torch.autograd.grad(theirs, [x, pa.proxies])
    for a, b in zip(g_ours, g_pml):
        torch.testing.assert_close(a, b, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("variant", MS_VARIANTS)
def test_gradients_reach_the_embeddings_and_every_proxy(variant, random_batch):
    x, y = random_batch(2, dtype=torch.float32)
    x.requires_grad_(True)
    hybrid = HybridLoss(20, x.shape[1], ms_variant=variant)
    assert hybrid.multi_similarity.variant == variant
    assert hybrid.proxies is hybrid.proxy_anchor.proxies
    assert [p is hybrid.proxies for p in hybrid.parameters()] == [True]
    hybrid(x, y).backward()
    assert torch.isfinite(x.grad).all() and bool((x.grad.norm(dim=1) > 0).all())
    assert torch.isfinite(hybrid.proxies.grad).all()
    assert bool((hybrid.proxies.grad.norm(dim=1) > 0).all())


def test_lambda_zero_is_the_multi_similarity_loss(random_batch):
    x, y = random_batch(0)
    hybrid = HybridLoss(20, x.shape[1], lam=0.0).double()
    assert hybrid(x, y).item() == MultiSimilarityLoss()(x, y).item()


def test_bad_lambda():
    with pytest.raises(UserError, match="lam must be a finite number >= 0"):
        HybridLoss(3, 4, lam=-1)
