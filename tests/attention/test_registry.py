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
# bias gets an exactly-zero gradient in SA, CSALR and the non-local block (Eq. 1, 11–13); only
# round-off reaches it. The non-local block's W_z conv feeds its BN, which cancels that bias too.
INERT_PARAMETERS = {"key.bias", "out_conv.bias"}

# How a module combines its response with its input, and so whether it starts as the identity.
# The papers say which do: the gated residuals x + α·response with α = 0 (000 Eq. 2, 17; 001
# Eq. 7) and the non-local block, whose W_z ends in a BN with scale γ = 0 (Wang et al. 2018,
# Sec. 4.1). AiA-Net's attentions (002 Eq. 4, 6, 7, 10, 12, 17, Table 1) and SE (Hu et al.
# Eq. 4; 002 Eq. 5) multiply the input by a sigmoid mask with no residual: they never start as
# the identity, and the identity test does not apply to them.
ZERO_GATES = {"nonlocal": "out_norm.weight"}  # besides α of every GatedResidualAttention
SIGMOID_MASKS = {
    "lin", "lin_aia", "sop", "sop_aia", "gau", "gau_aia", "nonlinear_v1", "nonlinear_v2", "se",
}


def gate_parameter(name: str) -> str | None:
    """The zero-initialised parameter that makes module ``name`` the identity, if it has one."""
    if issubclass(get_attention_class(name), GatedResidualAttention):
        return "alpha"
    return ZERO_GATES.get(name)


IDENTITY_AT_INIT = [name for name in list_attention() if gate_parameter(name) is not None]
MASKED = [name for name in list_attention() if name in SIGMOID_MASKS]


def inert_parameters(module: torch.nn.Module) -> set[str]:
    """INERT_PARAMETERS, plus the bias of every conv that feeds a BatchNorm inside a Sequential
    (AiA's conv-BN-ReLU embeddings, 002 Sec. 4.4): in training BN subtracts the batch mean, so
    the bias cancels and only round-off reaches its gradient."""
    inert = {name for name, _ in module.named_parameters() if name in INERT_PARAMETERS}
    for prefix, sub in module.named_modules():
        if isinstance(sub, torch.nn.Sequential):
            children = list(sub.named_children())
            for (name, layer), (_, following) in zip(children, children[1:]):
                if isinstance(layer, torch.nn.Conv2d) and isinstance(following, torch.nn.BatchNorm2d):
                    if layer.bias is not None:
                        inert.add(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return inert


def test_paper_modules_are_registered() -> None:
    assert {"sa", "csa", "csalr"} <= set(list_attention())
    assert {"lin", "lin_aia", "sop", "sop_aia", "gau", "gau_aia"} <= set(list_attention())
    assert {"nonlinear_v1", "nonlinear_v2", "se", "nonlocal", "sa_sdpa"} <= set(list_attention())
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
    monkeypatch.setattr(registry, "_REGISTRY", registry._REGISTRY.copy())

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


def test_every_module_declares_how_it_combines() -> None:
    """A new module must be placed: identity at init through a zero gate, or a sigmoid mask."""
    for name in list_attention():
        assert (name in IDENTITY_AT_INIT) != (name in SIGMOID_MASKS), name


@pytest.mark.parametrize("name", IDENTITY_AT_INIT)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_identity_at_initialisation(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = build_attention(name, CHANNELS)
    gate = dict(module.named_parameters())[gate_parameter(name)]
    x = torch.randn(2, CHANNELS, *size)
    result = module(x)
    assert torch.equal(gate.detach(), torch.zeros_like(gate))
    assert torch.equal(result.out, x)
    # The identity must come from the gate, not from a module that happens to vanish.
    with torch.no_grad():
        gate.fill_(0.5)
    assert not torch.equal(module(x).out, x)


@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_sigmoid_mask_modules_scale_their_input(name: str, size: tuple[int, int]) -> None:
    """out = response ⊗ x with the response a mask in (0, 1) (002 Eq. 4; Hu et al. Eq. 4)."""
    torch.manual_seed(0)
    module = build_attention(name, CHANNELS)
    x = torch.randn(2, CHANNELS, *size)
    result = module(x)
    assert torch.equal(result.out, result.response * x)
    assert (result.response > 0).all() and (result.response < 1).all()


@pytest.mark.parametrize("name", list_attention())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_gradients_reach_parameters_and_input(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = build_attention(name, CHANNELS)
    gate_name = gate_parameter(name)
    if gate_name is not None:
        # Open the gate: while it is 0, nothing upstream of it gets a gradient.
        with torch.no_grad():
            dict(module.named_parameters())[gate_name].fill_(0.5)
    x = torch.randn(2, CHANNELS, *size, requires_grad=True)
    # A random projection of the output, so that no symmetry zeroes a gradient by accident.
    (module(x).out * torch.randn(x.shape)).sum().backward()

    assert x.grad is not None and x.grad.abs().max() > 0
    inert = inert_parameters(module)
    for parameter_name, parameter in module.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        if parameter_name not in inert:
            assert parameter.grad.abs().max() > 0, parameter_name
