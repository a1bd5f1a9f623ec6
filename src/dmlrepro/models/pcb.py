"""PCB and PCB-RPP with the attention framework (Sun et al. 2018; CSALR 000_6bea8c3e96cdf0f5.txt
Sec. 3.3 and 4.2).

Head, following PCB and its public code: p = 6 part features → dropout 0.5 → one 1×1 convolution
C→256 shared by all parts, BN, ReLU → one linear classifier per part.  Main loss L_F = sum of the
p cross-entropy losses; the deep-supervision losses add λ·Σ L_DS (Eq. 18).
Test feature: the p pooled C-d part vectors (before the reduction), each L2-normalised,
concatenated (p·C dimensions; 12288 for ResNet-50).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch.nn import functional as F

from dmlrepro.models.attention_framework import AttentionResNet
from dmlrepro.models.part_pooling import RefinedPartPooling, UniformPartPooling


@dataclass
class PCBOutput:
    part_logits: list[Tensor]
    ds_logits: list[Tensor]


class PCB(nn.Module):
    """Part-based Convolutional Baseline on an attention-framework backbone; `refine()` turns it into
    PCB-RPP by switching uniform stripes to refined part pooling."""

    def __init__(self, body: AttentionResNet, num_classes: int, parts: int = 6, reduced_dim: int = 256) -> None:
        super().__init__()
        self.body = body
        self.parts = parts
        channels = body.backbone.stage_channels[3]
        self.uniform_pool = UniformPartPooling(parts)
        self.refined_pool = RefinedPartPooling(channels, parts)
        self.refined = False
        self.dropout = nn.Dropout(0.5)
        self.reduce = nn.Sequential(
            nn.Conv1d(channels, reduced_dim, kernel_size=1, bias=False),
            nn.BatchNorm1d(reduced_dim),
            nn.ReLU(inplace=True),
        )
        self.classifiers = nn.ModuleList(nn.Linear(reduced_dim, num_classes) for _ in range(parts))
        for classifier in self.classifiers:
            nn.init.normal_(classifier.weight, std=0.001)
            nn.init.zeros_(classifier.bias)

    def refine(self) -> None:
        """Switch to refined part pooling (the RPP stage of PCB-RPP)."""
        self.refined = True

    def pool(self, feature_map: Tensor) -> Tensor:
        return self.refined_pool(feature_map) if self.refined else self.uniform_pool(feature_map)

    def forward(self, x: Tensor) -> PCBOutput | Tensor:
        feature_map, ds_logits = self.body(x)
        parts = self.pool(feature_map)  # [B, C, p]
        if not self.training:
            return F.normalize(parts, dim=1).transpose(1, 2).flatten(1)
        reduced = self.reduce(self.dropout(parts))  # [B, 256, p]
        logits = [classifier(reduced[:, :, i]) for i, classifier in enumerate(self.classifiers)]
        return PCBOutput(part_logits=logits, ds_logits=ds_logits)


def pcb_loss(output: PCBOutput, targets: Tensor, ds_lambda: float) -> tuple[Tensor, dict[str, float]]:
    """L_sum = L_F + λ Σ_i L_DS_i (000 Eq. 18) with L_F = Σ_parts CE (PCB)."""
    main = sum(F.cross_entropy(logits, targets) for logits in output.part_logits)
    ds = sum((F.cross_entropy(logits, targets) for logits in output.ds_logits), start=main.new_zeros(()))
    total = main + ds_lambda * ds
    return total, {"loss": total.item(), "loss_main": main.item(), "loss_ds": ds.item()}
