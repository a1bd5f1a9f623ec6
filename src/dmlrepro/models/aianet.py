"""AiA-Net for image person re-identification (002_e585b7ac4801a221.txt, Sec. 4, Fig. 7).

Two feature extractors on one backbone (Sec. 4.2):

* **F_a, appearance.**  The backbone's four blocks (paper Blk 1–4); an attention module may follow
  any of them (``stages``, the paper's positions p1–p4, Table 7), and the attended map feeds the
  next block.  Head (Sec. 4.4: "the size of the feature after GAP is 1024, which is followed by the
  512-dimensional person appearance embedding layer f_a.  Another FC layer ... predict[s] the person
  identity"); the layers the paper does not name follow the public code
  (shared/notes/implementation-facts.md §3): BN2d → ReLU → GAP → Dropout(0.1) → Linear(1024, 512) →
  BN1d → ReLU = f_a; classifier Dropout(0.1) → Linear(512, k).
* **F_p, parts.**  "The aligned feature map X ∈ R^{c×h×w} is divided into T non-overlapping regions
  X_t ∈ R^{c×h/T×w} ... Each ... is resized to c×h×w by bilinear interpolation and fed to the t-th
  stream" and "no weights are shared between them" (Sec. 4.2, Remark 5); T = 4 (Sec. 4.4).  As in
  the public code, X is the output of Blk 2 *after* its attention (16×8×480 at 256×128), and each
  stream is its own copy of Blk 3 and Blk 4 without attention, copied from the backbone so that it
  starts from the same (ImageNet) weights.  The regions are cut with the code's fixed affine grids
  (scale 1 in x and 1/T in y, y shifts −1 + (2t+1)/T: −0.75, −0.25, 0.25, 0.75), with two
  corrections that make them the paper's non-overlapping bilinear resize exactly: the grid uses
  ``align_corners=False`` (the code ran on torch 1.1, whose default was ``True``) and sampling is
  clamped inside each region (otherwise the first and last rows of a region blend in the
  neighbouring region's rows).  Head: concatenate the T streams (T·1024 channels) → BN2d → GAP →
  Dropout(0.1) → Linear(T·1024, 512) → BN1d → ReLU = f_p; classifier Dropout → Linear(512, k).

Training returns both branches' logits (cross-entropy) and embeddings (triplet loss): "we pose the
ranking task and classification task in both the appearance and part feature extractors
separately" (Sec. 4.4).  In eval mode the test feature is f = [f_a/‖f_a‖, f_p/‖f_p‖] ∈ R^1024
(Sec. 4.4; the per-branch L2 normalisation is the code's).

With a ResNet-50 backbone its four residual stages play the role of Blk 1–4 (the paper's ResNet
rows are in its supplement, which is not available): the parts are cut from layer2's output and
each stream copies layer3 and layer4.

DenseNet-121, MobileNet-V2 and ShuffleNet-V2 (Sec. 5.6, Fig. 11) are torchvision's networks cut into
four blocks with the output strides of BN-GoogLeNet's (8, 16, 32, 32); where each block ends is in
``dmlrepro.models.torchvision_backbones``.  The part extractor applies to them unchanged (parts cut
from Blk 2's output, each stream a copy of Blk 3 and Blk 4).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dmlrepro.attention import build_attention, get_attention_class
from dmlrepro.models.googlenet_bn import GoogLeNetBN
from dmlrepro.models.pretrained_weights import PretrainedWeightsError, state_dict_file
from dmlrepro.models.resnet import ResNetBackbone, load_imagenet_weights
from dmlrepro.models.torchvision_backbones import TORCHVISION_BACKBONES, build_torchvision_backbone

#: AiA-Net's attentions that come with and without the inner attention (Table 1): the registry
#: holds ``lin`` (without AiA, Fig. 4) and ``lin_aia`` (with AiA, Fig. 1), and so on.
AIA_ATTENTIONS = ("lin", "sop", "gau")
#: Paper-spec names that differ from registry names.
REGISTRY_ALIASES = {"nl": "nonlocal"}
#: Attentions of AiA-Net's tables that read the reduction factor r (Sec. 4.4; Table 3 for SE, NL).
REDUCTION_ATTENTIONS = ("lin", "sop", "gau", "nonlinear_v1", "nonlinear_v2", "se", "nl", "nonlocal")
BACKBONES = ("googlenet_bn", "googlenet", "resnet50", *TORCHVISION_BACKBONES)


class Backbone(Protocol):
    """What AiA-Net needs of a backbone (:class:`GoogLeNetBN`, :class:`ResNetBackbone`, the
    torchvision backbones of ``dmlrepro.models.torchvision_backbones``)."""

    stage_channels: tuple[int, ...]

    def stem(self, x: Tensor) -> Tensor: ...

    def stages(self) -> list[nn.Sequential]: ...


@dataclass
class AiANetOutput:
    """Training output: per branch (appearance first, then parts) the class logits for the
    cross-entropy loss and the embedding for the triplet loss."""

    logits: list[Tensor]
    embeddings: list[Tensor]


def part_sampling_grid(height: int, width: int, parts: int, device=None, dtype=None) -> Tensor:
    """The ``grid_sample`` grids, shape [parts, height, width, 2], that cut a height×width map into
    ``parts`` horizontal regions and resize each back to height×width bilinearly.

    Row i of stream t samples the code's affine grid θ_t = [[1, 0, 0], [0, 1/T, −1 + (2t+1)/T]] at
    the ``align_corners=False`` position of output row i; in pixel units that is
    ``t·h/T + (i + ½)/T − ½``, the source row of ``F.interpolate`` on region t, clamped to the
    region's first and last rows as ``F.interpolate`` clamps to its input.
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    rows = torch.arange(height, device=device, dtype=torch.float64)
    cols = torch.arange(width, device=device, dtype=torch.float64)
    x_norm = (2 * cols + 1) / width - 1  # identity in x
    grids = []
    for t in range(parts):
        start, stop = t * height / parts, (t + 1) * height / parts
        src = start + (rows + 0.5) / parts - 0.5
        low = start
        high = max(low, stop - 1)
        src = src.clamp(min(low, height - 1), min(high, height - 1))
        y_norm = (2 * src + 1) / height - 1
        grid = torch.stack(torch.broadcast_tensors(x_norm[None, :], y_norm[:, None]), dim=-1)
        grids.append(grid)
    return torch.stack(grids).to(dtype or torch.get_default_dtype())


