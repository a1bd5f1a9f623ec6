"""Multi-Head DML's embedding network (003_72cd4b33cee60b89.txt, Sec. 3.1–3.3, 4.2; Figures 2–3).

* **Backbone.** ResNet-50 with its standard strides (last stride 2), ImageNet-initialised at paper
  scale (Sec. 4.2).  At 224×224: the local map f_l is conv4_x (``layer3``, 14×14×1024) and the
  global map f_g is conv5_x (``layer4``, 7×7×2048).  The paper prints 7×7×2084; that is a typo,
  since conv5_x has 2048 channels.
* **Heads.** Each map has its own second-order attention (Eq. 1–3, ζ = 1;
  ``second_order_attention.py``).  Then comes GAP + GMP, **summed** (Eq. 4 adds the two, as in
  Proxy-Anchor's code), so the pooled vector keeps C channels.  Then one fully connected layer
  ``C → D/2`` with a learned bias per head, which is the paper's "whitening" (Sec. 3.3).
* **Embedding.** ``F = [F_l, F_g] ∈ R^D``, local half first (Sec. 3.3).  The paper's losses are on
  cosine similarities (Sec. 3.4: σ penalises pairs "whose cosine similarities are less or equal
  to σ"), so the whole concatenated vector is L2-normalised (``normalize=True``).  This is also
  Proxy-Anchor's convention (``is_norm=1``).  Each half is not normalised on its own.
  ``head_slices()`` gives the local and global halves for evaluating each one separately.

Variants (Sec. 4.5, Figure 5 and the "single head attention" paragraph):

* ``heads="local"`` / ``"global"``: one head, whose FC gives the whole D-dim embedding, so a
  variant is compared with the two-head model at the same D.  ``"both"``: the paper's model.
* ``soa=False``: the heads pool f directly (Figure 5b).
* ``heads="single"``, the paper's "single head attention": a focus layer (space-to-depth, YOLO [5])
  turns f_l into 7×7×4096.  It is concatenated with f_g into 7×7×6144 and goes through one SOA,
  GAP + GMP and **one FC of D**.  The text gives no size for this FC; D keeps the embedding
  comparable with the multi-head model (86.6 / 66.6 vs the 512-d 90.1 / 70.6 of Table 1).  The
  focus layer is the slicing only, without YOLO's convolution, because the text's 4096 = 4 × 1024
  channels leave no room for one.

Choices where the paper is silent: SOA inner dimension d = C/4 on conv4_x and C/2 on conv5_x and on
the single head's 7×7 map (SOLAR's ``SOABlock`` placement, k = 4 and k = 2).  The FC is initialised
Kaiming-normal (fan_out) with zero bias, as in Proxy-Anchor's code.  BN is trained as usual;
``freeze_bn=True`` gives Proxy-Anchor's frozen BN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.models.resnet import RESNET50_BLOCKS, ResNetBackbone, load_imagenet_weights
from dmlrepro.models.second_order_attention import SecondOrderAttention

HEAD_CHOICES = ("both", "local", "global", "single")
#: SOA reduction C/d per head: SOLAR's k = 4 after conv4_x, k = 2 after conv5_x; the single head's
#: map has conv5_x's 7×7 resolution and takes conv5_x's k.
DEFAULT_SOA_REDUCTION = {"local": 4, "global": 2, "single": 2}
DEFAULT_BACKBONE = {"blocks": list(RESNET50_BLOCKS), "width": 64, "pretrained": "imagenet"}
MODEL_KEYS = ("heads", "soa", "embedding_dim", "backbone", "soa_reduction", "zeta", "normalize", "freeze_bn")


@dataclass
class MultiHeadOutput:
    """``embedding``: ``[B, D]``.  ``attention[head]``: ``[B, h, w, h, w]``, where
    ``attention[head][b, i, j]`` is the SOA map of location (i, j) over the head's feature map
    (Figure 6).  Empty without SOA."""

    embedding: Tensor
    attention: dict[str, Tensor]


def focus(x: Tensor) -> Tensor:
    """Space-to-depth "focus" of YOLO [5] (003 Sec. 4.5): ``[B, C, H, W] → [B, 4C, H/2, W/2]``, the
    four pixel phases stacked along channels in YOLOv5's ``Focus`` order."""
    height, width = x.shape[-2:]
    if height % 2 or width % 2:
        raise UserError(
            f"the single-head variant's focus layer needs an even conv4_x map, got {height}x{width}; "
            "use an input size divisible by 32 (e.g. 224)"
        )
    return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], dim=1)


