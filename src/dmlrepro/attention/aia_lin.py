"""Linear attention of AiA-Net, without and with the inner attention (002_e585b7ac4801a221.txt,
Sec. 3.1, Eq. 1–7, Figs. 1, 2, 4)."""

from __future__ import annotations

from torch import nn

from dmlrepro.attention.aia_base import KernelAttention, reduced_channels
from dmlrepro.attention.registry import register_attention


@register_attention("lin")
class LinAttention(KernelAttention):
    """Lin-attention without AiA: ``x^z = Sigmoid(ϕ(φ(x))) ⊗ x`` (002, Eq. 7, Fig. 4).

    φ: 1×1 conv + BN + ReLU, C → C/r; ϕ: the same, C/r → C (Sec. 4.4). The kernel of Table 1 is
    the linear one, xᵀy, whose feature map is the identity. ``reduction`` is r (Sec. 4.4: 8 on
    CUHK03/CUHK01, 4 elsewhere; Table 3 and Table 8 use 4).

    Parameters: ``2·C·C/r`` weights, ``C/r + C`` conv biases, ``2·(C/r + C)`` BN affine.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        reduced = reduced_channels(channels, reduction)
        super().__init__(channels, reduction, nn.Identity(), reduced)


@register_attention("lin_aia")
class LinAiAAttention(LinAttention):
    """Lin-attention with AiA: ``x^z = Sigmoid(ϕ(φ(x)) ⊗ ϖ(GAP(φ(x)))) ⊗ x`` (002, Eq. 1–4, 6).

    As ``LinAttention`` plus the inner attention ϖ (1×1 conv + BN + ReLU, C/r → C) of
    m = GAP(φ(x)) (Eq. 2–3). SE is the special case φ = identity, ϕ ≡ 1 (Remark 1, Eq. 5–6).

    At C = 480, r = 4 (Tables 3, 8): 176,040 parameters (printed 0.18 M) and 14.8 M
    multiply-accumulates on a 16×8 map (printed 0.015 G "FLOPs").
    """

    inner_attention = True
