"""SelfAttention (000_6bea8c3e96cdf0f5.txt, Eq. 1–2)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import SelfAttention


def reference_response(module: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """Eq. 1–2 position by position: O_i − I_i = Σ_j softmax_j(Q_iᵀK_j) V_j."""
    query, key, value = (conv(x).flatten(2) for conv in (module.query, module.key, module.value))
    out = torch.empty_like(value)
    for b in range(x.shape[0]):
        for i in range(value.shape[-1]):
            logits = torch.stack([query[b, :, i] @ key[b, :, j] for j in range(key.shape[-1])])
            out[b, :, i] = value[b] @ torch.softmax(logits, dim=0)
    return out.reshape(x.shape)


def test_response_matches_position_by_position_reference() -> None:
    torch.manual_seed(0)
    module = SelfAttention(16).double()
    x = torch.randn(2, 16, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(module.response(x), reference_response(module, x))


@pytest.mark.parametrize("size", [(12, 8), (13, 7)])
def test_attention_rows_sum_to_one(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = SelfAttention(32)
    attention = module.attention_map(torch.randn(2, 32, *size))
    n = size[0] * size[1]
    assert attention.shape == (2, n, n)
    assert (attention >= 0).all()
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, n))


def test_no_scaling_of_the_logits() -> None:
    torch.manual_seed(0)
    module = SelfAttention(64)
    x = torch.randn(1, 64, 4, 4)
    logits = module.query(x).flatten(2).transpose(1, 2) @ module.key(x).flatten(2)
    torch.testing.assert_close(module.attention_map(x), torch.softmax(logits, dim=-1))


@pytest.mark.parametrize(("channels", "qk_reduction"), [(32, 4), (64, 8), (12, 1)])
def test_parameter_count(channels: int, qk_reduction: int) -> None:
    qk = channels // qk_reduction
    expected = 2 * (channels * qk + qk) + channels * channels + channels + 1
    module = SelfAttention(channels, qk_reduction=qk_reduction)
    assert sum(p.numel() for p in module.parameters()) == expected


def test_key_bias_is_inert() -> None:
    """A key bias adds Q_iᵀb to every logit of row i, which the softmax removes (Eq. 1)."""
    torch.manual_seed(0)
    module = SelfAttention(16).double()
    x = torch.randn(1, 16, 4, 4, dtype=torch.float64)
    before = module.attention_map(x)
    with torch.no_grad():
        module.key.bias.add_(torch.randn(module.qk_channels, dtype=torch.float64))
    torch.testing.assert_close(module.attention_map(x), before)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"channels": 30}, "qk_reduction"),
        ({"channels": 0}, "channels"),
        ({"channels": 32, "qk_reduction": 0}, "qk_reduction"),
    ],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        SelfAttention(**kwargs)
