"""The loss registry: every registered loss builds by name and trains (parametrised over the
registry itself), and bad names or parameters are one-line UserErrors."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.losses import (
    HybridLoss,
    MultiSimilarityLoss,
    ProxyAnchorLoss,
    build_loss,
    get_loss_class,
    list_losses,
    loss_parameters,
)

SIZE = dict(num_classes=6, embedding_size=8)


def test_the_paper_losses_are_registered():
    assert list_losses() == ["hybrid", "multi_similarity", "proxy_anchor"]
    assert get_loss_class("proxy_anchor") is ProxyAnchorLoss
    assert get_loss_class("multi_similarity") is MultiSimilarityLoss
    assert get_loss_class("hybrid") is HybridLoss


@pytest.mark.parametrize("name", list_losses())
def test_every_registered_loss_builds_and_takes_a_step(name):
    params = {k: v for k, v in SIZE.items() if k in loss_parameters(name)}
    loss = build_loss(name, **params)
    x = torch.randn(12, 8, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    value = loss(x, y)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_build_passes_parameters():
    loss = build_loss("hybrid", **SIZE, lam=0.5, ms_variant="eq6_as_printed", alpha=16.0)
    assert loss.lam == 0.5 and loss.multi_similarity.variant == "eq6_as_printed"
    assert loss.proxy_anchor.alpha == 16.0
    assert build_loss("multi_similarity", variant="wang2019_mined").mined


@pytest.mark.parametrize("name, params, message", [
    ("triplet", {}, "unknown loss 'triplet'; valid names: hybrid, multi_similarity, proxy_anchor"),
    ("proxy_anchor", dict(**SIZE, margin=0.1),
     "unknown parameter(s) margin for loss 'proxy_anchor'; valid: num_classes, embedding_size, "
     "alpha, delta, proxy_init, generator"),
    ("proxy_anchor", dict(num_classes=3), "loss 'proxy_anchor' needs parameter(s) embedding_size"),
    ("hybrid", dict(**SIZE, variant="eq6_as_printed"), "unknown parameter(s) variant"),
    ("multi_similarity", dict(variant="x"), "unknown multi-similarity variant 'x'"),
])
def test_bad_names_and_parameters(name, params, message):
    with pytest.raises(UserError) as error:
        build_loss(name, **params)
    assert message in str(error.value) and "\n" not in str(error.value)
