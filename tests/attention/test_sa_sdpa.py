"""SelfAttentionSDPA: SA (000_6bea8c3e96cdf0f5.txt, Eq. 1–2) through
``scaled_dot_product_attention`` — beyond the papers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dmlrepro.attention import SelfAttention, SelfAttentionSDPA


def twins(channels: int, **kwargs) -> tuple[SelfAttention, SelfAttentionSDPA]:
    torch.manual_seed(0)
    reference = SelfAttention(channels, **kwargs)
    with torch.no_grad():
        reference.alpha.fill_(0.7)  # so that `out` depends on the response too
    fused = SelfAttentionSDPA(channels, **kwargs)
    fused.load_state_dict(reference.state_dict())
    return reference, fused


@pytest.mark.parametrize("size", [(12, 8), (13, 7)])
def test_equals_sa_with_the_same_weights(size: tuple[int, int]) -> None:
    reference, fused = twins(32)
    x = torch.randn(2, 32, *size)
    expected, result = reference(x), fused(x)
    torch.testing.assert_close(result.response, expected.response)
    torch.testing.assert_close(result.out, expected.out)


def test_gradients_equal_sa() -> None:
    reference, fused = twins(16, qk_reduction=2)
    x = torch.randn(2, 16, 13, 7)
    weights = torch.randn(x.shape)
    for module in (reference, fused):
        (module(x).out * weights).sum().backward()
    fused_grads = dict(fused.named_parameters())
    for name, parameter in reference.named_parameters():
        torch.testing.assert_close(fused_grads[name].grad, parameter.grad, msg=name)


def test_weights_load_both_ways() -> None:
    reference, fused = twins(32)
    assert reference.state_dict().keys() == fused.state_dict().keys()
    SelfAttention(32).load_state_dict(fused.state_dict())


def test_scale_one_is_what_makes_it_match() -> None:
    """SDPA's default 1/√C' scaling would change the map: Eq. 1 has none."""
    reference, fused = twins(64)
    x = torch.randn(1, 64, 6, 4)
    q, k, v = (
        conv(x).flatten(2).transpose(1, 2).unsqueeze(1) for conv in (fused.query, fused.key, fused.value)
    )
    scaled = F.scaled_dot_product_attention(q, k, v).squeeze(1).transpose(1, 2).reshape(x.shape)
    assert not torch.allclose(scaled, reference.response(x), atol=1e-4)


@pytest.mark.parametrize(("channels", "qk_reduction"), [(32, 4), (64, 8)])
def test_parameter_count_equals_sa(channels: int, qk_reduction: int) -> None:
    qk = channels // qk_reduction
    expected = 2 * (channels * qk + qk) + channels * channels + channels + 1
    module = SelfAttentionSDPA(channels, qk_reduction=qk_reduction)
    assert sum(p.numel() for p in module.parameters()) == expected


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [({"channels": 30}, "qk_reduction"), ({"channels": 32, "qk_reduction": 0}, "qk_reduction")],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        SelfAttentionSDPA(**kwargs)
