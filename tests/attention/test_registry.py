"""The attention registry, and properties every registered module must have (timm style: the tests
are parametrised over ``list_attention()`` so a newly registered module is tested automatically)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import (
    AttentionOutput,
    GatedResidualAttention,
    build_attention,
    get_attention_class,
    list_attention,
    register_attention,
)
from dmlrepro.attention import registry

CHANNELS = 32
# 12×8 tiles the default CSALR grid (12×8) exactly; 15×9 does not, so its pooling bins overlap.
SIZES = [(12, 8), (15, 9)]
# The softmax over keys is invariant to adding the same vector to every key, so a key conv's
# bias gets an exactly-zero gradient in SA and CSALR (Eq. 1, 11–13); only round-off reaches it.
INERT_PARAMETERS = {"key.bias"}


def test_paper_modules_are_registered() -> None:
    assert {"sa", "csa", "csalr"} <= set(list_attention())
    assert list_attention() == sorted(list_attention())


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises((KeyError, ValueError)) as info:
        build_attention("no-such-attention", CHANNELS)
    for name in list_attention():
        assert name in str(info.value)


def test_build_passes_keyword_arguments() -> None:
    module = build_attention("csalr", CHANNELS, samples=6, groups=4)
    assert type(module) is get_attention_class("csalr")
    assert (module.samples, module.groups) == (6, 4)


def test_duplicate_name_from_another_class_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_attention("test-only")
    class First(GatedResidualAttention):
        pass

    register_attention("test-only")(First)  # the same class again is harmless
    with pytest.raises(ValueError, match="test-only"):

        @register_attention("test-only")
        class Second(GatedResidualAttention):
            pass


@pytest.mark.parametrize("name", list_attention())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_output_shape_matches_input(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = build_attention(name, CHANNELS)
    x = torch.randn(2, CHANNELS, *size)
    result = module(x)
    assert isinstance(result, AttentionOutput)
    assert result.out.shape == x.shape
    assert result.response.shape == x.shape


@pytest.mark.parametrize("name", list_attention())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_identity_at_initialisation(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = build_attention(name, CHANNELS)
    x = torch.randn(2, CHANNELS, *size)
    result = module(x)
    assert torch.equal(module.alpha.detach(), torch.zeros(1))
    assert torch.equal(result.out, x)
    # The identity must come from α, not from a response that happens to vanish.
    assert result.response.abs().max() > 0


@pytest.mark.parametrize("name", list_attention())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_gradients_reach_parameters_and_input(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = build_attention(name, CHANNELS)
    with torch.no_grad():
        module.alpha.fill_(0.5)
    x = torch.randn(2, CHANNELS, *size, requires_grad=True)
    # A random projection of the output, so that no symmetry zeroes a gradient by accident.
    (module(x).out * torch.randn(x.shape)).sum().backward()

    assert x.grad is not None and x.grad.abs().max() > 0
    for parameter_name, parameter in module.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        if parameter_name not in INERT_PARAMETERS:
            assert parameter.grad.abs().max() > 0, parameter_name
