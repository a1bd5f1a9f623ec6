"""The non-local block (Wang, Girshick, Gupta & He, CVPR 2018, Eq. 1, 3, 6, Sec. 3.3, 4.1), the
NL baseline of AiA-Net (002_e585b7ac4801a221.txt, Table 3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.attention.base import AttentionOutput, require_divisible, require_positive
from dmlrepro.attention.registry import register_attention


@register_attention("nonlocal")
class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block: ``z_i = W_z y_i + x_i`` with
    ``y_i = Σ_j softmax_j(θ(x_i)ᵀφ(x_j)) g(x_j)`` (Wang et al., Eq. 1, 3, 6).

    θ, φ, g are 1×1 convs C → C/r with bias, named ``query``, ``key``, ``value`` as in
    ``sa.SelfAttention`` (Wang et al. relate the embedded Gaussian to self-attention, Sec. 3.2);
    r = 2 gives Wang et al.'s half of the input channels (Sec. 3.3), and AiA-Net's Table 3 sets
    r = 4. W_z is a 1×1 conv C/r → C with bias followed by the block's only BN, whose scale γ
    starts at 0 so that the whole block starts as the identity (Sec. 4.1). There is no 1/√d
    scaling and no subsampling of φ and g (an option in Wang et al., Sec. 3.3).

    Returns ``AttentionOutput(out = x + W_z y, response = W_z y)``; the response is therefore
    exactly zero at initialisation. ``key.bias`` is inert, as in ``SelfAttention``.

    Parameters: ``4·C·C/r + 3·C/r + C`` conv weights and biases, ``2·C`` BN affine.
    """

    def __init__(self, channels: int, reduction: int = 2) -> None:
        super().__init__()
        require_positive("channels", channels)
        require_positive("reduction", reduction)
        require_divisible("channels", channels, "reduction", reduction)
        self.channels = channels
        self.reduction = reduction
        self.inner_channels = channels // reduction
        self.query = nn.Conv2d(channels, self.inner_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, self.inner_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, self.inner_channels, kernel_size=1)
        self.out_conv = nn.Conv2d(self.inner_channels, channels, kernel_size=1)
        self.out_norm = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.out_norm.weight)

    def attention_map(self, x: Tensor) -> Tensor:
        """``softmax_j(θ(x_i)ᵀφ(x_j))`` (Eq. 3 normalised by C(x), Eq. 1), ``[B, HW, HW]``."""
        query = self.query(x).flatten(2)
        key = self.key(x).flatten(2)
        return torch.softmax(query.transpose(1, 2) @ key, dim=-1)

    def forward(self, x: Tensor) -> AttentionOutput:
        value = self.value(x).flatten(2)
        y = (value @ self.attention_map(x).transpose(1, 2)).unflatten(2, x.shape[-2:])
        response = self.out_norm(self.out_conv(y))
        return AttentionOutput(out=x + response, response=response)
