"""DenseNet-121, MobileNet-V2 and ShuffleNet-V2 (torchvision's architectures) as AiA-Net backbones,
for Sec. 5.6 "Generalization of Attention Blocks" and Fig. 11 of 002_e585b7ac4801a221.txt: "we
employ other backbones to evaluate the effectiveness of AiA blocks, including ResNet-50 [80],
GoogLeNet-V1 [71], DenseNet [94], MobileNet [95] as well as ShuffleNet [96]".

Each backbone is torchvision's own network (``torchvision.models.DenseNet``, ``MobileNetV2``,
``ShuffleNetV2``; its modules keep torchvision's names, so torchvision's ImageNet state dicts load
unchanged) without its classifier, cut into the four blocks AiA-Net puts its attention after (the
paper's p1-p4, Table 7).  The paper does not say where it cut these networks (its supplement is not
available); the cut chosen here gives every block the output stride of the paper's BN-GoogLeNet
blocks (8, 16, 32, 32: 32x16, 16x8, 8x4, 8x4 at 256x128, ``dmlrepro.models.googlenet_bn``): each of
Blk 1-3 ends with the network's downsampling to the next resolution, as GoogLeNet's Blk 1-3 end with
a max pool, and Blk 4 is the network's last stage at stride 32 without downsampling.

==============  =======================================  =======================================
backbone        stem (before Blk 1)                      Blk 1 / Blk 2 / Blk 3 / Blk 4 (channels)
==============  =======================================  =======================================
DenseNet-121    conv0, norm0, relu0, pool0 (/4)          denseblock1 + transition1 (128) /
                                                         denseblock2 + transition2 (256) /
                                                         denseblock3 + transition3 (512) /
                                                         denseblock4 + norm5 + ReLU (1024)
MobileNet-V2    features[0:4]: conv, the t=1 c=16 and    features[4:7] c=32 (32) / [7:14] c=64,
                t=6 c=24 blocks (/4)                     c=96 (96) / [14:18] c=160, c=320 (320) /
                                                         [18] 1x1 conv to 1280 (1280)
ShuffleNet-V2   conv1, maxpool (/4)                      stage2 (116) / stage3 (232) /
(x1.0)                                                   stage4 (464) / conv5 (1024)
==============  =======================================  =======================================

DenseNet's stage 4 ends with torchvision's ``norm5`` and the ReLU its ``forward`` applies, so that
every block's output is an activated map as in GoogLeNet and ResNet.  Depth and width are
parameters so that the smoke and tiny presets can run the same code on a CPU (config/presets/
aianet.yaml); the defaults are torchvision's densenet121, mobilenet_v2 and shufflenet_v2_x1_0.

ImageNet weights: torchvision's IMAGENET1K_V1 of each network (the weights of the paper's time;
``load_imagenet_weights``), only for the default shapes, from the torch hub cache or a file.
"""

from __future__ import annotations

import re

from torch import Tensor, nn

from dmlrepro.errors import UserError
from dmlrepro.models.pretrained_weights import PretrainedWeightsError, read_pretrained

#: torchvision's MobileNet-V2 inverted residual settings (t, c, s); `repeats` gives each n.
MOBILENET_V2_SETTING = ((1, 16, 1), (6, 24, 2), (6, 32, 2), (6, 64, 2), (6, 96, 1), (6, 160, 2), (6, 320, 1))
MOBILENET_V2_REPEATS = (1, 2, 3, 4, 3, 3, 1)
#: Which of the seven settings end the stem and each block (indices into MOBILENET_V2_SETTING, exclusive).
_MOBILENET_CUTS = (2, 3, 5, 7)
DENSENET121 = {"growth_rate": 32, "block_config": (6, 12, 24, 16), "num_init_features": 64, "bn_size": 4}
MOBILENET_V2 = {"width_mult": 1.0, "repeats": MOBILENET_V2_REPEATS}
SHUFFLENET_V2_X1_0 = {"stages_repeats": (4, 8, 4), "stages_out_channels": (24, 116, 232, 464, 1024)}
#: The smallest input side: every network downsamples by 32 (DenseNet's 2x2 average pools fail below).
OUTPUT_STRIDE = 32


def check_input_size(backbone: str, input_size, where: str) -> None:
    """One-line UserError when an input side is below the backbone's output stride (32)."""
    height, width = (int(v) for v in input_size)
    if min(height, width) < OUTPUT_STRIDE:
        raise UserError(f"{where}: input_size {height}x{width} is too small for backbone {backbone} (output stride "
                        f"{OUTPUT_STRIDE}: each side must be at least {OUTPUT_STRIDE}); raise input_size")


