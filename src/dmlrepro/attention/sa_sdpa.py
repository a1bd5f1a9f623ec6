"""Self-attention through ``torch.nn.functional.scaled_dot_product_attention`` — beyond the papers:
a modern fused baseline with the parameters and maths of ``sa.SelfAttention``
(000_6bea8c3e96cdf0f5.txt, Eq. 1–2)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from dmlrepro.attention.registry import register_attention
from dmlrepro.attention.sa import SelfAttention


@register_attention("sa_sdpa")
class SelfAttentionSDPA(SelfAttention):
    """Beyond the papers: a modern fused baseline. ``SelfAttention`` (000, Eq. 1–2) with the
    response computed by ``scaled_dot_product_attention`` with ``scale=1.0``, which reproduces the
    unscaled ``softmax_j(Q_iᵀK_j)`` of Eq. 1 (SDPA's default would divide by √C').

    Same constructor, parameters and state-dict keys as ``SelfAttention``, so weights load across;
    the fused kernels never form the HW×HW map (``attention_map`` still builds it, for tests and
    visualisation). The gated residual and α are inherited.
    """

    def response(self, x: Tensor) -> Tensor:
        """``Σ_j A_ij V_j`` of Eq. 2, ``[B, C, H, W]``, as one attention head."""
        query = self.query(x).flatten(2).transpose(1, 2).unsqueeze(1)  # [B, 1, HW, C']
        key = self.key(x).flatten(2).transpose(1, 2).unsqueeze(1)
        value = self.value(x).flatten(2).transpose(1, 2).unsqueeze(1)  # [B, 1, HW, C]
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        return attended.squeeze(1).transpose(1, 2).reshape(x.shape)
