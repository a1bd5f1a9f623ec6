"""Squeeze-and-Excitation (Hu, Shen & Sun, CVPR 2018, Eq. 2–4), the channel-attention baseline of
AiA-Net (002_e585b7ac4801a221.txt, Eq. 5, Fig. 3, Table 3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.attention.base import AttentionOutput, require_divisible, require_positive
from dmlrepro.attention.registry import register_attention


@register_attention("se")
class SqueezeExcitation(nn.Module):
    """``s = σ(W₂ δ(W₁ GAP(x)))``, ``out = s ⊗ x`` (Hu et al., Eq. 2–4; 002, Eq. 5).

    W₁: C → C/r and W₂: C/r → C are fully connected layers with bias (the paper omits the biases
    "to simplify the notation"; its released models have them), δ is ReLU and σ the sigmoid.
    ``reduction`` is r (Hu et al.: 16; AiA-Net Table 3: 4). There is no residual and no gate, so a
    fresh block is not the identity.

    Returns ``AttentionOutput(out = s ⊗ x, response = s)`` with the channel gate s broadcast
    over positions to ``[B, C, H, W]`` (a view, not a copy).

    Parameters: ``2·C·C/r + C/r + C``.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        require_positive("channels", channels)
        require_positive("reduction", reduction)
        require_divisible("channels", channels, "reduction", reduction)
        self.channels = channels
        self.reduction = reduction
        self.squeeze_fc = nn.Linear(channels, channels // reduction)
        self.excite_fc = nn.Linear(channels // reduction, channels)

    def channel_gate(self, x: Tensor) -> Tensor:
        """s of Eq. 3, ``[B, C]``."""
        return torch.sigmoid(self.excite_fc(torch.relu(self.squeeze_fc(x.mean(dim=(2, 3))))))

    def forward(self, x: Tensor) -> AttentionOutput:
        gate = self.channel_gate(x)[:, :, None, None].expand_as(x)
        return AttentionOutput(out=gate * x, response=gate)
