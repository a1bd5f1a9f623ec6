"""Compressed self-attention with low-rank approximation, CSALR (000_6bea8c3e96cdf0f5.txt,
Sec. 3.1–3.2, Eq. 9–17)."""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmlrepro.attention.base import (
    GatedResidualAttention,
    projection,
    require_divisible,
    require_group_index,
    require_positive,
)
from dmlrepro.attention.landmark_combination import combination_weights, combine_landmark_outputs
from dmlrepro.attention.registry import register_attention
from dmlrepro.cells import GROUP_MODES, require_choice
from dmlrepro.errors import UserError


def landmark_grid_for(samples: int, height: int, width: int) -> tuple[int, int]:
    """The landmark grid ``(h', w')`` with ``h'·w' = samples`` for a ``height × width`` map.

    The paper fixes only m = h'·w' (96 per group) and pools with kernel = stride = (H/h', W/w')
    (000_6bea8c3e96cdf0f5.txt, Sec. 3.2); it never gives the grid, so this rule is our
    interpretation:

    1. candidates are the factorisations ``h'·w' = samples`` with ``h' <= height``, ``w' <= width``;
    2. prefer those that tile the map exactly (h' | H and w' | W), because only then are kernel and
       stride the integers the paper's pooling implies and the pooling patches a partition;
       fall back to all candidates (adaptive, overlapping bins) when none does;
    3. among them take the most nearly square kernel, minimising ``|log(kernel_h / kernel_w)|``;
    4. break ties toward the larger w', i.e. kernels taller than wide, like the person crops.

    At 384×128 input this gives 12×8 at every stage for 96 landmarks: 96×32 (kernel 8×4),
    48×16 (4×2) and 24×8 (2×1).
    """
    require_positive("samples", samples)
    require_positive("height", height)
    require_positive("width", width)
    if samples > height * width:
        raise UserError(
            f"samples={samples} exceeds the {height}×{width}={height * width} positions of the "
            f"feature map"
        )
    candidates = [
        (rows, samples // rows)
        for rows in range(1, min(samples, height) + 1)
        if samples % rows == 0 and samples // rows <= width
    ]
    if not candidates:
        raise UserError(
            f"samples={samples} has no factorisation h'·w' with h' <= {height} and w' <= {width}"
        )
    tiling = [(rows, cols) for rows, cols in candidates if height % rows == 0 and width % cols == 0]

    def kernel_elongation(grid: tuple[int, int]) -> tuple[Fraction, int]:
        # Exact rationals so that mirror-image kernels (4×2 vs 2×4) tie exactly.
        ratio = Fraction(height * grid[1], width * grid[0])
        return max(ratio, 1 / ratio), -grid[1]

    return min(tiling or candidates, key=kernel_elongation)


def bin_membership(size: int, bins: int) -> Tensor:
    """``[size, bins]``: row i spreads weight 1 evenly over the adaptive-pooling bins holding i.

    Bins are those of ``adaptive_avg_pool`` (bin b covers ``[⌊b·size/bins⌋, ⌈(b+1)·size/bins⌉)``).
    When ``bins`` divides ``size`` every position lies in exactly one bin and this is the 0/1
    indicator of Eq. 15; otherwise neighbouring bins share a row or column and each of the
    c positions' bins gets 1/c (see ``CompressedSelfAttentionLowRank`` for why).
    """
    index = torch.arange(bins)
    start = (index * size) // bins
    end = -((-(index + 1) * size) // bins)
    position = torch.arange(size).unsqueeze(1)
    member = ((position >= start) & (position < end)).double()
    return member / member.sum(dim=1, keepdim=True)


def patch_indicator(height: int, width: int, grid: tuple[int, int]) -> Tensor:
    """``𝟙(Q_i, K'_j)`` of Eq. 15 as an ``[H·W, h'·w']`` matrix in row-major position order."""
    return torch.kron(bin_membership(height, grid[0]), bin_membership(width, grid[1]))


class LowRankFactors(NamedTuple):
    """The factors of Eq. 14 for every group: ``W`` ``[B, G, n, m]`` and ``B`` ``[B, G, m, n]``."""

    weights: Tensor
    landmark_attention: Tensor


@register_attention("csalr")
class CompressedSelfAttentionLowRank(GatedResidualAttention):
    """Multi-head CSALR (000_6bea8c3e96cdf0f5.txt, Sec. 3.2, Eq. 10–17).

    Multi-head form, as the paper writes it (Sec. 3.2, last paragraph): "We partition the feature
    maps into several groups along the channel dimension and apply CSALR in each group
    independently. Then we fuse the different groups with 1 × 1 convolution." With the default
    ``group_mode="partition"`` group g's Q_g, K_g (1×1 conv C/G→C'/G, C' = C // qk_reduction) and
    V_g (1×1 conv C/G→C/G), all with bias, read only the g-th block of C/G input channels: each
    group is a single-head CSALR of C/G channels. ``group_mode="split_heads"`` is the public code's
    reading (czyczyyzc/Compressed_Self-Attention, ``PCB_CSALR``): full-width projections C→C' and
    C→C whose outputs are split into G heads. Per group, with n = HW positions and m = ``samples``
    landmarks Q', K' obtained by average pooling Q_g and K_g onto an h'×w' grid
    (``landmark_grid_for``):

    - ``A_nm = softmax_m(Q_iᵀ K'_j) + 𝟙(Q_i, K'_j)`` (Eq. 11, 15);
    - ``A_mm = softmax_m(Q'_iᵀ K'_j) + I`` (Eq. 12, 16). It is invertible, as the paper says,
      because a strictly positive row-stochastic matrix has no eigenvalue −1, but it becomes
      ill-conditioned when the landmark softmax is sharp;
    - ``B = A_mn = softmax_n(Q'_iᵀ K_j)`` — the landmark attention map (Eq. 13);
    - ``W = A_nm A_mm⁻¹`` — the combination coefficients (Eq. 14), formed in float64 by
      ``dmlrepro.attention.landmark_combination`` (both sums of Eq. 15–16 too; a pseudo-inverse for
      matrices A_mm that are singular in floating point, counted in ``pinv_fallbacks``);
    - ``E = B V_gᵀ`` (landmark output) and ``Y_g = W E`` (Eq. 17).

    With G > 1 the G outputs are concatenated and fused by a 1×1 conv C→C (with bias), the
    paper's "we fuse the different groups with 1×1 convolution", giving the response; the gated
    residual ``I + α·response`` is then taken once for the whole map (Figure 3 draws the residual
    out of the module, and α = 0 must leave the pretrained backbone unchanged, which a per-group
    residual before a fresh fusing conv would not). With G = 1 there is nothing to fuse and the
    response is Y itself, as in Eq. 17 (``fuse`` is the identity); the public code applies its
    ``out_conv`` whatever G is. There is no 1/√d scaling, as in the paper.

    ``pinv_fallbacks`` counts the A_mm matrices (one per image and group) that were singular in
    float64 and so went through the pseudo-inverse, since construction or since it was last set
    to 0; the trainer sums it over ``model.modules()`` into ``metrics.json``.

    Interpretations where the paper is silent:

    - Pooling is adaptive, so any H, W ≥ the grid works. When the grid does not tile the map,
      adjacent bins share one row or column. A position in c bins then gets ``1/c`` in each bin's
      indicator column instead of 1, so every row of the indicator sums to 1 as it does when the
      bins tile the map. That keeps the rows of ``W·B`` summing to 1: each row of A_nm and of A_mm
      then sums to 2, so ``A_mm⁻¹ 1 = 1/2``, ``W 1 = A_nm 1 / 2 = 1`` and ``W B 1 = W 1 = 1``.
      With a 0/1 indicator a position in c bins would get row sum (1 + c)/2 instead. (Entries of
      W, and so of W·B, can be negative: the rows are affine, not convex, combinations.)
    - The grid for ``samples`` is ``landmark_grid_for``'s rule unless ``landmark_grid`` is given.
    - More landmarks than positions can only be detected at forward time; it raises there.
    - C' per group is (C/G) // qk_reduction, i.e. C' = C/4 over all groups as in the public code;
      Sec. 2.2 leaves C' open.

    The key conv keeps its bias (as the public code does, so parameter counts match) although
    it is inert: adding b to every K_j adds the same Q_iᵀb to a whole softmax row, which cancels.

    Other differences from the public code, which we do not follow: one 1×1 conv produces Q, K and
    V together (the same function, different parameter layout); landmarks come from square-stride
    pooling (stride 4, 4, 2), giving 192, 48 and 48 landmarks at stages 1–3 instead of 96; and it
    inverts A_mm with ``torch.inverse``.
    """

    def __init__(
        self,
        channels: int,
        samples: int = 96,
        groups: int = 2,
        qk_reduction: int = 4,
        landmark_grid: tuple[int, int] | None = None,
        group_mode: str = "partition",
    ) -> None:
        super().__init__()
        require_positive("channels", channels)
        require_positive("samples", samples)
        require_positive("groups", groups)
        require_positive("qk_reduction", qk_reduction)
        require_choice("group_mode", group_mode, GROUP_MODES)
        require_divisible("channels", channels, "qk_reduction", qk_reduction)
        require_divisible("channels", channels, "groups", groups)
        require_divisible("channels // qk_reduction", channels // qk_reduction, "groups", groups)
        if landmark_grid is not None:
            landmark_grid = _checked_grid(landmark_grid, samples)
        self.channels = channels
        self.samples = samples
        self.groups = groups
        self.group_mode = group_mode
        self.qk_channels = channels // qk_reduction
        self.landmark_grid = landmark_grid
        self.pinv_fallbacks = 0
        self.query = projection(channels, self.qk_channels, groups, group_mode)
        self.key = projection(channels, self.qk_channels, groups, group_mode)
        self.value = projection(channels, channels, groups, group_mode)
        self.fuse: nn.Module = nn.Conv2d(channels, channels, kernel_size=1) if groups > 1 else nn.Identity()

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        """The landmark grid used on a ``height × width`` map; ``UserError`` if it cannot fit."""
        if self.landmark_grid is None:
            return landmark_grid_for(self.samples, height, width)
        rows, cols = self.landmark_grid
        if rows > height or cols > width:
            raise UserError(
                f"landmark_grid={self.landmark_grid} (samples={self.samples}) does not fit a "
                f"{height}×{width} feature map"
            )
        return self.landmark_grid

    def _grouped(self, features: Tensor) -> Tensor:
        """``[B, C, h, w]`` → ``[B, G, C/G, h·w]``."""
        return features.flatten(2).unflatten(1, (self.groups, features.shape[1] // self.groups))

    def _queries_keys(self, x: Tensor, grid: tuple[int, int]) -> tuple[Tensor, ...]:
        """Grouped Q, K ``[B, G, C'/G, n]`` and landmarks Q', K' ``[B, G, C'/G, m]``."""
        query, key = self.query(x), self.key(x)
        query_landmarks = F.adaptive_avg_pool2d(query, grid)
        key_landmarks = F.adaptive_avg_pool2d(key, grid)
        return tuple(self._grouped(t) for t in (query, key, query_landmarks, key_landmarks))

    def _attention_blocks(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """For every group: the softmax part of ``A_nm`` (Eq. 11) and the indicator of Eq. 15
        (kept apart; ``A_nm`` is their sum), ``A_mm`` (Eq. 12, 16; float64, see
        ``landmark_combination``) and ``B = A_mn`` (Eq. 13)."""
        height, width = x.shape[-2:]
        grid = self.grid_for(height, width)
        query, key, query_landmarks, key_landmarks = self._queries_keys(x, grid)
        indicator = patch_indicator(height, width, grid).to(x.device)  # float64, see Eq. 14
        identity = torch.eye(grid[0] * grid[1], dtype=torch.float64, device=x.device)
        softmax_nm = torch.softmax(query.transpose(-1, -2) @ key_landmarks, dim=-1)
        softmax_mm = torch.softmax(query_landmarks.transpose(-1, -2) @ key_landmarks, dim=-1)
        a_mm = softmax_mm.double() + identity
        landmark_attention = torch.softmax(query_landmarks.transpose(-1, -2) @ key, dim=-1)
        return softmax_nm, indicator, a_mm, landmark_attention

    def _count_fallbacks(self, count: int) -> None:
        self.pinv_fallbacks += count

    def low_rank_factors(self, x: Tensor) -> LowRankFactors:
        """``W`` and ``B`` of Eq. 14 for every group (Eq. 11–16)."""
        softmax_nm, indicator, a_mm, landmark_attention = self._attention_blocks(x)
        weights = combination_weights(softmax_nm, indicator, a_mm, self._count_fallbacks)
        return LowRankFactors(weights, landmark_attention)

    def grouped_response(self, x: Tensor) -> Tensor:
        """``Y_g = W_g E_g`` of Eq. 17 for every group before the fusing conv, ``[B, G, C/G, n]``.

        W = A_nm A_mm⁻¹ is formed in float64, a chunk of rows at a time, and never held whole
        (``combine_landmark_outputs``), rather than evaluating A_nm · (A_mm⁻¹ E): with an
        ill-conditioned A_mm the latter cancels large terms in float32 and diverged a
        smoke-scale training run, while forming W cancels them in float64.
        """
        softmax_nm, indicator, a_mm, landmark_attention = self._attention_blocks(x)
        landmark_output = landmark_attention @ self._grouped(self.value(x)).transpose(-1, -2)
        return combine_landmark_outputs(softmax_nm, indicator, a_mm, landmark_output, self._count_fallbacks)

    def response(self, x: Tensor) -> Tensor:
        """The response before the gated residual, ``[B, C, H, W]``: the groups' Y_g, fused by a
        1×1 conv when there are several (Sec. 3.2), Y itself when G = 1 (Eq. 17)."""
        return self.fuse(self.grouped_response(x).reshape(x.shape))

    def full_attention(self, x: Tensor, group: int = 0) -> Tensor:
        """``A_nn`` of Eq. 10 on this group's Q and K, ``[B, n, n]`` — what CSALR approximates."""
        require_group_index(group, self.groups)
        query = self._grouped(self.query(x))[:, group]
        key = self._grouped(self.key(x))[:, group]
        return torch.softmax(query.transpose(-1, -2) @ key, dim=-1)

    def reconstructed_attention(self, x: Tensor, group: int = 0) -> Tensor:
        """``W·B`` of Eq. 14 for one group, ``[B, n, n]`` (the paper's Figure 4)."""
        require_group_index(group, self.groups)
        weights, landmark_attention = self.low_rank_factors(x)
        return weights[:, group] @ landmark_attention[:, group]


def _checked_grid(landmark_grid: tuple[int, int], samples: int) -> tuple[int, int]:
    if len(landmark_grid) != 2:
        raise UserError(f"landmark_grid must be (h', w'), got {landmark_grid!r}")
    rows, cols = (int(v) for v in landmark_grid)
    require_positive("landmark_grid[0]", rows)
    require_positive("landmark_grid[1]", cols)
    if rows * cols != samples:
        raise UserError(
            f"landmark_grid={landmark_grid} has {rows * cols} landmarks but samples={samples}"
        )
    return rows, cols
