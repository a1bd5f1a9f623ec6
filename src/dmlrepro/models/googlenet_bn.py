"""GoogLeNet-V1 with batch normalisation, the backbone of AiA-Net (002_e585b7ac4801a221.txt,
Sec. 4.4: "The backbone network is the GoogLeNet-V1 [71], pretrained on ImageNet [72] with Batch
Normalization [73]"), as its public code builds it (shared/notes/implementation-facts.md §3).

Every convolution is followed by batch norm and ReLU; convolutions keep their bias, as in the
public code.  The network is cut into the paper's four blocks (Fig. 7, Table 7: the attention
positions p1–p4 are "the output of Blk 1, Blk 2, Blk 3 and Blk 4"):

=====  =======================================================  ========  ==============
paper  layers (public code's module)                            channels  at 256×128
=====  =======================================================  ========  ==============
Blk 1  7×7/2 conv 64, maxpool/2, 1×1 64, 3×3 192, maxpool/2      192       32×16
       (``Conv1``)
Blk 2  inception 3a, 3b, maxpool 3/2 ceil (``Inception1``)        480       16×8
Blk 3  inception 4a–4e, maxpool 3/2 pad 1 (``Inception2``)        832       8×4
Blk 4  inception 5a, 5b, no pooling (``Inception3``)             1024      8×4
=====  =======================================================  ========  ==============

The paper's numbering is the one used here (``stages()[1]`` is Blk 2), because its tables use it:
Table 3 puts the attention "after the second convolutional block" and Table 8 gives that block's
output as 480×16×8 (the Lin-attention count, 0.18M at r = 4, is that of a 480-channel module).  The
public code calls Blk 2–4 "Block 1–3" and has no attention after Blk 1.

Inception 4a's 3×3 branch: standard GoogLeNet has 208 filters, the public code 204 (so 4b sees 508
channels).  We default to the code's 204 because the paper's own parameter count supports it: with
204, AiA-Net's F_a + F_p without the identity classifiers has 30,155,556 parameters, the paper's
30.16M (Tables 2, 4, 8), and with 208 it has 30,180,096, 30.18M (tests/models/test_aianet.py).
``inception_4a_3x3=208`` builds the standard width.

The 5×5 branches are 5×5 (torchvision's GoogLeNet uses 3×3 there, a known deviation).
No ImageNet weights for this exact network are public (the code loads a private
``inceptionV1_bn_noModule.pth.tar``), so none are loaded here.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

#: Inception widths (1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool projection), GoogLeNet Table 1.
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 204, 16, 48, 64),  # 3×3 width 204 as in the public code (standard: 208)
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 48, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

#: 5a in torchvision's GoogLeNet (and GoogLeNet's Table 1): 32 5×5-reduce filters, not 48.
TORCHVISION_5A = (256, 160, 320, 32, 128, 128)

#: ``variant`` choices: the public code's network, or the closest one to torchvision's GoogLeNet.
VARIANTS = ("code", "torchvision")

#: The paper's blocks: which inception modules each of Blk 2–4 holds.
BLOCK_MODULES = (("3a", "3b"), ("4a", "4b", "4c", "4d", "4e"), ("5a", "5b"))


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0, bn_eps: float = 1e-5
) -> nn.Sequential:
    """Conv (with bias, as in the public code) → BN → ReLU."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
            bn=nn.BatchNorm2d(out_channels, eps=bn_eps),
            relu=nn.ReLU(inplace=True),
        )
    )


