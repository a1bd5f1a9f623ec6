"""CompressedSelfAttentionLowRank (000_6bea8c3e96cdf0f5.txt, Sec. 3.2, Eq. 10–17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models import resnet50

from dmlrepro.attention import CompressedSelfAttentionLowRank, landmark_grid_for
from dmlrepro.attention.csalr import patch_indicator
from dmlrepro.errors import UserError

SAMPLE_SWEEP = (6, 12, 24, 48, 96, 192)


def structured_image(height: int = 96, width: int = 32) -> torch.Tensor:
    """A deterministic RGB image with smooth gradients, a disc and a rectangle, ``[1, 3, H, W]``."""
    yy, xx = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    image = np.stack([yy, xx, 0.5 + 0.5 * np.sin(6 * yy) * np.cos(4 * xx)])
    disc = 9 * (yy - 0.3) ** 2 + (xx - 0.5) ** 2 < 0.1
    image[:, disc] = np.array([1.0, 0.2, 0.1])[:, None]
    rectangle = (yy > 0.55) & (yy < 0.85) & (xx > 0.2) & (xx < 0.8)
    image[:, rectangle] = np.array([0.1, 0.3, 0.9])[:, None]
    return torch.from_numpy(image).float().unsqueeze(0)


@pytest.fixture(scope="module")
def feature_map() -> torch.Tensor:
    """A real conv feature map with spatial redundancy: ResNet-50 stem + layer1, ``[1, 256, 24, 8]``."""
    torch.manual_seed(0)
    net = resnet50(weights=None).eval()
    stem = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
    with torch.no_grad():
        return stem(structured_image()).double()


def adaptive_bins(size: int, bins: int) -> list[range]:
    return [range(math.floor(b * size / bins), math.ceil((b + 1) * size / bins)) for b in range(bins)]


def reference_response(module: CompressedSelfAttentionLowRank, x: torch.Tensor) -> torch.Tensor:
    """Eq. 11–17 written out per sample and group, with explicit patches and an explicit inverse."""
    batch, channels, height, width = x.shape
    grid = module.grid_for(height, width)
    patches = [
        [r * width + c for r in rows for c in cols]
        for rows in adaptive_bins(height, grid[0])
        for cols in adaptive_bins(width, grid[1])
    ]
    m, n = len(patches), height * width
    indicator = torch.zeros(n, m, dtype=x.dtype)
    for j, patch in enumerate(patches):
        indicator[patch, j] = 1.0
    indicator /= indicator.sum(dim=1, keepdim=True)  # a position shared by c patches gets 1/c each

    query, key, value = (conv(x).flatten(2) for conv in (module.query, module.key, module.value))
    qk_width, v_width = module.qk_channels // module.groups, channels // module.groups
    outputs = torch.empty(batch, channels, n, dtype=x.dtype)
    for b in range(batch):
        for g in range(module.groups):
            q = query[b, g * qk_width : (g + 1) * qk_width]
            k = key[b, g * qk_width : (g + 1) * qk_width]
            v = value[b, g * v_width : (g + 1) * v_width]
            q_land = torch.stack([q[:, patch].mean(dim=1) for patch in patches], dim=1)
            k_land = torch.stack([k[:, patch].mean(dim=1) for patch in patches], dim=1)
            a_nm = torch.softmax(q.T @ k_land, dim=1) + indicator
            a_mm = torch.softmax(q_land.T @ k_land, dim=1) + torch.eye(m, dtype=x.dtype)
            landmark_attention = torch.softmax(q_land.T @ k, dim=1)
            combination = a_nm @ torch.linalg.inv(a_mm)
            outputs[b, g * v_width : (g + 1) * v_width] = (combination @ landmark_attention @ v.T).T
    return module.fuse(outputs.reshape(x.shape))


def relative_error(module: CompressedSelfAttentionLowRank, x: torch.Tensor) -> float:
    full = module.full_attention(x)
    return ((module.reconstructed_attention(x) - full).norm() / full.norm()).item()


# ---- landmark grid -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "height", "width", "grid"),
    [
        (96, 96, 32, (12, 8)),  # stage 1 at 384×128: kernel 8×4
        (96, 48, 16, (12, 8)),  # stage 2: 4×2 ties with 2×4; the taller kernel wins
        (96, 24, 8, (12, 8)),  # stage 3: 2×1 ties with 1×2
        (192, 24, 8, (24, 8)),  # every position a landmark
        (48, 24, 8, (12, 4)),  # square 2×2 kernels
        (6, 13, 7, (3, 2)),  # nothing tiles 13×7: adaptive bins, most nearly square kernel
        (91, 13, 7, (13, 7)),
    ],
)
def test_landmark_grid_for(samples: int, height: int, width: int, grid: tuple[int, int]) -> None:
    assert landmark_grid_for(samples, height, width) == grid


@pytest.mark.parametrize(("samples", "height", "width"), [(97, 12, 8), (7, 6, 6), (5, 2, 2)])
def test_landmark_grid_for_refuses_impossible_samples(samples: int, height: int, width: int) -> None:
    with pytest.raises(ValueError, match="samples"):
        landmark_grid_for(samples, height, width)


@pytest.mark.parametrize(("height", "width", "grid"), [(13, 7, (3, 2)), (12, 8, (3, 2)), (9, 9, (4, 5))])
def test_indicator_uses_the_pooling_bins(height: int, width: int, grid: tuple[int, int]) -> None:
    """Averaging over the indicator's patches reproduces adaptive_avg_pool2d, so 𝟙 of Eq. 15
    marks exactly the patch each landmark was pooled from."""
    indicator = patch_indicator(height, width, grid)
    torch.testing.assert_close(indicator.sum(dim=1), torch.ones(height * width, dtype=indicator.dtype))
    member = (indicator > 0).double()
    x = torch.randn(3, height, width, dtype=torch.float64)
    pooled = (x.flatten(1) @ member) / member.sum(dim=0)
    torch.testing.assert_close(pooled, F.adaptive_avg_pool2d(x, grid).flatten(1))


def test_indicator_is_zero_one_when_the_grid_tiles_the_map() -> None:
    indicator = patch_indicator(24, 8, (12, 8))
    assert set(indicator.unique().tolist()) == {0.0, 1.0}


# ---- the module ------------------------------------------------------------------------------


@pytest.mark.parametrize("group_mode", ["partition", "split_heads"])
@pytest.mark.parametrize(("size", "samples", "groups"), [((6, 4), 6, 2), ((7, 5), 6, 2), ((5, 5), 4, 4), ((6, 4), 6, 1)])
def test_response_matches_explicit_reference(size: tuple[int, int], samples: int, groups: int, group_mode: str) -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(32, samples=samples, groups=groups, group_mode=group_mode).double()
    x = torch.randn(2, 32, *size, dtype=torch.float64)
    torch.testing.assert_close(module.response(x), reference_response(module, x))


@pytest.mark.parametrize("size", [(12, 8), (13, 7)])
def test_full_and_reconstructed_rows_sum_to_one(size: tuple[int, int]) -> None:
    """Rows of A_nm and A_mm each sum to 2, so A_mm⁻¹1 = 1/2, W1 = 1 and WB1 = 1 (docstring)."""
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(32, samples=6, groups=2).double()
    x = torch.randn(2, 32, *size, dtype=torch.float64)
    n = size[0] * size[1]
    for group in range(2):
        full = module.full_attention(x, group)
        assert full.shape == (2, n, n) and (full >= 0).all()
        torch.testing.assert_close(full.sum(-1), torch.ones(2, n, dtype=x.dtype))
        reconstructed = module.reconstructed_attention(x, group)
        assert reconstructed.shape == (2, n, n)
        torch.testing.assert_close(reconstructed.sum(-1), torch.ones(2, n, dtype=x.dtype))


@pytest.mark.parametrize("qk_scale", [1.0, 4.0])
@pytest.mark.parametrize("groups", [1, 2])
def test_reconstruction_improves_with_landmarks(
    feature_map: torch.Tensor, groups: int, qk_scale: float
) -> None:
    """‖WB − A‖/‖A‖ (Eq. 14 vs Eq. 10) falls as the landmarks grow and is 0 when all n positions are
    landmarks. ``qk_scale`` sharpens the maps (logits × qk_scale²) beyond the near-uniform ones of
    a fresh init, so that the test does not rest on A being almost constant."""
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(256, samples=SAMPLE_SWEEP[0], groups=groups).double()
    with torch.no_grad():
        for conv in (module.query, module.key):
            conv.weight.mul_(qk_scale)
            conv.bias.mul_(qk_scale)
    errors = []
    for samples in SAMPLE_SWEEP:
        module.samples = samples
        errors.append(relative_error(module, feature_map))

    assert feature_map.shape[-2] * feature_map.shape[-1] == SAMPLE_SWEEP[-1]
    assert errors[-1] < 1e-4
    for fewer, more in zip(errors, errors[1:]):
        assert more <= fewer * (1 + 1e-3), errors
    # Better by far than the trivial approximation A ≈ 1/n, which also has rows summing to 1.
    full = module.full_attention(feature_map)
    uniform_error = ((full - 1 / full.shape[-1]).norm() / full.norm()).item()
    assert errors[SAMPLE_SWEEP.index(96)] < 0.5 * uniform_error, (errors, uniform_error)


def test_every_position_a_landmark_is_exact_in_float32(feature_map: torch.Tensor) -> None:
    """With m = n the landmarks are Q and K themselves, A_nm = A_mm, W = I and WB = A (Eq. 14)."""
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(256, samples=192, groups=2)
    x = feature_map.float()
    weights, _ = module.low_rank_factors(x)
    torch.testing.assert_close(weights, torch.eye(192).expand_as(weights), atol=1e-5, rtol=0)
    assert relative_error(module, x) < 1e-4


def test_multi_head_groups_split_query_key_channels() -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(32, samples=6, groups=2)
    x = torch.randn(1, 32, 6, 4)
    query, key = module.query(x).flatten(2), module.key(x).flatten(2)
    second_half = slice(module.qk_channels // 2, module.qk_channels)
    expected = torch.softmax(query[:, second_half].transpose(1, 2) @ key[:, second_half], dim=-1)
    torch.testing.assert_close(module.full_attention(x, group=1), expected)


def test_explicit_landmark_grid() -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(32, samples=8, landmark_grid=(2, 4))
    assert module.grid_for(12, 8) == (2, 4)
    assert module(torch.randn(1, 32, 12, 8)).out.shape == (1, 32, 12, 8)
    with pytest.raises(ValueError, match="landmark_grid"):
        module(torch.randn(1, 32, 12, 3))
    with pytest.raises(ValueError, match="landmark_grid"):
        CompressedSelfAttentionLowRank(32, samples=96, landmark_grid=(2, 4))


def test_more_landmarks_than_positions_raises_at_forward() -> None:
    module = CompressedSelfAttentionLowRank(32, samples=96)
    with pytest.raises(ValueError, match="samples"):
        module(torch.randn(1, 32, 13, 7))


@pytest.mark.parametrize("group_mode", ["partition", "split_heads"])
@pytest.mark.parametrize(("channels", "qk_reduction", "groups"), [(256, 4, 2), (64, 8, 1), (256, 4, 8)])
def test_parameter_count(channels: int, qk_reduction: int, groups: int, group_mode: str) -> None:
    """Q, K, V read C/G channels per group when partitioned (C when split into heads); the fusing
    1×1 conv C→C exists only with several groups (Sec. 3.2; Eq. 17 has none)."""
    qk = channels // qk_reduction
    reads = channels // groups if group_mode == "partition" else channels
    fuse = channels * channels + channels if groups > 1 else 0
    expected = 2 * (reads * qk + qk) + (reads * channels + channels) + fuse + 1
    module = CompressedSelfAttentionLowRank(channels, qk_reduction=qk_reduction, groups=groups, group_mode=group_mode)
    assert sum(p.numel() for p in module.parameters()) == expected


def test_one_group_is_eq_17_without_a_fusing_conv() -> None:
    """G = 1: the response is Σ_k W_ik E_k itself (Eq. 17), with E = B Vᵀ — no 1×1 conv after it."""
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(16, samples=6, groups=1).double()
    x = torch.randn(2, 16, 6, 4, dtype=torch.float64)
    weights, landmark_attention = module.low_rank_factors(x)
    value = module.value(x).flatten(2)  # [B, C, n]
    expected = (weights[:, 0] @ landmark_attention[:, 0] @ value.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(module.response(x), expected.reshape(x.shape))


def test_partition_applies_one_csalr_per_channel_group_then_fuses() -> None:
    """The default multi-head form (Sec. 3.2): "partition the feature maps into several groups
    along the channel dimension and apply CSALR in each group independently. Then we fuse the
    different groups with 1 × 1 convolution" — G single-group modules on the channel blocks."""
    torch.manual_seed(0)
    channels, groups = 32, 2
    module = CompressedSelfAttentionLowRank(channels, samples=6, groups=groups).double()
    assert module.group_mode == "partition"
    x = torch.randn(2, channels, 6, 4, dtype=torch.float64)
    width, qk_width = channels // groups, module.qk_channels // groups
    pieces = []
    for g in range(groups):
        single = CompressedSelfAttentionLowRank(width, samples=6, groups=1).double()
        with torch.no_grad():
            for name, size in (("query", qk_width), ("key", qk_width), ("value", width)):
                getattr(single, name).weight.copy_(getattr(module, name).weight[g * size : (g + 1) * size])
                getattr(single, name).bias.copy_(getattr(module, name).bias[g * size : (g + 1) * size])
        pieces.append(single.response(x[:, g * width : (g + 1) * width]))
    torch.testing.assert_close(module.response(x), module.fuse(torch.cat(pieces, dim=1)))


