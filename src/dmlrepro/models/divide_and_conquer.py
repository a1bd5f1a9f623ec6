"""Divide and Conquer's K-learner embedding network (004_82c542c12fef7e00.txt, §1, §2 and Tab. S1;
Sanakoyeu et al., CVPR 2019; public code ``CompVis/metric-learning-divide-and-conquer``,
``lib/model.py``).

* **Backbone.** ResNet-50 with its standard strides (last stride 2; conv5_x is 7×7×2048 at 224²),
  ImageNet-initialised at paper scale.  Global average pooling (the code's ``AvgPool2d(7)``, which is
  GAP at 224²; adaptive here so that the smoke scale's 64–128 px inputs work), dropout 0.01, then one
  linear layer ``2048 → d`` with bias (d = 128).
* **Learners.** The d-dim output is cut into K contiguous slices of d/K dimensions (K = 8: 1–16,
  17–32, …, 113–128, Tab. S1's last column); each slice is **L2-normalised on its own** and is one
  learner's embedding.  The baseline is K = 1: one learner, the whole d-dim vector normalised.
* **What ``forward`` returns.** The concatenation of the K normalised slices, ``[B, d]``, as the
  public code's forward does.  This is the "full embedding space, composed by concatenating the
  embeddings produced by the individual learners" of §1 (it is what re-clustering and evaluation
  use; its norm is sqrt(K)).  ``learner_embedding(e, k)`` is learner k's unit-norm slice;
  ``full_embedding(e)`` is the concatenation re-normalised as a whole, which is what the public code
  feeds the loss during fine-tuning with the full embedding (``train.py``:
  ``normalize(model(X))``).
* **Initialisation** (the code's ``init_splitted``): each learner's rows of the linear layer get their
  own Xavier-normal draw with fan-out d/K (gain 1), and the bias of each slice the default
  ``nn.Linear`` draw U(±1/sqrt(2048)).  ``init="xavier"`` draws the whole layer at once instead.
* **Batch norm.** The text is silent.  The code puts every backbone BN layer in eval mode for the whole
  run (running statistics fixed at their ImageNet values) while its affine parameters stay in the
  optimiser: ``freeze_bn="stats"`` (default).  ``"none"`` trains BN as usual, ``"all"`` also freezes
  the affine parameters.
* **Clustering features.** The text clusters on the full embedding (``forward``).  The public code
  clusters on the L2-normalised 2048-d pooled features instead (``use_penultimate=True``, its
  issue #7): ``penultimate(x)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.models.resnet import RESNET50_BLOCKS, ResNetBackbone, load_imagenet_weights

FREEZE_BN_CHOICES: Final[tuple[str, ...]] = ("stats", "none", "all")
INIT_CHOICES: Final[tuple[str, ...]] = ("per_learner_xavier", "xavier")
DEFAULT_BACKBONE: Final[dict[str, Any]] = {"blocks": list(RESNET50_BLOCKS), "width": 64, "pretrained": "imagenet"}
MODEL_KEYS: Final[tuple[str, ...]] = ("embedding_dim", "num_learners", "backbone", "dropout", "freeze_bn", "init")


def learner_slices(embedding_dim: int, num_learners: int) -> list[slice]:
    """The K contiguous slices of a d-dim embedding, learner k owning dimensions
    ``k·d/K … (k+1)·d/K − 1`` (Tab. S1's "Emb. dimensions": 1–16, …, 113–128 for d = 128, K = 8)."""
    for value, name in ((embedding_dim, "embedding_dim"), (num_learners, "num_learners")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}")
    if embedding_dim % num_learners:
        raise UserError(
            f"num_learners K={num_learners} does not divide embedding_dim d={embedding_dim}: every learner "
            "needs d/K dimensions; choose K among the divisors of d (e.g. K=8 for d=128)"
        )
    width = embedding_dim // num_learners
    return [slice(k * width, (k + 1) * width) for k in range(num_learners)]


def normalize_slices(raw: Tensor, slices: list[slice]) -> Tensor:
    """Each slice of ``raw`` L2-normalised on its own (``x / max(‖x‖, 1e-12)``), concatenated."""
    return torch.cat([F.normalize(raw[:, s], dim=1) for s in slices], dim=1)


class DivideAndConquerEmbedding(nn.Module):
    """ResNet → GAP → dropout → linear ``C → d``, cut into K independently normalised learners
    (004 §1–2, Tab. S1).

    ``forward(x)`` is the ``[B, d]`` concatenation of the K unit-norm learner embeddings.
    """

    def __init__(
        self,
        backbone: ResNetBackbone,
        embedding_dim: int = 128,
        num_learners: int = 8,
        dropout: float = 0.01,
        freeze_bn: str = "stats",
        init: str = "per_learner_xavier",
    ) -> None:
        super().__init__()
        self.slices = learner_slices(embedding_dim, num_learners)
        if freeze_bn not in FREEZE_BN_CHOICES:
            raise UserError(f"freeze_bn: unknown choice {freeze_bn!r}; choose one of {', '.join(FREEZE_BN_CHOICES)}")
        if init not in INIT_CHOICES:
            raise UserError(f"init: unknown choice {init!r}; choose one of {', '.join(INIT_CHOICES)}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise UserError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        if backbone.layer4[0].conv2.stride != (2, 2):
            raise UserError(
                "Divide and Conquer uses ResNet-50's standard last stride 2 (conv5_x at 1/32); "
                "build the backbone with last_stride=2"
            )
        self.backbone = backbone
        self.embedding_dim = embedding_dim
        self.num_learners = num_learners
        self.freeze_bn = freeze_bn
        self.init_name = init
        self.feature_dim = backbone.stage_channels[3]
        self.dropout = nn.Dropout(float(dropout))
        self.embedding = nn.Linear(self.feature_dim, embedding_dim)
        self.reset_embedding()
        if freeze_bn == "all":
            for module in self._backbone_norms():
                module.requires_grad_(False)
        self.train(self.training)

    def reset_embedding(self) -> None:
        """The code's ``init_splitted``: one Xavier-normal (gain 1) draw per learner, each with fan-out
        d/K, and each slice's bias drawn as a ``nn.Linear(C, d/K)``'s, U(±1/sqrt(C))."""
        weight, bias = self.embedding.weight, self.embedding.bias
        with torch.no_grad():
            if self.init_name == "xavier":
                nn.init.xavier_normal_(weight, gain=1.0)
                nn.init.uniform_(bias, -1 / math.sqrt(self.feature_dim), 1 / math.sqrt(self.feature_dim))
                return
            for s in self.slices:
                nn.init.xavier_normal_(weight[s], gain=1.0)
                nn.init.uniform_(bias[s], -1 / math.sqrt(self.feature_dim), 1 / math.sqrt(self.feature_dim))

    def _backbone_norms(self) -> list[nn.Module]:
        return [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def train(self, mode: bool = True) -> DivideAndConquerEmbedding:
        super().train(mode)
        if self.freeze_bn in ("stats", "all"):
            for module in self._backbone_norms():
                module.eval()
        return self

    # --- the network ---------------------------------------------------------------------------

    def features(self, x: Tensor) -> Tensor:
        """Globally average-pooled conv5_x, ``[B, C]`` (C = 2048 for ResNet-50)."""
        b = self.backbone
        f = b.layer4(b.layer3(b.layer2(b.layer1(b.stem(x)))))
        return f.mean(dim=(2, 3))

    def raw_embedding(self, x: Tensor) -> Tensor:
        """The linear layer's output before any normalisation, ``[B, d]``."""
        return self.embedding(self.dropout(self.features(x)))

    def forward(self, x: Tensor) -> Tensor:
        return normalize_slices(self.raw_embedding(x), self.slices)

    def penultimate(self, x: Tensor) -> Tensor:
        """The public code's clustering features: the pooled C-dim features, L2-normalised as a whole
        (after dropout, as in the code; dropout is the identity in eval mode)."""
        return F.normalize(self.dropout(self.features(x)), dim=1)

    # --- views of forward's output ---------------------------------------------------------------

    def learner_embedding(self, e: Tensor, k: int) -> Tensor:
        """Learner k's unit-norm d/K-dim embedding (0-based k) from ``forward``'s output."""
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.num_learners:
            raise UserError(f"learner index must be in 0..{self.num_learners - 1}, got {k!r}")
        return F.normalize(e[:, self.slices[k]], dim=1)

    def learner_embeddings(self, e: Tensor) -> list[Tensor]:
        return [self.learner_embedding(e, k) for k in range(self.num_learners)]

    def full_embedding(self, e: Tensor) -> Tensor:
        """The concatenated learners re-normalised as a whole (the loss's input during fine-tuning
        with the full embedding; for K = 1 it is ``e`` itself)."""
        return F.normalize(e, dim=1)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters split into ``backbone`` and ``embedding`` (the code's two Adam groups,
        lr 1e-5 and weight decay 1e-4 each)."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        embedding = [p for p in self.embedding.parameters() if p.requires_grad]
        return {"backbone": backbone, "embedding": embedding}


def build_divide_and_conquer_model(
    config: Mapping[str, Any], num_classes: int | None = None, load_pretrained: bool = True
) -> DivideAndConquerEmbedding:
    """The Divide and Conquer model a cell's model config describes (004 §1–2).

    ``config`` keys (missing ones take the paper's / code's values): ``embedding_dim`` (128),
    ``num_learners`` (8; 1 is the baseline), ``backbone`` ({"blocks": [3, 4, 6, 3], "width": 64,
    "pretrained": "imagenet"}; ``pretrained`` is "imagenet", "none" or a state-dict path),
    ``dropout`` (0.01), ``freeze_bn`` ("stats"), ``init`` ("per_learner_xavier").  ``num_classes``
    is accepted so that every task's builder has one signature; the model has no classifier.
    ``load_pretrained=False`` skips the weights (meta-device builds).
    """
    del num_classes
    unknown = sorted(set(config) - set(MODEL_KEYS))
    if unknown:
        raise UserError(f"divide-and-conquer model config: unknown keys {unknown}; valid keys are {', '.join(MODEL_KEYS)}")
    backbone_cfg = {**DEFAULT_BACKBONE, **config.get("backbone", {})}
    unknown = sorted(set(backbone_cfg) - set(DEFAULT_BACKBONE))
    if unknown:
        raise UserError(f"backbone: unknown keys {unknown}; valid keys are {', '.join(DEFAULT_BACKBONE)}")
    # Checked before the backbone is built, so that a bad K fails in milliseconds.
    learner_slices(config.get("embedding_dim", 128), config.get("num_learners", 8))
    try:
        backbone = ResNetBackbone(tuple(backbone_cfg["blocks"]), backbone_cfg["width"], last_stride=2)
    except ValueError as exc:
        raise UserError(f"{exc}; fix backbone.blocks / backbone.width in the model config") from None
    if load_pretrained and backbone_cfg["pretrained"] != "none":
        load_imagenet_weights(backbone, str(backbone_cfg["pretrained"]))
    return DivideAndConquerEmbedding(
        backbone,
        embedding_dim=config.get("embedding_dim", 128),
        num_learners=config.get("num_learners", 8),
        dropout=config.get("dropout", 0.01),
        freeze_bn=config.get("freeze_bn", "stats"),
        init=config.get("init", "per_learner_xavier"),
    )