def sample_parts(x: Tensor, parts: int) -> list[Tensor]:
    """The ``parts`` regions of ``x`` [B, C, H, W], each resized to H×W (Sec. 4.2)."""
    b, c, h, w = x.shape
    grid = part_sampling_grid(h, w, parts, device=x.device, dtype=x.dtype)  # [T, H, W, 2]
    stacked = x.unsqueeze(0).expand(parts, b, c, h, w).reshape(parts * b, c, h, w)
    grid = grid.unsqueeze(1).expand(parts, b, h, w, 2).reshape(parts * b, h, w, 2)
    sampled = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return list(sampled.reshape(parts, b, c, h, w).unbind(0))


def _attended(module: nn.Module, x: Tensor) -> Tensor:
    """The attended map, whether a module returns a tensor or an ``AttentionOutput``."""
    result = module(x)
    if isinstance(result, Tensor):
        return result
    out = getattr(result, "out", None)
    if isinstance(out, Tensor):
        return out
    raise TypeError(f"{type(module).__name__} returned {type(result).__name__}; expected a Tensor or AttentionOutput")


class AiANet(nn.Module):
    """AiA-Net: appearance extractor F_a with attention, optional part extractor F_p, and heads."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        *,
        attention: str | None = None,
        attention_kwargs: Mapping[str, Any] | None = None,
        stages: Iterable[int] = (),
        part_extractor: bool = True,
        part_regions: int = 4,
        part_stage: int = 2,
        feat_dim: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError("backbone must be an nn.Module with stem(), stages() and stage_channels")
        stage_modules = list(backbone.stages())
        n_stages = len(stage_modules)
        if len(backbone.stage_channels) != n_stages:
            raise ValueError("backbone.stage_channels must give one channel count per stage")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        stages = tuple(sorted(set(stages)))
        if attention in (None, "none"):
            if stages:
                raise ValueError(f"stages {stages} given without an attention module")
            attention = None
        elif not stages:
            raise ValueError(f"attention {attention!r} needs at least one stage (1–{n_stages})")
        if any(s not in range(1, n_stages + 1) for s in stages):
            raise ValueError(f"stages must lie in 1..{n_stages} (the paper's p1–p4), got {stages}")
        if part_extractor and not 1 <= part_stage < n_stages:
            raise ValueError(f"part_stage must lie in 1..{n_stages - 1}, got {part_stage}")
        if part_extractor and part_regions < 1:
            raise ValueError(f"part_regions must be >= 1, got {part_regions}")

        self.backbone = backbone
        self.num_classes = num_classes
        self.attention_name = attention
        self.stages_with_attention = stages
        self.part_extractor = part_extractor
        self.part_regions = part_regions if part_extractor else 0
        self.part_stage = part_stage
        self.feat_dim = feat_dim

        self.attention = nn.ModuleDict()
        for stage in stages:
            channels = backbone.stage_channels[stage - 1]
            self.attention[str(stage)] = build_attention(attention, channels, **dict(attention_kwargs or {}))

        top = backbone.stage_channels[-1]
        self.global_norm = nn.BatchNorm2d(top)
        self.global_embedding = _embedding(top, feat_dim, dropout)
        classifiers = [_classifier(feat_dim, num_classes, dropout)]

        if part_extractor:
            # Each stream copies the backbone's later blocks as they are now (pretrained weights
            # included), so load weights into the backbone *before* building AiANet.
            self.part_streams = nn.ModuleList(
                nn.Sequential(*(copy.deepcopy(m) for m in stage_modules[part_stage:])) for _ in range(part_regions)
            )
            self.part_norm = nn.BatchNorm2d(top * part_regions)
            self.part_embedding = _embedding(top * part_regions, feat_dim, dropout)
            classifiers.append(_classifier(feat_dim, num_classes, dropout))
        self.classifiers = nn.ModuleList(classifiers)

    @property
    def feature_dim(self) -> int:
        """Dimension of the test feature: 512 per branch (1024 for F_a + F_p)."""
        return self.feat_dim * len(self.classifiers)

    def feature_maps(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The last block's (attended) map of F_a and the T part streams' last maps."""
        x = self.backbone.stem(x)
        part_input = None
        for index, stage in enumerate(self.backbone.stages(), start=1):
            x = stage(x)
            key = str(index)
            if key in self.attention:
                x = _attended(self.attention[key], x)
            if index == self.part_stage:
                part_input = x
        streams: list[Tensor] = []
        if self.part_extractor:
            assert part_input is not None
            regions = sample_parts(part_input, self.part_regions)
            streams = [stream(region) for stream, region in zip(self.part_streams, regions)]
        return x, streams

    def forward(self, x: Tensor) -> AiANetOutput | Tensor:
        global_map, streams = self.feature_maps(x)
        pooled = F.relu(self.global_norm(global_map)).mean(dim=(2, 3))
        embeddings = [self.global_embedding(pooled)]
        if self.part_extractor:
            parts = self.part_norm(torch.cat(streams, dim=1)).mean(dim=(2, 3))
            embeddings.append(self.part_embedding(parts))
        if not self.training:
            return torch.cat([F.normalize(f, dim=1) for f in embeddings], dim=1)
        logits = [classifier(f) for classifier, f in zip(self.classifiers, embeddings)]
        return AiANetOutput(logits=logits, embeddings=embeddings)

    def parameter_count(self, include_classifiers: bool = True) -> int:
        """Number of parameters; without the identity classifiers (whose size depends on the
        dataset's number of identities) if ``include_classifiers`` is false."""
        total = sum(p.numel() for p in self.parameters())
        if not include_classifiers:
            total -= sum(p.numel() for p in self.classifiers.parameters())
        return total


