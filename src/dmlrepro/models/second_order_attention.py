"""Second-order attention (SOA) of Multi-Head DML (003_72cd4b33cee60b89.txt, Sec. 3.2, Eq. 1–3).

The paper "adopt[s] the second-order attention block [55, 38]" ([38] is SOLAR, Ng et al. 2020):

* q, k: "1×1 2d-convolutions with possible reduction of number of channels (d)", flattened to
  ``R^{d×hw}``;  ``a = softmax(ζ qᵀk)`` with ``a ∈ R^{hw×hw}`` (Eq. 1), ζ = 1 (Sec. 4.2).  The
  softmax runs over the key positions, so row i of ``a`` (location i attending to the whole map)
  sums to 1.
* v: a third 1×1 convolution, flattened to ``R^{hw×d}``.
* ``f^soa = f + φ(a × v)`` (Eq. 2), φ "yet another 1×1 convolution", here d → C so that the sum with
  f is defined (the paper writes ``f^soa ∈ R^{h×w×d}``, which holds only for d = C).

What the paper does not give, and what this module chooses:

* **d** is a constructor argument (``inner_channels``).  The model uses SOLAR's rule (C/4 on
  conv4_x, C/2 on conv5_x; see ``multi_head_embedding``), because SOLAR is the SOA block the
  paper adopts.
* The projections are plain 1×1 convolutions with bias, as the paper describes them.  SOLAR adds
  BN + ReLU after q and k and scales by ``d^-1/2``; the paper has neither and sets ζ = 1.  ``zeta``
  is a constructor argument so that a cell can try SOLAR's ``d^-1/2``.
* **Initialisation**: q, k, v are Kaiming-normal with zero bias, and φ has zero weight and zero
  bias, both as in SOLAR's ``SOABlock``.  With φ = 0 the block is exactly the identity at
  initialisation, so an ImageNet backbone starts unchanged.  At that point q, k and v get no
  gradient, and φ does; they start to learn after φ's first update.
* ``key.bias`` cannot change ``a``: it adds ``q_iᵀb_k`` to every entry of row i, and softmax
  ignores a per-row constant.  It stays in to match the paper's plain 1×1 convolution.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.errors import UserError


class SecondOrderAttention(nn.Module):
    """``f^soa = f + φ(softmax(ζ qᵀk) v)`` on a ``[B, C, h, w]`` map (003 Eq. 1–2).

    ``forward(f, return_attention=True)`` also returns ``a`` as ``[B, hw, hw]``: row ``i·w + j``
    is the attention of location (i, j) over the map (Eq. 3: ``f^soa_{i,j} = h(a_{ij} ⊙ f)``), the
    map that the paper's Figure 6 draws.
    """

    def __init__(self, channels: int, inner_channels: int, zeta: float = 1.0, zero_init: bool = True) -> None:
        super().__init__()
        if channels < 1 or inner_channels < 1:
            raise UserError(
                f"second-order attention needs channels >= 1 and d >= 1, got C={channels}, d={inner_channels}; "
                "lower soa_reduction or widen the backbone"
            )
        self.channels = channels
        self.inner_channels = inner_channels
        self.zeta = zeta
        self.query = nn.Conv2d(channels, inner_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, inner_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, inner_channels, kernel_size=1)
        self.phi = nn.Conv2d(inner_channels, channels, kernel_size=1)
        for conv in (self.query, self.key, self.value):
            nn.init.kaiming_normal_(conv.weight)
            nn.init.zeros_(conv.bias)
        if zero_init:
            nn.init.zeros_(self.phi.weight)
            nn.init.zeros_(self.phi.bias)

    def attention(self, f: Tensor) -> Tensor:
        """``a = softmax(ζ qᵀk)`` (Eq. 1), ``[B, hw, hw]``; each row sums to 1."""
        q = self.query(f).flatten(2)  # [B, d, hw]
        k = self.key(f).flatten(2)
        return torch.softmax(self.zeta * (q.transpose(1, 2) @ k), dim=-1)

    def forward(self, f: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        a = self.attention(f)
        v = self.value(f).flatten(2).transpose(1, 2)  # [B, hw, d]
        attended = (a @ v).transpose(1, 2).unflatten(2, f.shape[-2:])  # [B, d, h, w]
        out = f + self.phi(attended)
        return (out, a) if return_attention else out
