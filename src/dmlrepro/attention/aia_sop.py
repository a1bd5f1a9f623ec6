"""Second-order polynomial attention of AiA-Net, without and with the inner attention
(002_e585b7ac4801a221.txt, Sec. 3.2, Eq. 8–12, Figs. 5a, 5c, 6)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.attention.aia_base import KernelAttention, reduced_channels
from dmlrepro.attention.base import require_positive
from dmlrepro.attention.registry import register_attention


class SecondOrderPooling(nn.Module):
    """``SoP(x̄) = Vec(UTri(x̄ x̄ᵀ))`` at every position (002, Eq. 8–9, Fig. 6).

    ``[B, c̄, H, W]`` → ``[B, c̄(c̄+1)/2, H, W]``: the products x̄_u x̄_s for u ≤ s in row-major
    upper-triangle order (``torch.triu_indices``), diagonal included, each off-diagonal product
    once and unscaled, as Eq. 9 writes it (no √2, no signed square root). Only these products are
    formed, never the c̄×c̄ matrix.

    Eq. 9 and Eq. 11 disagree: Eq. 11 writes the inner product of two SoP vectors with a double
    sum over s ≠ u, which counts every off-diagonal pair twice and equals (x̄_iᵀx̄_j)², the
    full Vec(Y). With Eq. 9's upper triangle the inner product is
    ``Σ_u (x_u y_u)² + Σ_{u<s} x_u x_s y_u y_s = ½((xᵀy)² + Σ_u x_u² y_u²)``. We follow Eq. 9,
    which defines the operation and fixes the dimension c̄(c̄+1)/2 that Table 8's count uses.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        require_positive("in_channels", in_channels)
        self.in_channels = in_channels
        self.out_channels = in_channels * (in_channels + 1) // 2
        rows, cols = torch.triu_indices(in_channels, in_channels)
        # Derived from in_channels alone, so not part of the state dict.
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.rows] * x[:, self.cols]


@register_attention("sop")
class SoPAttention(KernelAttention):
    """SoP-attention without AiA: ``x^z = Sigmoid(ϕ(SoP(φ(x)))) ⊗ x`` (002, Eq. 12, Fig. 5c).

    φ: 1×1 conv + BN + ReLU, C → c̄ = C/r; SoP: Eq. 8–9 (``SecondOrderPooling``), c̄ → c̄(c̄+1)/2,
    the explicit feature map of the second-order polynomial kernel of Table 1; ϕ: 1×1 conv + BN +
    ReLU, c̄(c̄+1)/2 → C. ``reduction`` is r (Sec. 4.4: 8 on CUHK03/CUHK01, 4 elsewhere; Table 8
    uses 8). The kernel's constant c of Table 1 has no counterpart in Eq. 8–9, so none here.

    Parameters, with d = c̄(c̄+1)/2: ``C·c̄ + d·C`` weights, ``c̄ + C`` conv biases,
    ``2·(c̄ + C)`` BN affine.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        reduced = reduced_channels(channels, reduction)
        pooling = SecondOrderPooling(reduced)
        super().__init__(channels, reduction, pooling, pooling.out_channels)


@register_attention("sop_aia")
class SoPAiAAttention(SoPAttention):
    """SoP-attention with AiA: ``Sigmoid(ϖ(m) ⊗ ϕ(x̃)) ⊗ x`` with x̃ = SoP(φ(x)) and
    m = GAP(x̃) (002, Eq. 8–10 and 4, Fig. 5a).

    m is the upper triangle of the empirical second-moment matrix ``1/hw Σ_i x̄_i x̄_iᵀ`` of the
    embedded map (text after Eq. 10). ϖ: 1×1 conv + BN + ReLU, c̄(c̄+1)/2 → C.

    At C = 480, r = 8 (Table 8): 1,788,660 parameters (printed 1.79 M) and 117.0 M
    multiply-accumulates on a 16×8 map (printed 0.117 G "FLOPs"), not counting the 0.23 M
    products of SoP itself, which are element-wise.
    """

    inner_attention = True
