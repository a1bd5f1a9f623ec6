"""Triplet sampling for the margin loss of Divide and Conquer (004_82c542c12fef7e00.txt, §2: "Margin
loss [7]", i.e. Wu, Manmatha, Smola, Krähenbühl, "Sampling matters in deep embedding learning",
ICCV 2017).

``DistanceWeightedSampling`` (the text, through its citation).  On the unit sphere in R^n, the
distance d between two uniformly random points has density (Wu et al., Sec. 4)

    q(d) ∝ d^(n−2) · (1 − d²/4)^((n−3)/2),

and distance-weighted sampling draws, for an anchor a, a negative with probability

    Pr(n | a) ∝ q(max(d_an, cutoff))^(−1) · [d_an < nonzero_loss_cutoff],

so that negatives are spread over all distances instead of concentrating near sqrt(2).  ``cutoff`` =
0.5 clips the weights of very close negatives ("to avoid noisy samples"); ``nonzero_loss_cutoff`` =
1.4 (= β + α at initialisation) leaves out negatives that could not give a non-zero loss.  Both
values, the per-pair layout (for every anchor, every positive once, each with one negative drawn
with replacement) and n = the embedding's dimension (16 for a learner's slice, 128 for the full
embedding) are those of Wu et al.'s public code (``chaoyuaw/incubator-mxnet``,
``example/gluon/embedding_learning/model.py``) and of pytorch-metric-learning's
``DistanceWeightedMiner``, whose weights the tests hold equal to ``negative_probabilities``.

Where this differs from PML's miner (which therefore is not reused as is): PML draws each anchor's
positives at random with replacement and makes n_p (not n_p − 1) triplets per anchor, and skips an
anchor whose negatives all lie beyond ``nonzero_loss_cutoff``.  Here every positive pair is used
exactly once, as in Wu et al.'s code, and such an anchor draws its negatives uniformly (Wu et al.'s
fallback, which draws from the whole batch; here from the anchor's negatives only), counted in
``Triplets.fallback_anchors``.  A negative whose weight is not finite (d = 2 exactly, where q = 0)
gets weight 0, as in PML.  The weights are computed in float64 and normalised per row after
subtracting the row's maximum log-weight (Wu et al. subtract the batch maximum; the row
normalisation makes the two equal, and the row maximum cannot underflow a whole row).

``ClosestBeyondCutoffSampling`` (the public Divide and Conquer code, ``lib/loss/sampler.py``; its
maintainer confirms it in issue #6): for every anchor, all its positives, and as negatives the m
closest negatives at distance >= ``cutoff`` (0.5), where m = (number of positive pairs in the
batch) // (batch size) — 3 for the code's batches of 4 images per class.  The j-th positive (in
batch order) is paired with the j-th selected negative (in batch order), as the code does.  With
class-balanced batches this is exactly the code; where an anchor has fewer than m negatives beyond
the cutoff the code fills up with excluded items (positives or closer negatives) and can misalign
triplets across anchors, while here the anchor keeps only the pairs it has (``Triplets.short_anchors``
counts them).

Sampling runs on the CPU in float64 with an optional ``torch.Generator``, so the same seed draws the
same triplets on any device.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from dmlrepro.errors import UserError


@dataclass(frozen=True, eq=False)
class Triplets:
    """Index triplets into the batch (int64, CPU), anchors in batch order."""

    anchors: Tensor
    positives: Tensor
    negatives: Tensor
    fallback_anchors: int = 0
    short_anchors: int = 0

    def __len__(self) -> int:
        return int(self.anchors.numel())


def _empty() -> Triplets:
    e = torch.zeros(0, dtype=torch.int64)
    return Triplets(e, e.clone(), e.clone())


def unit_distances(embeddings: Tensor) -> Tensor:
    """``(B, B)`` float64 Euclidean distances between the L2-normalised rows, on the CPU, from the
    differences (not from ``2 − 2 x·y``, which loses digits for close pairs)."""
    x = F.normalize(embeddings.detach().to("cpu", torch.float64), dim=1)
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")


def log_inverse_sphere_density(d: Tensor, dim: int) -> Tensor:
    """``log q(d)^(−1) = (2 − n) log d − ((n − 3)/2) log(1 − d²/4)`` up to a constant (Wu et al. 2017,
    Sec. 4), for distances d between points of the unit sphere in R^n."""
    return (2.0 - dim) * torch.log(d) - ((dim - 3) / 2.0) * torch.log(1.0 - 0.25 * d * d)


def _check_cutoffs(cutoff: float, nonzero_loss_cutoff: float | None) -> tuple[float, float | None]:
    if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or not 0 < cutoff < 2:
        raise UserError(f"cutoff must be a distance in (0, 2), got {cutoff!r}")
    if nonzero_loss_cutoff is not None:
        if isinstance(nonzero_loss_cutoff, bool) or not isinstance(nonzero_loss_cutoff, numbers.Real) \
                or not cutoff < nonzero_loss_cutoff <= 2:
            raise UserError(f"nonzero_loss_cutoff must be a distance in (cutoff, 2] or null, got {nonzero_loss_cutoff!r}")
        nonzero_loss_cutoff = float(nonzero_loss_cutoff)
    return float(cutoff), nonzero_loss_cutoff


def negative_probabilities(embeddings: Tensor, labels: Tensor, cutoff: float = 0.5,
                           nonzero_loss_cutoff: float | None = 1.4) -> Tensor:
    """``(B, B)`` float64: row a is the distribution a's negative is drawn from (module docstring);
    a row is all zeros when the anchor has no eligible negative."""
    cutoff, nonzero_loss_cutoff = _check_cutoffs(cutoff, nonzero_loss_cutoff)
    labels = labels.detach().to("cpu")
    d = unit_distances(embeddings)
    log_w = log_inverse_sphere_density(d.clamp(min=cutoff), embeddings.shape[1])
    allowed = (labels[:, None] != labels[None, :]) & torch.isfinite(log_w)
    if nonzero_loss_cutoff is not None:
        allowed &= d < nonzero_loss_cutoff
    log_w = log_w.masked_fill(~allowed, float("-inf"))
    row_max = log_w.amax(dim=1, keepdim=True)
    weights = torch.exp(log_w - torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max)))
    total = weights.sum(dim=1, keepdim=True)
    return torch.where(total > 0, weights / torch.where(total > 0, total, torch.ones_like(total)), weights)


def positive_pairs(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Every ordered (anchor, positive) pair of distinct batch items with the same label, anchors in
    batch order and each anchor's positives in batch order."""
    labels = labels.detach().to("cpu")
    same = labels[:, None] == labels[None, :]
    same.fill_diagonal_(False)
    a, p = torch.nonzero(same, as_tuple=True)
    return a, p


