"""The attention framework of CSALR Sec. 3.3 (000_6bea8c3e96cdf0f5.txt, Figure 3, Eq. 18) and CSA
(001_5fbd5da13318fd56.txt, Figure 4, Eq. 8): a backbone with an attention module after chosen stages
and a deep-supervision branch per module.

* Placement: "We apply the CSALR module to each residual block of the backbone except the last one"
  (Sec. 4.2): a module after stage s feeds its gated-residual output `x + α·y` into stage s+1.
  (The public code instead puts SA0 *inside* layer1 and SA1–3 on side branches that do not feed
  back; see ../shared/notes/implementation-facts.md §1.  We follow the paper.)
* Deep supervision: element-wise product of the module's input and the module's output y (before
  the residual), global average pooling, one fully connected layer, cross entropy; λ weights the sum
  of these losses against the main loss (Eq. 18).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from dmlrepro.attention import build_attention
from dmlrepro.models.resnet import ResNetBackbone


@dataclass(frozen=True)
class AttentionSpec:
    """Which attention module goes where, with its hyper-parameters at this input size."""

    name: str = "none"
    stages: tuple[int, ...] = ()
    kwargs_per_stage: dict[int, dict] = field(default_factory=dict)


class DeepSupervisionHead(nn.Module):
    """GAP(input ⊙ response) → FC → class logits (000 Sec. 3.3, third paragraph)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor, response: Tensor) -> Tensor:
        return self.fc((x * response).mean(dim=(2, 3)))


class AttentionResNet(nn.Module):
    """ResNet whose stages 1–3 may each be followed by an attention module with deep supervision."""

    def __init__(
        self,
        backbone: ResNetBackbone,
        attention: AttentionSpec,
        num_classes: int,
        deep_supervision: bool = True,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.attention_name = attention.name
        self.attention = nn.ModuleDict()
        self.ds_heads = nn.ModuleDict()
        if attention.name != "none":
            for stage in attention.stages:
                if stage not in (1, 2, 3):
                    raise ValueError(f"stages: attention goes after stages 1–3 (the last block has none), got {stage}")
                channels = backbone.stage_channels[stage - 1]
                kwargs = attention.kwargs_per_stage.get(stage, {})
                self.attention[str(stage)] = build_attention(attention.name, channels, **kwargs)
                if deep_supervision:
                    self.ds_heads[str(stage)] = DeepSupervisionHead(channels, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Return the last stage's feature map and the deep-supervision logits (training only)."""
        x = self.backbone.stem(x)
        ds_logits: list[Tensor] = []
        for index, stage in enumerate(self.backbone.stages(), start=1):
            x = stage(x)
            key = str(index)
            if key in self.attention:
                result = self.attention[key](x)
                if key in self.ds_heads and self.training:
                    ds_logits.append(self.ds_heads[key](x, result.response))
                x = result.out
        return x, ds_logits

    def attention_parameters(self) -> list[nn.Parameter]:
        return list(self.attention.parameters())
