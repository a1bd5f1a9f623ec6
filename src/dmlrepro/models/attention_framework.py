"""The attention framework of CSALR Sec. 3.3 (000_6bea8c3e96cdf0f5.txt, Figure 3, Eq. 18) and CSA
(001_5fbd5da13318fd56.txt, Figure 4, Eq. 8): a backbone with an attention module after chosen stages
and a deep-supervision branch per module.

* Placement: "We apply the CSALR module to each residual block of the backbone except the last one"
  (Sec. 4.2): a module after stage s feeds its gated-residual output `x + α·y` into stage s+1.
  (The public code instead puts SA0 *inside* layer1 and SA1–3 on side branches that do not feed
  back; see ../shared/notes/implementation-facts.md §1.  We follow the paper.)
* Deep supervision (``ds_branch``), one branch per module, cross entropy, λ weighting the sum of
  these losses against the main loss (000 Eq. 18; 001 Eq. 8):
  - ``input_times_response`` (default, CSALR Sec. 3.3): "an element-wise multiplication between
    the input feature map and the output of CSALR module", global average pooling, one fully
    connected layer — GAP(x ⊙ y) with y the module's output before the residual ("we implement
    deep supervision before the residual connection");
  - ``response`` (CSA, 001 "Application in Deep Metric Learning", Eq. 8): "a global average
    pooling layer and fully connected layers" on the CSA module's output — GAP(y).  We read the
    module's output as y, the response before the gated residual, as in CSALR: with α = 0 at
    initialisation GAP(x + α·y) would carry no gradient to the attention maps the branch is there
    to train ("to learn more meaningful base feature vectors and base attention maps"), and the
    public code's branches (SA1–SA3, both projects) take ``out_conv(O)`` without the residual.
    We use one fully connected layer for both; the public code's branches are GAP → 1×1 conv
    C→256 (no bias, no BN/ReLU) → Linear(256, classes), i.e. two linear maps in a row.
* Deep-supervision FC init: weight ~ N(0, 0.001²), bias 0.  Neither paper states it; it is the
  public code's (``instance_layer1``–``3`` in czyczyyzc/Compressed_Self-Attention
  ``*/reid/models/reSAnet.py``), which copies it from PCB's part classifiers in the PCB code it
  is built on (syfafterzy/PCB_RPP_for_reID, ``reid/models/resnet.py``: ``instance0``–``5``,
  ``init.normal(weight, std=0.001)``, ``init.constant(bias, 0)``) — the init of the PCB part
  classifiers here too (``dmlrepro.models.pcb``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

from dmlrepro.attention import build_attention
from dmlrepro.cells import DS_BRANCHES, require_choice
from dmlrepro.errors import UserError
from dmlrepro.models.resnet import ResNetBackbone


@dataclass(frozen=True)
class AttentionSpec:
    """Which attention module goes where, with its hyper-parameters at this input size."""

    name: str = "none"
    stages: tuple[int, ...] = ()
    kwargs_per_stage: dict[int, dict] = field(default_factory=dict)


class DeepSupervisionHead(nn.Module):
    """GAP(input ⊙ response) (000 Sec. 3.3, third paragraph) or GAP(response) (001 Eq. 8) → FC →
    class logits; FC init N(0, 0.001²), bias 0, from the public code (module docstring)."""

    def __init__(self, channels: int, num_classes: int, branch: str = DS_BRANCHES[0]) -> None:
        super().__init__()
        require_choice("ds_branch", branch, DS_BRANCHES)
        self.branch = branch
        self.fc = nn.Linear(channels, num_classes)
        nn.init.normal_(self.fc.weight, std=0.001)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: Tensor, response: Tensor) -> Tensor:
        pooled = response if self.branch == "response" else x * response
        return self.fc(pooled.mean(dim=(2, 3)))


class AttentionResNet(nn.Module):
    """ResNet whose stages 1–3 may each be followed by an attention module with deep supervision."""

    def __init__(
        self,
        backbone: ResNetBackbone,
        attention: AttentionSpec,
        num_classes: int,
        deep_supervision: bool = True,
        ds_branch: str = DS_BRANCHES[0],
    ) -> None:
        super().__init__()
        require_choice("ds_branch", ds_branch, DS_BRANCHES)
        self.backbone = backbone
        self.attention_name = attention.name
        self.attention = nn.ModuleDict()
        self.ds_heads = nn.ModuleDict()
        if attention.name != "none":
            for stage in attention.stages:
                if stage not in (1, 2, 3):
                    raise UserError(f"stages: attention goes after stages 1–3 (the last block has none), got {stage}")
                channels = backbone.stage_channels[stage - 1]
                kwargs = attention.kwargs_per_stage.get(stage, {})
                self.attention[str(stage)] = build_attention(attention.name, channels, **kwargs)
                if deep_supervision:
                    self.ds_heads[str(stage)] = DeepSupervisionHead(channels, num_classes, ds_branch)

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