def _embedding(in_features: int, out_features: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features), nn.ReLU(inplace=True)
    )


def _classifier(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))


def attention_registry_name(attention: str | None, aia: bool = True) -> str | None:
    """Registry name of a paper-spec attention: ``lin`` + aia → ``lin_aia``; ``nl`` → ``nonlocal``."""
    if attention in (None, "none"):
        return None
    if attention in AIA_ATTENTIONS:
        return f"{attention}_aia" if aia else attention
    return REGISTRY_ALIASES.get(attention, attention)


def attention_kwargs_for(cell: Mapping[str, Any]) -> dict[str, Any]:
    """Module hyper-parameters a cell sets: ``reduction`` (r) for AiA-Net's attentions and SE/NL,
    ``c_prime`` (c') for Gau-attention, plus any explicit ``attention_kwargs``."""
    attention = cell.get("attention")
    kwargs: dict[str, Any] = {}
    if attention in REDUCTION_ATTENTIONS and "reduction" in cell:
        kwargs["reduction"] = cell["reduction"]
    if attention == "gau" and "c_prime" in cell:
        kwargs["c_prime"] = cell["c_prime"]
    kwargs.update(cell.get("attention_kwargs") or {})
    return kwargs


def _check_kwargs(name: str, kwargs: Mapping[str, Any]) -> None:
    """Fail early, naming the cell key, when a module does not take a hyper-parameter."""
    parameters = inspect.signature(get_attention_class(name).__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise ValueError(f"attention {name!r} does not take {unknown}; it takes {sorted(set(parameters) - {'self'})}")


def build_backbone(cell: Mapping[str, Any]) -> GoogLeNetBN | ResNetBackbone:
    """The cell's backbone (``backbone``, ``backbone_kwargs``), with weights if ``pretrained`` says so.

    ``pretrained``: absent/``none`` (random init), ``imagenet`` (torchvision's ResNet-50 weights; for
    BN-GoogLeNet only with ``variant="torchvision"``, since no public weights of the code's network
    exist), ``torchvision`` (torchvision's ImageNet GoogLeNet mapped onto the torchvision variant,
    ``dmlrepro.models.googlenet_torchvision``) or a path to a state dict of this backbone.
    DenseNet-121, MobileNet-V2, ShuffleNet-V2: ``imagenet`` and ``torchvision`` both load
    torchvision's IMAGENET1K_V1 weights of the network, a path a torchvision-layout state dict of it.
    """
    name = cell.get("backbone", "googlenet_bn")
    kwargs = dict(cell.get("backbone_kwargs") or {})
    if name in ("googlenet", "googlenet_bn"):
        backbone: GoogLeNetBN | ResNetBackbone = GoogLeNetBN(**kwargs)
    elif name == "resnet50":
        kwargs.setdefault("last_stride", 2)  # torchvision / deep-person-reid default; the paper says nothing
        backbone = ResNetBackbone(**kwargs)
    elif name in TORCHVISION_BACKBONES:
        backbone = build_torchvision_backbone(name, **kwargs)  # type: ignore[assignment]
    else:
        raise ValueError(f"backbone: unknown {name!r}; choose one of {BACKBONES}")
    pretrained = cell.get("pretrained") or "none"
    if pretrained == "none":
        return backbone
    if name in TORCHVISION_BACKBONES:
        from dmlrepro.models.torchvision_backbones import load_imagenet_weights as load_torchvision_weights

        load_torchvision_weights(backbone, "imagenet" if pretrained == "torchvision" else pretrained)  # type: ignore[arg-type]
        return backbone
    if isinstance(backbone, ResNetBackbone):
        load_imagenet_weights(backbone, "imagenet" if pretrained == "torchvision" else pretrained)
        return backbone
    if pretrained == "torchvision" or (pretrained == "imagenet" and backbone.variant == "torchvision"):
        from dmlrepro.models.googlenet_torchvision import load_torchvision_googlenet

        load_torchvision_googlenet(backbone)
        return backbone
    if pretrained == "imagenet":
        raise PretrainedWeightsError(
            "no public ImageNet weights exist for AiA-Net's BN-GoogLeNet (the code's "
            "inceptionV1_bn_noModule.pth.tar is not published): pass --config pretrained=/path/to/state_dict.pth "
            "(this network), pretrained=torchvision (torchvision's GoogLeNet mapped onto the closest network) "
            "or pretrained=none"
        )
    backbone.load_state_dict(state_dict_file(pretrained, "a state dict of AiA-Net's BN-GoogLeNet backbone"))
    return backbone


def build_aianet(cell: Mapping[str, Any], num_classes: int) -> AiANet:
    """AiA-Net from paper-spec cell keys.

    Keys (defaults in brackets): ``model`` [aianet]; ``backbone`` [googlenet_bn] (``googlenet`` is
    the spec's name for it; ``resnet50``, ``densenet121``, ``mobilenet_v2``, ``shufflenet_v2``),
    ``backbone_kwargs``, ``pretrained`` [none];
    ``attention`` [none], ``aia`` [true], ``reduction`` (r), ``c_prime`` (c'), ``attention_kwargs``;
    ``stages`` (required with an attention: the paper's p1–p4); ``part_extractor`` [true],
    ``part_regions`` (T) [4], ``part_stage`` [2]; ``embedding_dim`` [1024] is the test feature
    f = [f_a; f_p] ∈ R^1024 of Sec. 4.4, so each branch embeds into ``embedding_dim // 2`` (512) —
    also without the part extractor, as in the code's F_a baseline; ``dropout`` [0.1].
    """
    if cell.get("model", "aianet") != "aianet":
        raise ValueError(f"model: build_aianet builds 'aianet', got {cell.get('model')!r}")
    embedding_dim = int(cell.get("embedding_dim", 1024))
    if embedding_dim < 2 or embedding_dim % 2:
        raise ValueError(f"embedding_dim must be even (two 50/50 branches), got {embedding_dim}")
    name = attention_registry_name(cell.get("attention"), bool(cell.get("aia", True)))
    kwargs = attention_kwargs_for(cell) if name else {}
    if name:
        _check_kwargs(name, kwargs)
    stages = tuple(cell.get("stages") or ()) if name else ()
    backbone = build_backbone(cell)
    return AiANet(
        backbone,
        num_classes,
        attention=name,
        attention_kwargs=kwargs,
        stages=stages,
        part_extractor=bool(cell.get("part_extractor", True)),
        part_regions=int(cell.get("part_regions", 4)),
        part_stage=int(cell.get("part_stage", 2)),
        feat_dim=embedding_dim // 2,
        dropout=float(cell.get("dropout", 0.1)),
    )
