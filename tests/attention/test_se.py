"""SqueezeExcitation (Hu et al. 2018, Eq. 2–4; 002_e585b7ac4801a221.txt, Eq. 5, Table 3)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import SqueezeExcitation


def reference_output(module: SqueezeExcitation, x: torch.Tensor) -> torch.Tensor:
    """Eq. 2–4 channel by channel: z_c = mean of u_c, s = σ(W₂ δ(W₁ z)), x̃_c = s_c · u_c."""
    w1, b1 = module.squeeze_fc.weight, module.squeeze_fc.bias
    w2, b2 = module.excite_fc.weight, module.excite_fc.bias
    out = torch.empty_like(x)
    for b in range(x.shape[0]):
        z = torch.stack([x[b, c].sum() / x[b, c].numel() for c in range(x.shape[1])])
        s = torch.sigmoid(w2 @ torch.relu(w1 @ z + b1) + b2)
        for c in range(x.shape[1]):
            out[b, c] = s[c] * x[b, c]
    return out


def test_output_matches_reference() -> None:
    torch.manual_seed(0)
    module = SqueezeExcitation(32, reduction=4).double()
    x = torch.randn(2, 32, 5, 3, dtype=torch.float64)
    result = module(x)
    torch.testing.assert_close(result.out, reference_output(module, x))
    torch.testing.assert_close(result.out, result.response * x)


def test_gate_is_constant_over_positions() -> None:
    torch.manual_seed(0)
    response = SqueezeExcitation(32, reduction=4)(torch.randn(2, 32, 13, 7)).response
    assert response.shape == (2, 32, 13, 7)
    assert torch.equal(response, response[..., :1, :1].expand_as(response))


def test_shape_and_gradients_on_odd_sizes() -> None:
    torch.manual_seed(0)
    module = SqueezeExcitation(32, reduction=8)
    x = torch.randn(2, 32, 13, 7, requires_grad=True)
    result = module(x)
    assert result.out.shape == x.shape
    (result.out * torch.randn(x.shape)).sum().backward()
    assert x.grad.abs().max() > 0
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().max() > 0, name


@pytest.mark.parametrize(("channels", "reduction"), [(64, 16), (480, 4), (32, 1)])
def test_parameter_count(channels: int, reduction: int) -> None:
    hidden = channels // reduction
    expected = channels * hidden + hidden + hidden * channels + channels  # W₁, b₁, W₂, b₂
    assert sum(p.numel() for p in SqueezeExcitation(channels, reduction).parameters()) == expected


def test_default_reduction_is_sixteen() -> None:
    assert SqueezeExcitation(64).squeeze_fc.out_features == 4


def test_table3_parameters() -> None:
    """AiA-Net Table 3: SE block with r = 4 on the 480-channel map, 0.12 M parameters."""
    count = sum(p.numel() for p in SqueezeExcitation(480, reduction=4).parameters())
    assert count == 115_800 and round(count / 1e6, 2) == 0.12


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"channels": 30, "reduction": 16}, "reduction"),
        ({"channels": 32, "reduction": 0}, "reduction"),
        ({"channels": 0}, "channels"),
    ],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        SqueezeExcitation(**kwargs)
