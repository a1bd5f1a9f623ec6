"""Self-attention for CNN feature maps (000_6bea8c3e96cdf0f5.txt, Sec. 2.2, Eq. 1–2;
001_5fbd5da13318fd56.txt, Eq. 1–2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.attention.base import GatedResidualAttention, require_divisible, require_positive
from dmlrepro.attention.registry import register_attention


@register_attention("sa")
class SelfAttention(GatedResidualAttention):
    """Single-head self-attention with a gated residual (000_6bea8c3e96cdf0f5.txt, Eq. 1–2).

    Q, K = 1×1 conv C→C' (C' = C // qk_reduction, with bias), V = 1×1 conv C→C (with bias),
    ``A = softmax_j(Q_iᵀ K_j)`` over all HW positions and ``response_i = Σ_j A_ij V_j``.
    There is no 1/√d scaling because the paper has none, and one head because the paper does not
    implement a multi-head SA (000, Sec. 4.2).

    The key conv's bias is inert (it adds Q_iᵀb to the whole softmax row i, which cancels) but is
    kept, as in the public code, so that parameter counts match it.

    Differences from the public code (czyczyyzc/Compressed_Self-Attention, ``SelfAttn``): it uses
    C' = C // 8; we default to C // 4, the reduction of the paper's CSALR Q and K.
    """

    def __init__(self, channels: int, qk_reduction: int = 4) -> None:
        super().__init__()
        require_positive("channels", channels)
        require_positive("qk_reduction", qk_reduction)
        require_divisible("channels", channels, "qk_reduction", qk_reduction)
        self.channels = channels
        self.qk_channels = channels // qk_reduction
        self.query = nn.Conv2d(channels, self.qk_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, self.qk_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)

    def attention_map(self, x: Tensor) -> Tensor:
        """``A`` of Eq. 1, ``[B, HW, HW]``; row i is position i's distribution over positions."""
        query = self.query(x).flatten(2)
        key = self.key(x).flatten(2)
        return torch.softmax(query.transpose(1, 2) @ key, dim=-1)

    def response(self, x: Tensor) -> Tensor:
        """``Σ_j A_ij V_j`` of Eq. 2, ``[B, C, H, W]``."""
        value = self.value(x).flatten(2)
        return (value @ self.attention_map(x).transpose(1, 2)).reshape(x.shape)
