"""ResNet-50 backbone with last stride 1, as PCB uses it (Sun et al. 2018; CSALR paper
000_6bea8c3e96cdf0f5.txt Sec. 4.2: "ResNet-50 with pre-trained weights from ImageNet").

The module names are torchvision's (`conv1`, `bn1`, `layer1` … `layer4`), so torchvision's
ImageNet state dict loads unchanged.  Depth (`blocks`) and width (`width`) are parameters so that
the `smoke` scale preset can run the same code path with a thinner, shallower network on a CPU;
`blocks=(3, 4, 6, 3), width=64` is exactly ResNet-50.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import Bottleneck

from dmlrepro.models.pretrained_weights import PretrainedWeightsError, read_pretrained  # noqa: F401 (re-exported)

RESNET50_BLOCKS = (3, 4, 6, 3)


class ResNetBackbone(nn.Module):
    """Bottleneck ResNet returning the four stage outputs; stage 4 stride is `last_stride`."""

    def __init__(self, blocks: tuple[int, ...] = RESNET50_BLOCKS, width: int = 64, last_stride: int = 1) -> None:
        super().__init__()
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"backbone blocks must be four positive integers, got {blocks}")
        if width < 1:
            raise ValueError(f"backbone width must be >= 1, got {width}")
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        strides = (1, 2, 2, last_stride)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._make_layer(width * 2**i, n, s) for i, (n, s) in enumerate(zip(blocks, strides))
        )
        self.stage_channels = tuple(width * 2**i * Bottleneck.expansion for i in range(4))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stem(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def stages(self) -> list[nn.Sequential]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]


def stage_strides(last_stride: int = 1) -> tuple[int, int, int, int]:
    """Output stride of each stage relative to the input (4, 8, 16, 16 with last stride 1)."""
    return (4, 8, 16, 16 * last_stride)


def load_imagenet_weights(backbone: ResNetBackbone, source: str) -> None:
    """Load ImageNet weights into a ResNet-50 backbone.

    `source` is `"imagenet"` (torchvision's IMAGENET1K_V1 weights, from the torch hub cache or
    downloaded once) or a path to a state-dict file.  Failing to get them is an error: a paper-scale
    run without ImageNet initialisation would not be the paper's experiment.
    """
    from torchvision.models import ResNet50_Weights

    if backbone.stage_channels != (256, 512, 1024, 2048) or len(backbone.layer3) != 6:
        raise PretrainedWeightsError(
            "ImageNet weights exist only for ResNet-50 (blocks 3,4,6,3, width 64); "
            "set backbone.pretrained=none for other shapes"
        )
    state = read_pretrained(source, ResNet50_Weights.IMAGENET1K_V1, "ResNet-50", "a ResNet-50 state dict")
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise PretrainedWeightsError(
            f"pretrained weights do not match ResNet-50: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