class EmbeddingHead(nn.Module):
    """Optional SOA (Eq. 1–3), then GAP + GMP summed (Eq. 4), then FC ``C → out_features`` with
    bias (Sec. 3.3)."""

    def __init__(self, channels: int, out_features: int, soa: bool, soa_reduction: int, zeta: float) -> None:
        super().__init__()
        self.soa = SecondOrderAttention(channels, channels // soa_reduction, zeta=zeta) if soa else None
        self.fc = nn.Linear(channels, out_features)
        nn.init.kaiming_normal_(self.fc.weight, mode="fan_out")
        nn.init.zeros_(self.fc.bias)

    def forward(self, f: Tensor, return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        a = None
        if self.soa is not None:
            f, a = self.soa(f, return_attention=True)
        pooled = f.mean(dim=(2, 3)) + f.amax(dim=(2, 3))
        if a is not None and return_attention:
            a = a.unflatten(2, f.shape[-2:]).unflatten(1, f.shape[-2:])
        return self.fc(pooled), (a if return_attention else None)


class MultiHeadEmbedding(nn.Module):
    """Local (conv4_x) and global (conv5_x) heads on one ResNet; embedding ``[F_l, F_g]`` (003 Sec. 3).

    ``forward(x)`` gives the ``[B, D]`` embedding, L2-normalised when ``normalize`` is set.
    ``forward(x, return_attention=True)`` gives a ``MultiHeadOutput`` that also holds the SOA maps.
    """

    def __init__(
        self,
        backbone: ResNetBackbone,
        embedding_dim: int = 512,
        heads: str = "both",
        soa: bool = True,
        soa_reduction: int | Mapping[str, int] | None = None,
        zeta: float = 1.0,
        normalize: bool = True,
        freeze_bn: bool = False,
    ) -> None:
        super().__init__()
        if heads not in HEAD_CHOICES:
            raise UserError(f"heads: unknown head set {heads!r}; choose one of {', '.join(HEAD_CHOICES)}")
        if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise UserError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
        if heads == "both" and embedding_dim % 2:
            raise UserError(
                f"embedding dimension D must be even (D/2 per head), got embedding_dim={embedding_dim}; "
                "choose an even embedding_dim"
            )
        if backbone.layer4[0].conv2.stride != (2, 2):
            raise UserError(
                "Multi-Head DML needs ResNet's standard last stride 2 (conv5_x at 1/32); "
                "build the backbone with last_stride=2"
            )
        self.backbone = backbone
        self.heads_name = heads
        self.embedding_dim = embedding_dim
        self.normalize = normalize
        self.freeze_bn = freeze_bn
        reductions = resolve_soa_reduction(soa_reduction)
        c_local, c_global = backbone.stage_channels[2], backbone.stage_channels[3]
        channels = {"local": c_local, "global": c_global, "single": 4 * c_local + c_global}
        names = ("local", "global") if heads == "both" else (heads,)
        out = embedding_dim // len(names)
        for name in names:
            if soa and channels[name] // reductions[name] < 1:
                raise UserError(
                    f"soa_reduction {reductions[name]} leaves no SOA channels for the {name} head's "
                    f"{channels[name]} channels; use a smaller soa_reduction"
                )
        self.heads = nn.ModuleDict(
            {name: EmbeddingHead(channels[name], out, soa, reductions[name], zeta) for name in names}
        )
        if heads == "local":
            # conv5_x is never run; keeping it would count and optimise parameters the model does not use.
            self.backbone.layer4 = nn.Identity()
        if freeze_bn:
            for module in self._backbone_norms():
                module.requires_grad_(False)
            self.train(self.training)

    def _backbone_norms(self) -> list[nn.Module]:
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode: bool = True) -> MultiHeadEmbedding:
        super().train(mode)
        if self.freeze_bn:
            for module in self._backbone_norms():
                module.eval()
        return self

    def feature_maps(self, x: Tensor) -> dict[str, Tensor]:
        """Each head's input map before SOA: conv4_x (local), conv5_x (global), or the single head's
        ``[focus(conv4_x), conv5_x]``."""
        b = self.backbone
        local = b.layer3(b.layer2(b.layer1(b.stem(x))))
        if self.heads_name == "local":
            return {"local": local}
        global_ = b.layer4(local)
        if self.heads_name == "global":
            return {"global": global_}
        if self.heads_name == "single":
            return {"single": torch.cat([focus(local), global_], dim=1)}
        return {"local": local, "global": global_}

    def forward(self, x: Tensor, return_attention: bool = False) -> Tensor | MultiHeadOutput:
        parts, attention = [], {}
        for name, f in self.feature_maps(x).items():
            vector, a = self.heads[name](f, return_attention=return_attention)
            parts.append(vector)
            if a is not None:
                attention[name] = a
        embedding = torch.cat(parts, dim=1)
        if self.normalize:
            embedding = F.normalize(embedding, dim=1)
        return MultiHeadOutput(embedding, attention) if return_attention else embedding

    def head_slices(self) -> dict[str, slice]:
        """Where each head's part lies in the embedding (local first), for evaluating one head's
        part on its own."""
        width = self.embedding_dim // len(self.heads)
        return {name: slice(i * width, (i + 1) * width) for i, name in enumerate(self.heads)}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters split into ``backbone`` and ``heads`` (SOA + FC), so the trainer can
        give each group its own learning rate.  The paper names one lr, 1e-4 with AdamW, for the
        model and 1e-2 for the proxies; the proxies belong to the loss (003 Sec. 4.2)."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        heads = [p for p in self.heads.parameters() if p.requires_grad]
        return {"backbone": backbone, "heads": heads}


def resolve_soa_reduction(value: int | Mapping[str, int] | None) -> dict[str, int]:
    """``soa_reduction`` (C/d): one integer for every head, or a mapping over the defaults."""
    if value is None:
        return dict(DEFAULT_SOA_REDUCTION)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(DEFAULT_SOA_REDUCTION))
        if unknown:
            raise UserError(f"soa_reduction: unknown heads {unknown}; use keys from {', '.join(DEFAULT_SOA_REDUCTION)}")
        resolved = {**DEFAULT_SOA_REDUCTION, **value}
    else:
        resolved = dict.fromkeys(DEFAULT_SOA_REDUCTION, value)
    for name, r in resolved.items():
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise UserError(f"soa_reduction for the {name} head must be a positive integer, got {r!r}")
    return resolved