@pytest.mark.parametrize(("group_mode", "mixes"), [("partition", False), ("split_heads", True)])
def test_only_split_heads_lets_a_group_read_other_groups_channels(group_mode: str, mixes: bool) -> None:
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(32, samples=6, groups=2, group_mode=group_mode)
    x = torch.randn(1, 32, 6, 4)
    changed = x.clone()
    changed[:, 16:] += torch.randn(1, 16, 6, 4)
    same = torch.allclose(module.grouped_response(x)[:, 0], module.grouped_response(changed)[:, 0])
    assert same != mixes


def test_a_mm_is_summed_in_float64() -> None:
    """A_mm = softmax + I (Eq. 16) keeps every float32 softmax entry exactly: summed in float32,
    each diagonal entry s + 1 would be rounded to the spacing of [1, 2), 2⁻²³."""
    torch.manual_seed(0)
    module = CompressedSelfAttentionLowRank(32, samples=6, groups=2)
    with torch.no_grad():
        module.query.weight.mul_(8.0)
        module.key.weight.mul_(8.0)
    x = torch.randn(2, 32, 6, 4)
    _, _, a_mm, _ = module._attention_blocks(x)
    _, _, query_landmarks, key_landmarks = module._queries_keys(x, module.grid_for(6, 4))
    softmax_mm = torch.softmax(query_landmarks.transpose(-1, -2) @ key_landmarks, dim=-1)
    exact = softmax_mm.double() + torch.eye(6, dtype=torch.float64)
    assert not torch.equal((softmax_mm + torch.eye(6)).double(), exact)  # float32 would round
    assert a_mm.dtype == torch.float64 and torch.equal(a_mm, exact)