class Inception(nn.Module):
    """One inception module: 1×1 | 1×1→3×3 | 1×1→5×5 | maxpool 3/1→1×1, concatenated."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int], branch3_kernel: int = 5,
                 bn_eps: float = 1e-5) -> None:
        super().__init__()
        c1, c3r, c3, c5r, c5, cp = widths
        k = branch3_kernel
        self.branch1 = conv_bn_relu(in_channels, c1, 1, bn_eps=bn_eps)
        self.branch2 = nn.Sequential(conv_bn_relu(in_channels, c3r, 1, bn_eps=bn_eps),
                                     conv_bn_relu(c3r, c3, 3, padding=1, bn_eps=bn_eps))
        self.branch3 = nn.Sequential(conv_bn_relu(in_channels, c5r, 1, bn_eps=bn_eps),
                                     conv_bn_relu(c5r, c5, k, padding=k // 2, bn_eps=bn_eps))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn_relu(in_channels, cp, 1, bn_eps=bn_eps))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class GoogLeNetBN(nn.Module):
    """BN-GoogLeNet cut into the paper's Blk 1–4; ``forward`` returns the four block outputs.

    The interface matches :class:`dmlrepro.models.resnet.ResNetBackbone`: ``stem(x)`` (here the
    identity, since the paper's Blk 1 *is* the convolutional stem), ``stages()`` (Blk 1–4) and
    ``stage_channels`` (192, 480, 832, 1024).

    ``width_divisor`` divides every layer's width (rounded, at least 1) for the CPU smoke preset;
    1 is the paper's network.

    ``variant="torchvision"`` is the closest network to torchvision's GoogLeNet, onto which its
    ImageNet weights map (``dmlrepro.models.googlenet_torchvision``): 3×3 convolutions in the
    "5×5" branches, 208 filters in 4a's 3×3 branch, 32 in 5a's 5×5-reduce and BN eps 1e-3 (torchvision's
    ``BasicConv2d``); the pooling stays the public code's.  ``variant="code"`` (default) is the
    public code's network.
    """

    def __init__(self, inception_4a_3x3: int | None = None, width_divisor: int = 1, variant: str = "code") -> None:
        super().__init__()
        if isinstance(width_divisor, bool) or not isinstance(width_divisor, int) or width_divisor < 1:
            raise ValueError(f"width_divisor must be a positive integer, got {width_divisor!r}")
        if variant not in VARIANTS:
            raise ValueError(f"GoogLeNet-BN variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        if inception_4a_3x3 is None:
            inception_4a_3x3 = 208 if variant == "torchvision" else 204
        branch3_kernel, bn_eps = (3, 1e-3) if variant == "torchvision" else (5, 1e-5)
        if inception_4a_3x3 < 1:
            raise ValueError(f"inception_4a_3x3 must be positive, got {inception_4a_3x3}")
        self.inception_4a_3x3 = inception_4a_3x3
        self.width_divisor = width_divisor

        def w(channels: int) -> int:
            return max(1, round(channels / width_divisor))

        stem = w(192)
        self.blk1 = nn.Sequential(
            OrderedDict(
                conv1=conv_bn_relu(3, w(64), 7, stride=2, padding=3, bn_eps=bn_eps),
                pool1=nn.MaxPool2d(3, stride=2, padding=1),
                conv2=conv_bn_relu(w(64), w(64), 1, bn_eps=bn_eps),
                conv3=conv_bn_relu(w(64), stem, 3, padding=1, bn_eps=bn_eps),
                pool2=nn.MaxPool2d(3, stride=2, padding=1),
            )
        )
        widths = dict(INCEPTION_WIDTHS)
        widths["4a"] = (*widths["4a"][:2], inception_4a_3x3, *widths["4a"][3:])
        if variant == "torchvision":
            widths["5a"] = TORCHVISION_5A
        channels = [stem]
        blocks: list[nn.Sequential] = []
        in_channels = stem
        for index, names in enumerate(BLOCK_MODULES):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            for name in names:
                module = Inception(in_channels, tuple(w(c) for c in widths[name]),  # type: ignore[arg-type]
                                   branch3_kernel=branch3_kernel, bn_eps=bn_eps)
                layers[f"inception{name}"] = module
                in_channels = module.out_channels
            if index == 0:
                layers["pool3"] = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            elif index == 1:
                layers["pool4"] = nn.MaxPool2d(3, stride=2, padding=1)
            blocks.append(nn.Sequential(layers))
            channels.append(in_channels)
        self.blk2, self.blk3, self.blk4 = blocks
        self.stage_channels: tuple[int, int, int, int] = tuple(channels)  # type: ignore[assignment]

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stem(self, x: Tensor) -> Tensor:
        """Identity: the paper's Blk 1 is the convolutional stem, and it is ``stages()[0]``."""
        return x

    def stages(self) -> list[nn.Sequential]:
        """Blk 1–4 of the paper (Fig. 7), in order."""
        return [self.blk1, self.blk2, self.blk3, self.blk4]

    def blocks(self) -> list[nn.Sequential]:
        """Alias of :meth:`stages`, in the paper's words."""
        return self.stages()

    def forward(self, x: Tensor) -> list[Tensor]:
        """The outputs of Blk 1–4."""
        outputs = []
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
            outputs.append(x)
        return outputs


def stage_strides() -> tuple[int, int, int, int]:
    """Output stride of each block relative to the input (8, 16, 32, 32)."""
    return (8, 16, 32, 32)