def build_multi_head_model(
    config: Mapping[str, Any], num_classes: int | None = None, load_pretrained: bool = True
) -> MultiHeadEmbedding:
    """The Multi-Head DML model a cell's model config describes (003 Sec. 3, 4.2).

    ``config`` keys (missing ones take the paper's values): ``heads`` ("both"), ``soa`` (true),
    ``embedding_dim`` (512), ``backbone`` ({"blocks": [3, 4, 6, 3], "width": 64, "pretrained":
    "imagenet"}; ``pretrained`` is "imagenet", "none" or a state-dict path), ``soa_reduction``
    (SOLAR's C/d per head), ``zeta`` (1, Sec. 4.2), ``normalize`` (true), ``freeze_bn`` (false).
    ``num_classes`` is accepted so that every task's builder has one signature.  The model has
    no classifier, because the proxies belong to the loss.  ``load_pretrained=False`` skips the
    weights (meta-device builds).
    """
    del num_classes
    unknown = sorted(set(config) - set(MODEL_KEYS))
    if unknown:
        raise UserError(f"multi-head model config: unknown keys {unknown}; valid keys are {', '.join(MODEL_KEYS)}")
    backbone_cfg = {**DEFAULT_BACKBONE, **config.get("backbone", {})}
    unknown = sorted(set(backbone_cfg) - set(DEFAULT_BACKBONE))
    if unknown:
        raise UserError(f"backbone: unknown keys {unknown}; valid keys are {', '.join(DEFAULT_BACKBONE)}")
    try:
        backbone = ResNetBackbone(tuple(backbone_cfg["blocks"]), backbone_cfg["width"], last_stride=2)
    except ValueError as exc:
        raise UserError(f"{exc}; fix backbone.blocks / backbone.width in the model config") from None
    if load_pretrained and backbone_cfg["pretrained"] != "none":
        load_imagenet_weights(backbone, str(backbone_cfg["pretrained"]))
    return MultiHeadEmbedding(
        backbone,
        embedding_dim=config.get("embedding_dim", 512),
        heads=config.get("heads", "both"),
        soa=bool(config.get("soa", True)),
        soa_reduction=config.get("soa_reduction"),
        zeta=float(config.get("zeta", 1.0)),
        normalize=bool(config.get("normalize", True)),
        freeze_bn=bool(config.get("freeze_bn", False)),
    )
