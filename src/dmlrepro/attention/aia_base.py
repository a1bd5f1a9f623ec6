"""The frame shared by AiA-Net's attention modules (002_e585b7ac4801a221.txt, Sec. 3, Eq. 1–17,
Table 1, Figs. 1, 2, 4, 5).

Every module of Table 1 is ``x^z = Sigmoid(z̃) ⊗ x`` with

- ``x̄ = φ(x)``, the embedding C → c̄ = C/r (Eq. 1);
- ``x̃ = K(x̄)``, the kernel feature map: the identity for Lin-attention, ``SoP`` (Eq. 8–9) for
  SoP-attention, ``Gau`` (Eq. 13–15) for Gau-attention, and a learned map for Table 4's
  non-linear attentions V1/V2;
- without AiA: ``z̃ = ϕ(x̃)`` (Eq. 7, 12, 17);
- with AiA: ``m = GAP(x̃)`` (Eq. 2; "m = 1/hw Σ x̃_i" after Eq. 10) and ``z̃ = ϖ(m) ⊗ ϕ(x̃)``
  (Eq. 3, 6, 10): ϖ(m), one C-vector per image, is the *inner* attention, and
  ``z = Sigmoid(z̃)`` is the *outer* attention mask (Eq. 4).

Interpretations, all from the paper's text:

- **m is taken after the kernel map.** Eq. 2 averages the embedded x̄ for Lin (where K is the
  identity), the text after Eq. 10 averages the second-order x̃ for SoP ("m contains the second
  order statistical information"), and Gau "follows Eqs. (10) and (4)", so m averages Gau(x̄).
- **φ, ϕ and ϖ are each a 1×1 conv, BN and ReLU** (Sec. 4.4). ϕ and ϖ map x̃'s dimension back to
  C (Eq. 3: "recover the dimension of the channel from c̄ to c"). The convs keep PyTorch's default
  bias, as the public code's ``ConvBlock`` does. It is inert in training (BN subtracts the
  batch mean) but counts: with it Lin-attention w/ AiA at C = 480, r = 4 has 176,040 parameters,
  printed as Tables 3 and 8's 0.18 M; without it, 174,960 would print as 0.17 M.
- **Consequences we keep rather than fix.** ϕ and ϖ end in ReLU, so z̃ ≥ 0 and the mask
  z = Sigmoid(z̃) lies in [0.5, 1): the module can only attenuate its input by up to a half.
  ϖ applies BN to the pooled m, one value per image and channel, so in training it normalises
  across the batch alone and needs a batch of at least 2.
- **No residual and no gate α** (Eq. 4, 6, 7, 12, 17): a fresh module is not the identity. The
  module returns ``AttentionOutput(out = z ⊗ x, response = z)``: ``response`` is the outer
  attention mask z (Table 1's "attention mask"), ``[B, C, H, W]``.
"""

from __future__ import annotations

import contextlib
import contextvars

from typing import ClassVar

import torch
from torch import Tensor, nn

from dmlrepro.attention.base import AttentionOutput, require_divisible, require_positive


class ConvBnReLU(nn.Sequential):
    """One embedding function of an AiA block: 1×1 conv → BN → ReLU (002, Sec. 4.4)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()


#: Whether modules built now may round c̄ = C / r down (`rounded_reduction`); off by default.
_ROUNDED = contextvars.ContextVar("aia_rounded_reduction", default=False)


@contextlib.contextmanager
def rounded_reduction():
    """Build AiA modules with c̄ = ⌊C / r⌋ (at least 1) where r does not divide C, instead of an
    error.  Only the thin backbones of the smoke and tiny presets need it (Blk 2 has 120 channels
    at width / 4, which Table 5's r = 16 and 32 do not divide; the AiA-Net trainer builds thin
    models inside this context): the paper's widths (192, 480, 832, 1024) are divisible by every r
    it uses (2-32)."""
    token = _ROUNDED.set(True)
    try:
        yield
    finally:
        _ROUNDED.reset(token)


def reduced_channels(channels: int, reduction: int) -> int:
    """c̄ = C / r of Eq. 1, after checking both and that r divides C (inside `rounded_reduction`,
    ⌊C / r⌋ where it does not)."""
    require_positive("channels", channels)
    require_positive("reduction", reduction)
    if _ROUNDED.get():
        return max(1, channels // reduction)
    require_divisible("channels", channels, "reduction", reduction)
    return channels // reduction


class KernelAttention(nn.Module):
    """``Sigmoid(ϕ(K(φ(x))) [⊗ ϖ(GAP(K(φ(x))))]) ⊗ x`` (002, Table 1; see the module docstring).

    Subclasses fix the kernel map K and set ``inner_attention`` (the "w/ AiA" variants).
    Attributes: ``reduce`` is φ, ``kernel_map`` is K, ``local`` is ϕ and ``inner`` is ϖ (``None``
    without AiA).
    """

    inner_attention: ClassVar[bool] = False

    def __init__(
        self, channels: int, reduction: int, kernel_map: nn.Module, feature_channels: int
    ) -> None:
        super().__init__()
        self.channels = channels
        self.reduction = reduction
        self.reduced_channels = reduced_channels(channels, reduction)
        self.feature_channels = feature_channels
        self.reduce = ConvBnReLU(channels, self.reduced_channels)
        self.kernel_map = kernel_map
        self.local = ConvBnReLU(feature_channels, channels)
        self.inner = ConvBnReLU(feature_channels, channels) if self.inner_attention else None

    def features(self, x: Tensor) -> Tensor:
        """x̃ = K(φ(x)), ``[B, feature_channels, H, W]`` (x̄ of Eq. 1 for Lin)."""
        return self.kernel_map(self.reduce(x))

    def inner_attention_map(self, x: Tensor) -> Tensor:
        """ϖ(m) with m = GAP(x̃) (Eq. 2–3), ``[B, C, 1, 1]``; ``ValueError`` without AiA."""
        if self.inner is None:
            raise ValueError(f"{type(self).__name__} has no inner attention (it is the w/o AiA variant)")
        return self.inner(self.features(x).mean(dim=(2, 3), keepdim=True))

    def attention_mask(self, x: Tensor) -> Tensor:
        """The outer attention mask z = Sigmoid(z̃) (Eq. 4, 6, 7, 10, 12, 17), ``[B, C, H, W]``."""
        features = self.features(x)
        logits = self.local(features)
        if self.inner is not None:
            logits = self.inner(features.mean(dim=(2, 3), keepdim=True)) * logits
        return torch.sigmoid(logits)

    def forward(self, x: Tensor) -> AttentionOutput:
        mask = self.attention_mask(x)
        return AttentionOutput(out=mask * x, response=mask)