class DistanceWeightedSampling:
    """Wu et al.'s distance-weighted sampling (module docstring).  ``__call__(embeddings, labels,
    generator)`` returns the ``Triplets``."""

    def __init__(self, cutoff: float = 0.5, nonzero_loss_cutoff: float | None = 1.4) -> None:
        self.cutoff, self.nonzero_loss_cutoff = _check_cutoffs(cutoff, nonzero_loss_cutoff)

    def __repr__(self) -> str:
        return f"DistanceWeightedSampling(cutoff={self.cutoff}, nonzero_loss_cutoff={self.nonzero_loss_cutoff})"

    def __call__(self, embeddings: Tensor, labels: Tensor, generator: torch.Generator | None = None) -> Triplets:
        labels = labels.detach().to("cpu")
        a, p = positive_pairs(labels)
        if a.numel() == 0:
            return _empty()
        probs = negative_probabilities(embeddings, labels, self.cutoff, self.nonzero_loss_cutoff)
        negatives = labels[:, None] != labels[None, :]
        has_negative = negatives.any(dim=1)
        keep = has_negative[a]
        a, p = a[keep], p[keep]
        if a.numel() == 0:
            return _empty()
        empty_rows = probs.sum(dim=1) == 0
        fallback = empty_rows & has_negative
        rows = torch.where(fallback[:, None], negatives.to(torch.float64), probs)
        n = torch.multinomial(rows[a], 1, replacement=True, generator=generator).flatten()
        return Triplets(a, p, n, fallback_anchors=int(fallback[torch.unique(a)].sum()))


class ClosestBeyondCutoffSampling:
    """The public Divide and Conquer code's sampler (module docstring); deterministic."""

    def __init__(self, cutoff: float = 0.5) -> None:
        self.cutoff, _ = _check_cutoffs(cutoff, None)

    def __repr__(self) -> str:
        return f"ClosestBeyondCutoffSampling(cutoff={self.cutoff})"

    def __call__(self, embeddings: Tensor, labels: Tensor, generator: torch.Generator | None = None) -> Triplets:
        del generator
        labels = labels.detach().to("cpu")
        batch = labels.numel()
        d = unit_distances(embeddings)
        same = labels[:, None] == labels[None, :]
        positive = same.clone()
        positive.fill_diagonal_(False)
        m = int(positive.sum()) // batch
        if m == 0:
            return _empty()
        eligible = ~same & (d >= self.cutoff)
        # Closest first; ties to the lower batch index (a stable sort of the distances).
        order = torch.sort(d.masked_fill(~eligible, float("inf")), dim=1, stable=True).indices
        anchors, positives, negatives, short = [], [], [], 0
        for i in range(batch):
            chosen = order[i, : min(m, int(eligible[i].sum()))]
            chosen = torch.sort(chosen).values  # paired with the positives in batch order
            pos = torch.nonzero(positive[i], as_tuple=True)[0]
            short += int(len(chosen) < m)
            t = min(len(pos), len(chosen))
            anchors.append(torch.full((t,), i, dtype=torch.int64))
            positives.append(pos[:t])
            negatives.append(chosen[:t])
        return Triplets(torch.cat(anchors), torch.cat(positives), torch.cat(negatives), short_anchors=short)
