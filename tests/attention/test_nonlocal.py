"""NonLocalBlock (Wang et al. 2018, Eq. 1, 3, 6; 002_e585b7ac4801a221.txt, Table 3)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import NonLocalBlock


def reference_y(module: NonLocalBlock, x: torch.Tensor) -> torch.Tensor:
    """y_i = Σ_j f(x_i, x_j) g(x_j) / Σ_j f(x_i, x_j), f = exp(θ(x_i)ᵀφ(x_j)) (Eq. 1, 3)."""
    theta, phi, g = (conv(x).flatten(2) for conv in (module.query, module.key, module.value))
    y = torch.empty_like(g)
    for b in range(x.shape[0]):
        for i in range(g.shape[-1]):
            f = torch.exp(theta[b, :, i] @ phi[b])
            y[b, :, i] = g[b] @ f / f.sum()
    return y.unflatten(2, x.shape[-2:])


def open_gate(module: NonLocalBlock) -> None:
    with torch.no_grad():
        module.out_norm.weight.normal_()
        module.out_norm.bias.normal_()


def test_identity_at_initialisation_in_train_and_eval() -> None:
    """BN scale γ = 0 at W_z (Sec. 4.1): z = x exactly, whatever the BN statistics."""
    torch.manual_seed(0)
    module = NonLocalBlock(32)
    x = torch.randn(2, 32, 6, 5)
    assert torch.equal(module(x).out, x)
    module.eval()
    assert torch.equal(module(x).out, x)
    assert torch.equal(module(x).response, torch.zeros_like(x))


def test_output_matches_reference() -> None:
    torch.manual_seed(0)
    module = NonLocalBlock(16, reduction=2).double().eval()
    open_gate(module)
    x = torch.randn(2, 16, 4, 3, dtype=torch.float64)
    expected_response = module.out_norm(module.out_conv(reference_y(module, x)))
    result = module(x)
    torch.testing.assert_close(result.response, expected_response)
    torch.testing.assert_close(result.out, x + expected_response)


@pytest.mark.parametrize("size", [(12, 8), (13, 7)])
def test_attention_rows_sum_to_one(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    attention = NonLocalBlock(32).attention_map(torch.randn(2, 32, *size))
    n = size[0] * size[1]
    assert attention.shape == (2, n, n) and (attention >= 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, n))


def test_shape_and_gradients_on_odd_sizes() -> None:
    torch.manual_seed(0)
    module = NonLocalBlock(32, reduction=4)
    open_gate(module)
    x = torch.randn(2, 32, 13, 7, requires_grad=True)
    result = module(x)
    assert result.out.shape == result.response.shape == x.shape
    (result.out * torch.randn(x.shape)).sum().backward()
    assert x.grad.abs().max() > 0
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        if name not in ("key.bias", "out_conv.bias"):  # cancelled by the softmax / by BN
            assert parameter.grad.abs().max() > 0, name


@pytest.mark.parametrize(("channels", "reduction"), [(32, 2), (480, 4), (64, 8)])
def test_parameter_count(channels: int, reduction: int) -> None:
    inner = channels // reduction
    expected = 3 * (channels * inner + inner)  # θ, φ, g
    expected += inner * channels + channels  # W_z conv
    expected += 2 * channels  # BN γ, β
    assert sum(p.numel() for p in NonLocalBlock(channels, reduction).parameters()) == expected


def test_table3_parameters() -> None:
    """AiA-Net Table 3: NL block with r = 4 on the 480-channel map, 0.23 M parameters."""
    count = sum(p.numel() for p in NonLocalBlock(480, reduction=4).parameters())
    assert count == 232_200 and round(count / 1e6, 2) == 0.23


def test_default_inner_channels_are_half() -> None:
    assert NonLocalBlock(64).inner_channels == 32


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"channels": 31}, "reduction"),
        ({"channels": 32, "reduction": 0}, "reduction"),
        ({"channels": -4}, "channels"),
    ],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        NonLocalBlock(**kwargs)
