"""The loss registry: every registered loss builds by name and trains (parametrised over the
registry itself), and bad names or parameters are one-line UserErrors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dmlrepro.losses

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
    assert {"hybrid", "multi_similarity", "proxy_anchor"} <= set(list_losses())
    assert get_loss_class("proxy_anchor") is ProxyAnchorLoss
    assert get_loss_class("multi_similarity") is MultiSimilarityLoss
    assert get_loss_class("hybrid") is HybridLoss


def test_every_loss_file_registers_in_a_fresh_interpreter():
    """Whatever was imported before, a lookup sees every ``@register_loss`` of the package."""
    declared = set()
    for path in Path(dmlrepro.losses.__file__).parent.glob("*.py"):
        declared |= set(re.findall(r'@register_loss\("([^"]+)"\)', path.read_text()))
    code = "from dmlrepro.losses.registry import list_losses; print(' '.join(list_losses()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(out.stdout.split()) == declared and {"proxy_anchor", "hybrid"} <= declared


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
    ("triplet", {}, "unknown loss 'triplet'; valid names: " + ", ".join(list_losses())),
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