class _TorchvisionBackbone(nn.Module):
    """Shared part: ``stem()``, ``stages()`` (the four blocks as ``nn.Sequential`` views of the
    registered torchvision modules) and ``stage_channels``."""

    name = ""
    #: Keys of torchvision's state dict that belong to the classifier (dropped when loading).
    classifier_prefixes: tuple[str, ...] = ()
    default_shape: dict = {}
    stage_channels: tuple[int, int, int, int]

    def _stem_modules(self) -> list[nn.Module]:
        raise NotImplementedError

    def _stage_modules(self) -> list[list[nn.Module]]:
        raise NotImplementedError

    def stem(self, x: Tensor) -> Tensor:
        for module in self._stem_modules():
            x = module(x)
        return x

    def stages(self) -> list[nn.Sequential]:
        """Blk 1-4 (module docstring); AiA-Net copies ``stages()[part_stage:]`` for its part streams."""
        return [nn.Sequential(*modules) for modules in self._stage_modules()]

    def forward(self, x: Tensor) -> list[Tensor]:
        """The outputs of Blk 1-4."""
        outputs = []
        x = self.stem(x)
        for stage in self.stages():
            x = stage(x)
            outputs.append(x)
        return outputs

    def is_default_shape(self) -> bool:
        return self.shape == self.default_shape


class DenseNetBackbone(_TorchvisionBackbone):
    """torchvision's DenseNet (default: DenseNet-121) without its classifier."""

    name = "densenet121"
    classifier_prefixes = ("classifier.",)
    default_shape = DENSENET121

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16), num_init_features: int = 64,
                 bn_size: int = 4) -> None:
        super().__init__()
        from torchvision.models import DenseNet

        block_config = tuple(int(b) for b in block_config)
        if len(block_config) != 4 or min(block_config) < 1 or min(growth_rate, num_init_features, bn_size) < 1:
            raise ValueError(f"densenet: block_config must be four positive integers and growth_rate, "
                             f"num_init_features, bn_size positive; got {block_config}, {growth_rate}, "
                             f"{num_init_features}, {bn_size}")
        self.shape = {"growth_rate": growth_rate, "block_config": block_config,
                      "num_init_features": num_init_features, "bn_size": bn_size}
        self.features = DenseNet(growth_rate, block_config, num_init_features, bn_size).features
        self.relu5 = nn.ReLU(inplace=True)
        channels, features = [], num_init_features
        for index, layers in enumerate(block_config):
            features += layers * growth_rate
            if index < 3:
                features //= 2  # transition: half the channels
            channels.append(features)
        self.stage_channels = tuple(channels)  # type: ignore[assignment]

    def _stem_modules(self) -> list[nn.Module]:
        f = self.features
        return [f.conv0, f.norm0, f.relu0, f.pool0]

    def _stage_modules(self) -> list[list[nn.Module]]:
        f = self.features
        return [[f.denseblock1, f.transition1], [f.denseblock2, f.transition2], [f.denseblock3, f.transition3],
                [f.denseblock4, f.norm5, self.relu5]]


class MobileNetV2Backbone(_TorchvisionBackbone):
    """torchvision's MobileNet-V2 (default: mobilenet_v2, width 1.0) without its classifier;
    ``repeats`` is each inverted residual setting's n (torchvision's 1, 2, 3, 4, 3, 3, 1)."""

    name = "mobilenet_v2"
    classifier_prefixes = ("classifier.",)
    default_shape = MOBILENET_V2

    def __init__(self, width_mult: float = 1.0, repeats=MOBILENET_V2_REPEATS) -> None:
        super().__init__()
        from torchvision.models import MobileNetV2

        repeats = tuple(int(n) for n in repeats)
        if len(repeats) != len(MOBILENET_V2_SETTING) or min(repeats) < 1 or width_mult <= 0:
            raise ValueError(f"mobilenet_v2: repeats must be {len(MOBILENET_V2_SETTING)} positive integers and "
                             f"width_mult positive; got {repeats}, {width_mult}")
        self.shape = {"width_mult": float(width_mult), "repeats": repeats}
        setting = [[t, c, n, s] for (t, c, s), n in zip(MOBILENET_V2_SETTING, repeats)]
        self.features = MobileNetV2(width_mult=width_mult, inverted_residual_setting=setting).features
        starts = [1]
        for n in repeats:
            starts.append(starts[-1] + n)  # index in features of each setting's first block
        cuts = [starts[c] for c in _MOBILENET_CUTS] + [len(self.features)]
        self._cuts = tuple(cuts)
        self.stage_channels = tuple(self.features[end - 1].out_channels for end in cuts[1:])  # type: ignore[assignment]

    def _stem_modules(self) -> list[nn.Module]:
        return list(self.features[: self._cuts[0]])

    def _stage_modules(self) -> list[list[nn.Module]]:
        c = self._cuts
        return [list(self.features[c[i]: c[i + 1]]) for i in range(4)]


