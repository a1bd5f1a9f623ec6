"""CompressedSelfAttention (001_5fbd5da13318fd56.txt, Eq. 3–7)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import CompressedSelfAttention


def test_efficient_order_equals_explicit_attention() -> None:
    """E-then-W (Eq. 5–7) equals Eq. 1 with the reconstructed map f_a of Eq. 4, group by group."""
    torch.manual_seed(0)
    channels, groups = 24, 3
    module = CompressedSelfAttention(channels, bases=5, groups=groups).double()
    x = torch.randn(2, channels, 7, 5, dtype=torch.float64)
    value = module.value(x).flatten(2)
    width = channels // groups
    explicit = torch.cat(
        [
            value[:, g * width : (g + 1) * width] @ module.attention_map(x, g).transpose(1, 2)
            for g in range(groups)
        ],
        dim=1,
    )
    torch.testing.assert_close(module.response(x), explicit.reshape(x.shape))


def test_maps_are_the_two_softmaxes_of_one_conv() -> None:
    """B normalises M over positions (Eq. 3/6) and W over the D maps (Eq. 4/7)."""
    torch.manual_seed(0)
    module = CompressedSelfAttention(16, bases=4, groups=2)
    x = torch.randn(1, 16, 6, 4)
    base_maps, weights = module.base_maps_and_weights(x)
    maps = module.maps(x).flatten(2).reshape(1, 2, 4, 24)
    torch.testing.assert_close(base_maps, torch.softmax(maps, dim=-1))
    torch.testing.assert_close(weights, torch.softmax(maps, dim=2))


@pytest.mark.parametrize("size", [(12, 8), (13, 7)])
def test_reconstructed_attention_rows_sum_to_one(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttention(32, bases=8, groups=2)
    x = torch.randn(2, 32, *size)
    n = size[0] * size[1]
    for group in range(2):
        attention = module.attention_map(x, group)
        assert attention.shape == (2, n, n)
        assert (attention >= 0).all()
        torch.testing.assert_close(attention.sum(-1), torch.ones(2, n))


def test_groups_attend_differently() -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttention(32, bases=8, groups=2)
    x = torch.randn(1, 32, 6, 4)
    assert not torch.allclose(module.attention_map(x, 0), module.attention_map(x, 1))
    with pytest.raises(ValueError, match="group"):
        module.attention_map(x, 2)


@pytest.mark.parametrize(("channels", "bases", "groups"), [(256, 32, 2), (64, 8, 1), (48, 3, 4)])
def test_parameter_count(channels: int, bases: int, groups: int) -> None:
    expected = channels * groups * bases + groups * bases + channels * channels + channels + 1
    module = CompressedSelfAttention(channels, bases=bases, groups=groups)
    assert sum(p.numel() for p in module.parameters()) == expected


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"channels": 30, "groups": 4}, "groups"),
        ({"channels": 32, "bases": 0}, "bases"),
        ({"channels": 32, "groups": 0}, "groups"),
        ({"channels": -1}, "channels"),
    ],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ValueError, match=parameter):
        CompressedSelfAttention(**kwargs)
