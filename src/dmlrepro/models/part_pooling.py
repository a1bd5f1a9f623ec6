"""Part pooling of PCB and RPP (Sun et al. 2018, "Beyond Part Models"), as used by the CSALR and CSA
papers' baselines (000_6bea8c3e96cdf0f5.txt Sec. 4.2; 001_5fbd5da13318fd56.txt, Implementation Details).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class UniformPartPooling(nn.Module):
    """PCB: average-pool the last feature map into `parts` horizontal stripes → [B, C, parts]."""

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.parts = parts

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, (self.parts, 1)).squeeze(-1)


class RefinedPartPooling(nn.Module):
    """RPP: a part classifier assigns each column vector f a soft part membership P(P_i | f)
    (a 1×1 convolution, i.e. the linear layer W of Sun et al., followed by softmax over parts), and
    part i is pooled as g_i = (p / |F|) Σ_f P(P_i|f)·f.

    The factor p (the public code's `avgpool(6·x·w_i)`) keeps g_i on the scale of a stripe mean: with
    a hard uniform partition g_i equals PCB's stripe average, so the layers trained in the PCB stage
    see features on the scale they were trained on.
    """

    def __init__(self, channels: int, parts: int) -> None:
        super().__init__()
        self.parts = parts
        self.classifier = nn.Conv2d(channels, parts, kernel_size=1)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def membership(self, x: Tensor) -> Tensor:
        """P(P_i | f) for every position: [B, parts, H, W], summing to 1 over parts."""
        return torch.softmax(self.classifier(x), dim=1)

    def forward(self, x: Tensor) -> Tensor:
        probs = self.membership(x)
        pooled = torch.einsum("bphw,bchw->bcp", probs, x) / (x.shape[2] * x.shape[3])
        return pooled * self.parts
