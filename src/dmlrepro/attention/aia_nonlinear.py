"""The learned non-linear attentions V1 and V2 of AiA-Net's Table 4 (002_e585b7ac4801a221.txt,
Sec. 5.2.3)."""

from __future__ import annotations

from torch import nn

from dmlrepro.attention.aia_base import ConvBnReLU, KernelAttention, reduced_channels
from dmlrepro.attention.base import require_positive
from dmlrepro.attention.registry import register_attention


@register_attention("nonlinear_v1")
class NonLinearAttentionV1(KernelAttention):
    """Non-linear attention V1 of Table 4: AiA with a *learned* non-linear feature map.

    All the paper says (Sec. 5.2.3): the manual RKHS features of SoP/Gau are compared with
    "learned non-linear features … one is naive nonlinear activations and another one is a stack
    of nonlinear activations … denoted by non-linear attention V1 and non-linear attention V2 …
    both … incorporated into the AiA framework", with 0.69 M and 0.60 M parameters. Our reading:
    Gau-attention with AiA in which the fixed random projection and cosine of Gau(·) are replaced
    by one learned 1×1 conv + BN + ReLU, c̄ → ``features`` (the paper's only activation,
    Sec. 4.4; the public code's ``RFFConv`` has exactly this ReLU, commented out, in place of its
    cosine). ``features`` defaults to c' = 480, the dimension of the Gau features it stands in
    for.

    At C = 480, r = 4 this has 0.58 M parameters, not the paper's 0.69 M; we found no reading of
    the text that gives 0.69 M and did not widen the map to reach it.
    """

    inner_attention = True

    def __init__(self, channels: int, reduction: int = 4, features: int = 480) -> None:
        reduced = reduced_channels(channels, reduction)
        require_positive("features", features)
        super().__init__(channels, reduction, ConvBnReLU(reduced, features), features)


@register_attention("nonlinear_v2")
class NonLinearAttentionV2(KernelAttention):
    """Non-linear attention V2 of Table 4: AiA with a learned map that is "a stack of nonlinear
    activations" (002, Sec. 5.2.3; see ``NonLinearAttentionV1`` for what the paper says).

    Our reading: ``depth − 1`` layers of 1×1 conv + BN + ReLU at the embedded width,
    c̄ → ``hidden`` (default c̄), then one more to ``features`` (default c' = 480). Of the two
    natural hidden widths, c̄ gives 0.595 M parameters at C = 480, r = 4 (the paper: 0.60 M) and
    ``hidden = features`` gives 0.81 M, so the default follows the paper's count.
    """

    inner_attention = True

    def __init__(
        self,
        channels: int,
        reduction: int = 4,
        features: int = 480,
        depth: int = 2,
        hidden: int | None = None,
    ) -> None:
        reduced = reduced_channels(channels, reduction)
        require_positive("features", features)
        require_positive("depth", depth)
        if depth < 2:
            raise ValueError(f"depth must be at least 2 for a stack of non-linear layers, got {depth}")
        hidden = reduced if hidden is None else hidden
        require_positive("hidden", hidden)
        widths = [reduced] + [hidden] * (depth - 1) + [features]
        stack = nn.Sequential(*(ConvBnReLU(a, b) for a, b in zip(widths, widths[1:])))
        super().__init__(channels, reduction, stack, features)
        self.depth = depth
        self.hidden = hidden
