"""Gaussian attention of AiA-Net, without and with the inner attention (002_e585b7ac4801a221.txt,
Sec. 3.3, Eq. 13–17, Figs. 5b, 5d)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmlrepro.attention.aia_base import KernelAttention, reduced_channels
from dmlrepro.attention.base import require_positive
from dmlrepro.attention.registry import register_attention

RFF_VARIANTS = ("paper", "code")


class RandomFourierFeatures(nn.Module):
    """``κ(x̄) = √(1/c') [cos(ω_kᵀx̄)]_k ⊕ [sin(ω_kᵀx̄)]_k`` at each position (002, Eq. 14–15).

    ``[B, c̄, H, W]`` → ``[B, 2c', H, W]``. The c' frequencies ω_k are drawn once, at
    construction, from the Fourier transform of the Gaussian kernel, N(0, σ⁻² I), and then fixed:
    a buffer, not a parameter ("learnable parameters are avoided in the non-linear
    transformation", Sec. 1). Then ``κ(x)ᵀκ(y)`` estimates ``exp(−‖x − y‖²/2σ²)`` without bias
    (Eq. 13, 16) and ``‖κ(x)‖² = 1`` exactly.

    Eq. 15 writes p(ω) as the standard normal, which is the transform of Eq. 13's kernel only for
    σ = 1; the paper never gives σ, so ``sigma`` defaults to 1.
    """

    def __init__(self, in_channels: int, c_prime: int, sigma: float = 1.0) -> None:
        super().__init__()
        require_positive("in_channels", in_channels)
        require_positive("c_prime", c_prime)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}")
        self.in_channels = in_channels
        self.c_prime = c_prime
        self.sigma = float(sigma)
        self.out_channels = 2 * c_prime
        self.register_buffer("omega", torch.randn(c_prime, in_channels) / self.sigma)

    def forward(self, x: Tensor) -> Tensor:
        projection = F.conv2d(x, self.omega[:, :, None, None])  # ω_kᵀx̄ at every position
        return torch.cat([projection.cos(), projection.sin()], dim=1) / math.sqrt(self.c_prime)


class LearnedCosineFeatures(nn.Module):
    """The public code's Gau(·) (``RFFConv`` in PengfeiFANGanu/Attention-in-Attention-Networks):
    ``cos(BN(Wx̄ + b))``, ``[B, c̄, H, W]`` → ``[B, c', H, W]``.

    W (c'×c̄) starts from N(0, 1) and b from U(0, 2π), the random-phase form of random Fourier
    features (Rahimi & Recht), but both are trained, BN sits between the projection and the
    cosine, there is no sin half and no √(2/c') scale. In training BN subtracts the batch mean,
    so the random phase b is inert. Offered as ``rff="code"`` because it is what Table 8's
    Gau-attention column counts (see ``GauAttention``).
    """

    def __init__(self, in_channels: int, c_prime: int) -> None:
        super().__init__()
        require_positive("in_channels", in_channels)
        require_positive("c_prime", c_prime)
        self.in_channels = in_channels
        self.c_prime = c_prime
        self.out_channels = c_prime
        self.conv = nn.Conv2d(in_channels, c_prime, kernel_size=1)
        self.bn = nn.BatchNorm2d(c_prime)
        nn.init.normal_(self.conv.weight)
        nn.init.uniform_(self.conv.bias, 0.0, 2 * math.pi)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cos(self.bn(self.conv(x)))


def gaussian_feature_map(reduced: int, c_prime: int, sigma: float, rff: str) -> nn.Module:
    if rff not in RFF_VARIANTS:
        raise ValueError(f"rff must be one of {RFF_VARIANTS}, got {rff!r}")
    if rff == "code":
        if sigma != 1.0:
            raise ValueError(
                f"sigma applies to rff='paper' only (the code learns its frequencies), got {sigma!r}"
            )
        return LearnedCosineFeatures(reduced, c_prime)
    return RandomFourierFeatures(reduced, c_prime, sigma)


@register_attention("gau")
class GauAttention(KernelAttention):
    """Gau-attention without AiA: ``x^z = Sigmoid(ϕ(Gau(φ(x)))) ⊗ x`` (002, Eq. 17, Fig. 5d).

    φ: 1×1 conv + BN + ReLU, C → c̄ = C/r; Gau: κ of Eq. 14 with c' fixed random frequencies
    (``RandomFourierFeatures``), c̄ → 2c'; ϕ: 1×1 conv + BN + ReLU, 2c' → C. ``reduction`` is r and
    ``c_prime`` is c' (Sec. 4.4: r = 4, c' = 480, 960 on DukeMTMC-reID); ``sigma`` is the
    kernel's bandwidth σ (Eq. 13), which the paper does not give.

    ``rff="code"`` swaps Gau for the public code's ``LearnedCosineFeatures`` (c̄ → c', trained).
    Table 8's Gau column (r = 4, c' = 480, 480×16×8 input: 0.58 M parameters, 0.044 G FLOPs)
    matches that variant, not Eq. 14: with the paper's 2c' = 960 features the block has 0.98 M
    parameters and 74.2 M multiply-accumulates; with the code's 480 features, 0.58 M and 44.5 M.

    Parameters (``rff="paper"``): ``C·c̄ + 2c'·C`` weights, ``c̄ + C`` conv biases, ``2·(c̄ + C)``
    BN affine; ω is a buffer of c'·c̄ numbers.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 4,
        c_prime: int = 480,
        sigma: float = 1.0,
        rff: str = "paper",
    ) -> None:
        reduced = reduced_channels(channels, reduction)
        feature_map = gaussian_feature_map(reduced, c_prime, sigma, rff)
        super().__init__(channels, reduction, feature_map, feature_map.out_channels)
        self.c_prime = c_prime
        self.rff = rff


@register_attention("gau_aia")
class GauAiAAttention(GauAttention):
    """Gau-attention with AiA: ``Sigmoid(ϖ(m) ⊗ ϕ(x̃)) ⊗ x`` with x̃ = Gau(φ(x)) and m = GAP(x̃)
    (002, Sec. 3.3: "following Eqs. (10) and (4)", Fig. 5b). ϖ: 1×1 conv + BN + ReLU, 2c' → C."""

    inner_attention = True
