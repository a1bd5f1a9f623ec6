"""Evaluation of Divide and Conquer's individual learners (004_82c542c12fef7e00.txt, §2, Tab. S1,
Fig. S1, Fig. S2).

* ``evaluate_slices`` (Tab. S1): Recall@K "on the entire test set for every individual learner, each
  of which operates in a 16-dimensional embedding subspace", their mean, and "all together" (the
  concatenated learners).  For the baseline, whose one learner owns all 128 dimensions, the same
  call cuts its embedding "on 8 non-overlapping slices of 16 dimensions each".  Each slice is ranked
  by cosine similarity, i.e. re-normalised on its own (for our model's unit-norm learners a no-op;
  for the baseline's slices of a whole-normalised vector, the slice's own cosine).  Recall@K itself is
  ``recall_at_k.recall_at_k`` (SOP: leave-one-out over the test set).
* ``first_m_dimensions`` (Fig. S2): Recall@K "when we use only the first m out of 128 dimensions of
  the embedding layer (m = 16, 32, …, 128)".  The embedding evaluated is the model's output
  (``DivideAndConquerEmbedding.forward``: the unit-norm learners concatenated; the baseline's
  whole-normalised vector).  The truncated vector is re-normalised (``renormalize=True``, ranking
  by cosine, as every other number in the tables); ``renormalize=False`` ranks by the plain inner
  product of the truncated vectors.  For our model both give the same ranking (the first m/16
  learners have norm sqrt(m/16) for every image); for the baseline they differ.  The text names no
  K; SOP's usual K = 1, 10, 100, 1000 are the default.
* ``learner_correlation`` (Tab. S1, "Corr. coeff. (↓)"): "the correlation coefficient between the
  embedding produced by different learners".  The text does not define it.  The default,
  ``mean_abs_pearson``, is the mean absolute Pearson correlation, over the test set, between a
  dimension of one learner and a dimension of another, averaged over all such cross-learner pairs of
  dimensions (equivalently over the K(K−1)/2 pairs of learners of the mean |r| of their 16×16
  block).  Why this reading: it is a "correlation coefficient" in the ordinary sense, it is small
  (a few hundredths) for decorrelated features, matching the magnitude of the reported 0.0602 and
  0.0498, and absolute values keep positive and negative correlations from cancelling.  ``rv`` is an
  alternative: Escoufier's RV coefficient between the learners' (centred) embeddings, the
  multivariate generalisation of the squared Pearson correlation, which is 1 when one learner's
  embedding is a rotation or scaling of another's and near 0 for independent ones.  Dimensions that
  are constant over the test set have no correlation; they count as 0 and are reported
  (``constant_dims``).
* ``specialised_queries`` (Fig. S1): "Every row shows 10 query images, which are the easiest in terms
  of recall for one learner (R@1 = 1) but extremely difficult (R@30 = 0) for any other learner":
  for each learner, the queries whose first positive is at rank 1 in that learner's subspace and at
  rank > 30 in every other learner's.  The text does not say which 10 when more qualify: here those
  that are hardest for the other learners (largest smallest rank among them) first, then by index.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from dmlrepro.errors import UserError
from dmlrepro.evaluation.recall_at_k import LEAVE_ONE_OUT, RecallAtK, as_embeddings, check_ks, recall_at_k

CORRELATION_MEASURES: Final[tuple[str, ...]] = ("mean_abs_pearson", "rv")
SOP_KS: Final[tuple[int, ...]] = (1, 10, 100, 1000)


def embedding_slices(dim: int, num_slices: int) -> list[slice]:
    """The ``num_slices`` contiguous, equal slices of ``dim`` dimensions (Tab. S1's last column)."""
    if isinstance(num_slices, bool) or not isinstance(num_slices, numbers.Integral) or num_slices < 1:
        raise UserError(f"number of slices must be a positive integer, got {num_slices!r}")
    if dim % num_slices:
        raise UserError(f"{num_slices} slices do not divide the {dim}-dim embedding; choose a divisor of {dim}")
    width = dim // num_slices
    return [slice(k * width, (k + 1) * width) for k in range(int(num_slices))]


@dataclass(frozen=True, eq=False)
class SliceEvaluation:
    """``per_slice[k]``: the Recall@K of slice k alone; ``all_together``: of the whole embedding."""

    slices: list[slice]
    per_slice: list[RecallAtK]
    all_together: RecallAtK

    @property
    def mean(self) -> dict[int, float]:
        """Tab. S1's "Mean": the mean over the slices of each Recall@K (a fraction)."""
        return {k: float(np.mean([r.recall[k] for r in self.per_slice])) for k in self.all_together.recall}

    def rows(self, k: int = 1) -> dict[str, float]:
        """Tab. S1's rows for Recall@k, in percent: ``learner_1`` … ``learner_K``, ``mean``,
        ``all_together``."""
        out = {f"learner_{i + 1}": 100.0 * r.recall[k] for i, r in enumerate(self.per_slice)}
        out["mean"] = 100.0 * self.mean[k]
        out["all_together"] = 100.0 * self.all_together.recall[k]
        return out


def _prepare(embeddings: Any, reference: Any) -> tuple[np.ndarray, np.ndarray | None]:
    q = as_embeddings(embeddings, "embeddings").numpy()
    r = None if reference is None else as_embeddings(reference, "reference embeddings").numpy()
    if r is not None and r.shape[1] != q.shape[1]:
        raise UserError(f"query and reference embeddings differ in dimension ({q.shape[1]} vs {r.shape[1]})")
    return q, r


def evaluate_slices(embeddings: Any, labels: Any, num_slices: int, *, ks: Any = (1,),
                    reference: Any = None, reference_labels: Any = None, protocol: str = LEAVE_ONE_OUT,
                    ties: str = "optimistic") -> SliceEvaluation:
    """Recall@K of every slice alone and of the whole embedding (Tab. S1; module docstring)."""
    q, r = _prepare(embeddings, reference)
    slices = embedding_slices(q.shape[1], num_slices)
    ks = check_ks(ks)

    def run(cols: slice) -> RecallAtK:
        ref = None if r is None else r[:, cols]
        return recall_at_k(q[:, cols], labels, ref, reference_labels, ks=ks, protocol=protocol, ties=ties)

    per_slice = [run(s) for s in slices]
    return SliceEvaluation(slices=slices, per_slice=per_slice, all_together=run(slice(0, q.shape[1])))


def first_m_dimensions(embeddings: Any, labels: Any, ms: Sequence[int] | None = None, *, ks: Any = SOP_KS,
                       renormalize: bool = True, reference: Any = None, reference_labels: Any = None,
                       protocol: str = LEAVE_ONE_OUT, ties: str = "optimistic",
                       step: int = 16) -> dict[int, RecallAtK]:
    """Recall@K using only the first m dimensions, for each m (Fig. S2; module docstring).  ``ms``
    defaults to ``step, 2·step, …, dim``."""
    q, r = _prepare(embeddings, reference)
    dim = q.shape[1]
    if ms is None:
        if dim % step:
            raise UserError(f"the default m = {step}, {2 * step}, … needs a dimension divisible by {step}, got {dim}; pass ms")
        ms = range(step, dim + 1, step)
    out: dict[int, RecallAtK] = {}
    for m in ms:
        if isinstance(m, bool) or not isinstance(m, numbers.Integral) or not 1 <= m <= dim:
            raise UserError(f"m must be an integer in 1..{dim} (dimensions kept), got {m!r}")
        ref = None if r is None else r[:, :m]
        out[int(m)] = recall_at_k(q[:, :m], labels, ref, reference_labels, ks=ks, protocol=protocol,
                                  normalize=renormalize, ties=ties)
    return out


@dataclass(frozen=True, eq=False)
class LearnerCorrelation:
    """``value``: the mean over pairs of different learners; ``matrix[a, b]``: the pair's
    coefficient (diagonal: ``mean_abs_pearson`` within a learner, over its pairs of distinct
    dimensions, NaN for one-dimensional learners; ``rv``: 1)."""

    value: float
    matrix: np.ndarray
    measure: str
    constant_dims: int


def learner_correlation(embeddings: Any, num_slices: int, measure: str = "mean_abs_pearson") -> LearnerCorrelation:
    """The correlation between the learners' embeddings over a set of images (module docstring)."""
    if measure not in CORRELATION_MEASURES:
        raise UserError(f"unknown correlation measure {measure!r}; valid: {', '.join(CORRELATION_MEASURES)}")
    x = as_embeddings(embeddings, "embeddings").numpy().astype(np.float64)
    if x.shape[0] < 2:
        raise UserError("the correlation between learners needs at least two images")
    slices = embedding_slices(x.shape[1], num_slices)
    if len(slices) < 2:
        raise UserError("the correlation between learners needs at least two learners (slices)")
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / x.shape[0]
    sd = np.sqrt(np.diag(cov))
    constant = sd <= 1e-12 * max(1.0, float(np.abs(x).max()))
    k = len(slices)
    matrix = np.zeros((k, k))
    if measure == "mean_abs_pearson":
        safe = np.where(constant, 1.0, sd)
        corr = cov / safe[:, None] / safe[None, :]
        corr[constant, :] = 0.0
        corr[:, constant] = 0.0
        np.clip(corr, -1.0, 1.0, out=corr)
        for a, sa in enumerate(slices):
            for b, sb in enumerate(slices):
                block = np.abs(corr[sa, sb])
                if a == b:
                    width = block.shape[0]
                    matrix[a, b] = (block.sum() - np.trace(block)) / (width * (width - 1)) if width > 1 else np.nan
                else:
                    matrix[a, b] = block.mean()
    else:
        for a, sa in enumerate(slices):
            for b, sb in enumerate(slices):
                norm = np.linalg.norm(cov[sa, sa]) * np.linalg.norm(cov[sb, sb])
                matrix[a, b] = float((cov[sa, sb] ** 2).sum() / norm) if norm > 0 else 0.0
    upper = np.triu_indices(k, 1)
    return LearnerCorrelation(value=float(matrix[upper].mean()), matrix=matrix, measure=measure,
                              constant_dims=int(constant.sum()))


def specialised_queries(first_positive_ranks: Sequence[Any], per_learner: int = 10, hit_rank: int = 1,
                        miss_beyond: int = 30) -> list[np.ndarray]:
    """For each learner, up to ``per_learner`` query indices with R@``hit_rank`` = 1 for that learner
    and R@``miss_beyond`` = 0 for every other learner (Fig. S1; module docstring).

    ``first_positive_ranks[k]`` is learner k's ``RecallAtK.first_positive_rank`` (1-based rank of each
    query's first positive; 0 marks a query without positive, which never qualifies).
    """
    ranks = np.stack([np.asarray(r, dtype=np.int64) for r in first_positive_ranks])
    if ranks.ndim != 2 or ranks.shape[0] < 2:
        raise UserError("Figure S1's selection needs the per-query ranks of at least two learners")
    for value, name in ((per_learner, "per_learner"), (hit_rank, "hit_rank"), (miss_beyond, "miss_beyond")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}")
    evaluated = (ranks > 0).all(axis=0)
    out = []
    for k in range(ranks.shape[0]):
        others = np.delete(ranks, k, axis=0)
        chosen = np.flatnonzero(evaluated & (ranks[k] <= hit_rank) & (others > miss_beyond).all(axis=0))
        hardest_elsewhere = others[:, chosen].min(axis=0)
        order = np.lexsort((chosen, -hardest_elsewhere))
        out.append(chosen[order][:per_learner])
    return out
