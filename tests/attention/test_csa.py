"""CompressedSelfAttention (001_5fbd5da13318fd56.txt, Eq. 3–7)."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.attention import CompressedSelfAttention
from dmlrepro.errors import UserError


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


@pytest.mark.parametrize("group_mode", ["partition", "split_heads"])
@pytest.mark.parametrize(("channels", "bases", "groups"), [(256, 32, 2), (64, 8, 1), (48, 3, 4)])
def test_parameter_count(channels: int, bases: int, groups: int, group_mode: str) -> None:
    """Partitioned, each group's two convs read C/G channels: 1/G of the split-heads weights."""
    reads = channels // groups if group_mode == "partition" else channels
    expected = reads * groups * bases + groups * bases + reads * channels + channels + 1
    module = CompressedSelfAttention(channels, bases=bases, groups=groups, group_mode=group_mode)
    assert sum(p.numel() for p in module.parameters()) == expected


def test_partition_applies_one_csa_per_channel_group() -> None:
    """The default is the paper's multi-head form (after Eq. 7): G independent single-group CSA
    modules on the G channel blocks, their outputs concatenated."""
    torch.manual_seed(0)
    channels, groups, bases = 24, 3, 4
    module = CompressedSelfAttention(channels, bases=bases, groups=groups).double()
    assert module.group_mode == "partition"
    x = torch.randn(2, channels, 7, 5, dtype=torch.float64)
    width = channels // groups
    pieces = []
    for g in range(groups):
        single = CompressedSelfAttention(width, bases=bases, groups=1).double()
        with torch.no_grad():
            single.maps.weight.copy_(module.maps.weight[g * bases : (g + 1) * bases])
            single.maps.bias.copy_(module.maps.bias[g * bases : (g + 1) * bases])
            single.value.weight.copy_(module.value.weight[g * width : (g + 1) * width])
            single.value.bias.copy_(module.value.bias[g * width : (g + 1) * width])
        pieces.append(single.response(x[:, g * width : (g + 1) * width]))
    torch.testing.assert_close(module.response(x), torch.cat(pieces, dim=1))


@pytest.mark.parametrize(("group_mode", "mixes"), [("partition", False), ("split_heads", True)])
def test_only_split_heads_lets_a_group_read_other_groups_channels(group_mode: str, mixes: bool) -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttention(16, bases=4, groups=2, group_mode=group_mode)
    x = torch.randn(1, 16, 6, 4)
    changed = x.clone()
    changed[:, 8:] += torch.randn(1, 8, 6, 4)
    first_half = slice(0, 8)
    same = torch.allclose(module.response(x)[:, first_half], module.response(changed)[:, first_half])
    assert same != mixes


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"channels": 30, "groups": 4}, "groups"),
        ({"channels": 32, "bases": 0}, "bases"),
        ({"channels": 32, "groups": 0}, "groups"),
        ({"channels": -1}, "channels"),
        ({"channels": 32, "group_mode": "heads"}, "group_mode"),
    ],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(UserError, match=parameter):
        CompressedSelfAttention(**kwargs)