def swapped_landmarks(batch: int, scale: float = 30.0) -> tuple[CompressedSelfAttentionLowRank, torch.Tensor]:
    """A module and input whose landmark softmax is the swap of its 2 landmarks, exactly: Q = s·x₀,
    K = −s·x₀ on a map that is +1 above and −1 below, so Q'₀ = s, Q'₁ = −s, K'₀ = −s, K'₁ = s and
    softmax(Q'ᵀK') saturates to [[0, 1], [1, 0]]; A_mm = that + I has eigenvalue 0."""
    module = CompressedSelfAttentionLowRank(4, samples=2, groups=1, landmark_grid=(2, 1))
    with torch.no_grad():
        for conv, sign in ((module.query, 1.0), (module.key, -1.0)):
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[0, 0] = sign * scale
    x = torch.randn(batch, 4, 4, 2)
    x[:, 0, :2], x[:, 0, 2:] = 1.0, -1.0
    return module, x


def test_pinv_fallbacks_counts_singular_a_mm() -> None:
    module, x = swapped_landmarks(batch=3)
    assert module.pinv_fallbacks == 0
    out = module(x).out
    assert torch.isfinite(out).all()
    assert module.pinv_fallbacks == 3  # one A_mm per image and group, each singular
    module(x)
    assert module.pinv_fallbacks == 6
    module.pinv_fallbacks = 0
    regular, y = swapped_landmarks(batch=3, scale=0.5)  # the same map, an invertible A_mm
    regular(y)
    module(y[:1])
    assert regular.pinv_fallbacks == 0 and module.pinv_fallbacks == 1


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"channels": 30}, "qk_reduction"),
        ({"channels": 36, "groups": 8}, "groups"),
        ({"channels": 32, "groups": 16}, "groups"),  # C' = 8 channels cannot make 16 heads
        ({"channels": 32, "samples": 0}, "samples"),
        ({"channels": 32, "groups": 0}, "groups"),
        ({"channels": 32, "qk_reduction": 0}, "qk_reduction"),
        ({"channels": 32, "group_mode": "partitioned"}, "group_mode"),
    ],
)
def test_invalid_configuration_names_the_parameter(kwargs: dict, parameter: str) -> None:
    with pytest.raises(UserError, match=parameter):
        CompressedSelfAttentionLowRank(**kwargs)
