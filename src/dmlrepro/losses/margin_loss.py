"""Margin loss of Divide and Conquer's learners (004_82c542c12fef7e00.txt, §2: "we ... train our model
with Margin loss [7]"; [7] = Wu et al., "Sampling matters in deep embedding learning", ICCV 2017).

For sampled triplets (a, p, n) of L2-normalised embeddings, with D the Euclidean distance,

    L = Σ_(a,p,n) [ (D_ap − β + α)_+ + (β − D_an + α)_+ ]  /  #{non-zero terms}

(Wu et al.'s Eq. for ℓ^margin with ν = 0, normalised as in their code, in the Divide and Conquer code
and in pytorch-metric-learning's ``MarginLoss`` with its ``DivisorReducer``; 0 when every term is 0
or there is no triplet).  α = 0.2 (``margin``), β initialised to 1.2.

Named variants (``MARGIN_VARIANTS``):

* ``text`` (default): triplets by Wu et al.'s distance-weighted sampling (``distance_weighted_sampling.
  DistanceWeightedSampling``) and a learnable β, as the cited paper trains it.
* ``code``: the public Divide and Conquer code (``lib/loss/margin_loss.py``): triplets from its
  "closest negatives beyond 0.5" sampler (``ClosestBeyondCutoffSampling``), and β fixed at 1.2 (the
  code creates β as a parameter but never gives it to the optimiser).

β is one scalar shared by all classes by default, as in the Divide and Conquer code
(``class_specific_beta=False``); ``num_beta_classes=C`` gives one β per training class, Wu et al.'s
β^(class) (labels must then be 0..C−1).  The β-regulariser ν·β of Wu et al. is not implemented: ν = 0
in both codes.  A learnable β is ``loss.beta`` (an ``nn.Parameter``) so that the trainer can give it
its own parameter group; fixed, it is a buffer.  The text gives no learning rate for β.

The loss L2-normalises its input (a no-op for a learner's unit-norm slice; the full embedding in
fine-tuning is re-normalised as a whole, as the code does before its criterion).  Distances in the
loss are exact, ``‖x_a − x_p‖`` (the codes add 1e-8 under the square root; the difference is below
1e-8 except for identical pairs, where the gradient here is 0 instead of finite-but-arbitrary).

Sampling draws from ``self.generator`` when ``seed`` is given (its state is part of the module's
``state_dict``, so a resumed run draws the same triplets), otherwise from torch's global generator.
"""

from __future__ import annotations

from typing import Any, Final

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.losses.common import check_batch, check_non_negative, check_positive, check_positive_int
from dmlrepro.losses.distance_weighted_sampling import (
    ClosestBeyondCutoffSampling,
    DistanceWeightedSampling,
    Triplets,
)
from dmlrepro.losses.registry import register_loss

#: variant → (sampling, learn β by default)
MARGIN_VARIANTS: Final[dict[str, tuple[str, bool]]] = {
    "text": ("distance_weighted", True),
    "code": ("closest_beyond_cutoff", False),
}


def margin_terms(x: Tensor, labels: Tensor, triplets: Triplets, beta: Tensor, margin: float) -> tuple[Tensor, Tensor]:
    """Per-triplet ``(D_ap − β + α)_+`` and ``(β − D_an + α)_+`` (``beta``: a scalar tensor, or one
    value per class indexed by the anchor's label)."""
    device = x.device
    a, p, n = (t.to(device) for t in (triplets.anchors, triplets.positives, triplets.negatives))
    d_ap = torch.linalg.vector_norm(x[a] - x[p], dim=1)
    d_an = torch.linalg.vector_norm(x[a] - x[n], dim=1)
    b = beta.to(x.dtype)
    b = b[labels[a]] if b.numel() > 1 else b.reshape(())
    return F.relu(d_ap - b + margin), F.relu(b - d_an + margin)


@register_loss("margin")
class MarginLoss(nn.Module):
    """Margin loss with a sampler (module docstring).

    Args:
        margin: α (0.2).
        beta: initial β (1.2).
        variant: ``text`` (distance-weighted sampling, learnable β) or ``code`` (closest negatives
            beyond the cutoff, fixed β).
        learn_beta: override the variant's choice of a learnable β.
        cutoff: the samplers' distance cutoff (0.5).
        nonzero_loss_cutoff: distance-weighted sampling ignores negatives this far (1.4; ``None``: none).
        num_beta_classes: one β per class (``None``: one shared β).
        seed: seed of the loss's own sampling generator (``None``: torch's global generator).
    """

    def __init__(self, margin: float = 0.2, beta: float = 1.2, variant: str = "text",
                 learn_beta: bool | None = None, cutoff: float = 0.5,
                 nonzero_loss_cutoff: float | None = 1.4, num_beta_classes: int | None = None,
                 seed: int | None = None) -> None:
        super().__init__()
        if variant not in MARGIN_VARIANTS:
            raise UserError(f"unknown margin-loss variant {variant!r}; valid: {', '.join(MARGIN_VARIANTS)}")
        self.margin = check_non_negative(margin, "margin")
        self.variant = variant
        sampling, default_learn = MARGIN_VARIANTS[variant]
        self.learn_beta = default_learn if learn_beta is None else bool(learn_beta)
        if sampling == "distance_weighted":
            self.sampler: DistanceWeightedSampling | ClosestBeyondCutoffSampling = \
                DistanceWeightedSampling(cutoff, nonzero_loss_cutoff)
        else:
            self.sampler = ClosestBeyondCutoffSampling(cutoff)
        self.num_beta_classes = None if num_beta_classes is None else check_positive_int(num_beta_classes, "num_beta_classes")
        initial = torch.full((self.num_beta_classes or 1,), check_positive(beta, "beta"))
        if self.learn_beta:
            self.beta = nn.Parameter(initial)
        else:
            self.register_buffer("beta", initial)
        if seed is not None:
            check_non_negative(seed, "seed")
            self.generator: torch.Generator | None = torch.Generator().manual_seed(int(seed))
        else:
            self.generator = None
        self.last: dict[str, Any] = {}

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, variant={self.variant!r}, learn_beta={self.learn_beta}, "
                f"sampler={self.sampler!r}, num_beta_classes={self.num_beta_classes}")

    def get_extra_state(self) -> dict[str, Any]:
        return {"generator": None if self.generator is None else self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("generator") is not None:
            if self.generator is None:
                self.generator = torch.Generator()
            self.generator.set_state(state["generator"])

    def sample(self, embeddings: Tensor, labels: Tensor) -> Triplets:
        return self.sampler(embeddings, labels, generator=self.generator)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        labels = check_batch(embeddings, labels, self.num_beta_classes)
        x = F.normalize(embeddings, dim=1)
        return self.loss_from_triplets(x, labels, self.sample(x, labels))

    def loss_from_triplets(self, x: Tensor, labels: Tensor, triplets: Triplets) -> Tensor:
        """The loss on given triplets of already normalised embeddings ``x``."""
        self.last = {"triplets": len(triplets), "fallback_anchors": triplets.fallback_anchors,
                     "short_anchors": triplets.short_anchors, "active_terms": 0}
        if len(triplets) == 0:
            return x.sum() * 0.0 + self.beta.sum().to(x.dtype) * 0.0
        pos, neg = margin_terms(x, labels, triplets, self.beta, self.margin)
        active = int(torch.count_nonzero(pos > 0)) + int(torch.count_nonzero(neg > 0))
        self.last["active_terms"] = active
        total = pos.sum() + neg.sum()
        return total / active if active > 0 else total * 0.0