class ShuffleNetV2Backbone(_TorchvisionBackbone):
    """torchvision's ShuffleNet-V2 (default: shufflenet_v2_x1_0) without its classifier."""

    name = "shufflenet_v2"
    classifier_prefixes = ("fc.",)
    default_shape = SHUFFLENET_V2_X1_0

    def __init__(self, stages_repeats=(4, 8, 4), stages_out_channels=(24, 116, 232, 464, 1024)) -> None:
        super().__init__()
        from torchvision.models import ShuffleNetV2

        stages_repeats = tuple(int(n) for n in stages_repeats)
        stages_out_channels = tuple(int(c) for c in stages_out_channels)
        if len(stages_repeats) != 3 or len(stages_out_channels) != 5 or min(stages_repeats) < 1 \
                or any(c < 2 or c % 2 for c in stages_out_channels[1:4]):
            raise ValueError(f"shufflenet_v2: stages_repeats must be three positive integers and stages_out_channels "
                             f"five, the middle three even (channel split); got {stages_repeats}, {stages_out_channels}")
        self.shape = {"stages_repeats": stages_repeats, "stages_out_channels": stages_out_channels}
        net = ShuffleNetV2(list(stages_repeats), list(stages_out_channels))
        self.conv1, self.maxpool = net.conv1, net.maxpool
        self.stage2, self.stage3, self.stage4, self.conv5 = net.stage2, net.stage3, net.stage4, net.conv5
        self.stage_channels = tuple(stages_out_channels[1:])  # type: ignore[assignment]

    def _stem_modules(self) -> list[nn.Module]:
        return [self.conv1, self.maxpool]

    def _stage_modules(self) -> list[list[nn.Module]]:
        return [[self.stage2], [self.stage3], [self.stage4], [self.conv5]]


TORCHVISION_BACKBONES: dict[str, type[_TorchvisionBackbone]] = {
    "densenet121": DenseNetBackbone, "mobilenet_v2": MobileNetV2Backbone, "shufflenet_v2": ShuffleNetV2Backbone,
}
#: torchvision's weights enum of each network (IMAGENET1K_V1).
_WEIGHTS = {"densenet121": "DenseNet121_Weights", "mobilenet_v2": "MobileNet_V2_Weights",
            "shufflenet_v2": "ShuffleNet_V2_X1_0_Weights"}
#: Old DenseNet checkpoints name `norm.1` what torchvision now names `norm1` (torchvision's own rename,
#: extended to num_batches_tracked for state dicts saved from a renamed model).
_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def build_torchvision_backbone(name: str, **kwargs) -> _TorchvisionBackbone:
    if name not in TORCHVISION_BACKBONES:
        raise ValueError(f"backbone: unknown {name!r}; choose one of {tuple(TORCHVISION_BACKBONES)}")
    return TORCHVISION_BACKBONES[name](**kwargs)


def load_imagenet_weights(backbone: _TorchvisionBackbone, source: str) -> None:
    """torchvision's ImageNet weights of the backbone's network (``source`` ``imagenet``: the
    IMAGENET1K_V1 state dict from the torch hub cache, downloaded once) or a torchvision-layout
    state dict file; the classifier is dropped.  Failing to get them is an error that says where
    to put the file."""
    import torchvision.models as tvm

    if not backbone.is_default_shape():
        raise PretrainedWeightsError(
            f"ImageNet weights exist only for torchvision's {backbone.name} ({backbone.default_shape}); this "
            f"backbone is {backbone.shape}: set backbone.pretrained=none for other shapes")
    state = read_pretrained(source, getattr(tvm, _WEIGHTS[backbone.name]).IMAGENET1K_V1, backbone.name,
                            f"a torchvision {backbone.name} state dict")
    renamed = {}
    for key, value in state.items():
        if key.startswith(backbone.classifier_prefixes):
            continue
        match = _DENSENET_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    missing, unexpected = backbone.load_state_dict(renamed, strict=False)
    if missing or unexpected:
        raise PretrainedWeightsError(f"pretrained weights do not match torchvision's {backbone.name}: "
                                     f"missing {missing[:3]}, unexpected {unexpected[:3]}")
