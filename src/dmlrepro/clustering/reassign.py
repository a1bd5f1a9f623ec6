"""Which learner each new cluster goes to (004_82c542c12fef7e00.txt, §1): "each learner is associated
to the cluster, which is most similar to the cluster assigned to this learner in the previous
iteration (i.e. in epoch t − T).  This amounts to solving a linear assignment problem where similarity
between clusters is measured in terms of IoU of points belonging to the clusters."

With P_j the training samples learner j held before and C_i those of new cluster i,

    IoU[i, j]     = |C_i ∩ P_j| / |C_i ∪ P_j|      (0 when both are empty)      text, default
    Hamming[i, j] = |C_i △ P_j| = |C_i| + |P_j| − 2 |C_i ∩ P_j|                  public code

and the matching is the permutation σ (new cluster i → learner σ(i)) that maximises Σ_i IoU[i, σ(i)]
(or minimises Σ_i Hamming[i, σ(i)]), solved exactly by ``scipy.optimize.linear_sum_assignment``.
The two costs agree when all clusters have the same size and can disagree otherwise: Hamming
counts absolute disagreements, so it favours pairing small clusters with small clusters.

``CLUSTER_COSTS`` names the costs.  ``MAPPINGS`` names how σ is applied: ``matched`` relabels cluster
i as learner σ(i).  ``inverse_as_code`` reproduces the public code's ``reassign_clusters``
(``lib/data/loader/reassignment.py``), which unpacks ``linear_sum_assignment``'s (row, column) result
as (previous, current) although its cost rows are the *current* clusters, and so relabels cluster i as
σ⁻¹(i).  The two coincide whenever σ is its own inverse (the identity or disjoint swaps, which is
what consecutive clusterings usually give), and differ for longer cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.optimize import linear_sum_assignment

from dmlrepro.errors import UserError

CLUSTER_COSTS: Final[tuple[str, ...]] = ("iou", "hamming")
MAPPINGS: Final[tuple[str, ...]] = ("matched", "inverse_as_code")


def memberships(assignment: np.ndarray, k: int) -> np.ndarray:
    """``(k, n)`` boolean matrix: row c marks the samples assigned to c (entries < 0 belong to none)."""
    assignment = np.asarray(assignment)
    if assignment.ndim != 1 or not np.issubdtype(assignment.dtype, np.integer):
        raise UserError(f"a cluster assignment must be a 1-D integer array, got {assignment.dtype} {assignment.shape}")
    if assignment.size and int(assignment.max()) >= k:
        raise UserError(f"cluster ids must lie in -1..{k - 1}, got {int(assignment.max())}")
    return assignment[None, :] == np.arange(k)[:, None]


def intersections(current: np.ndarray, previous: np.ndarray, k: int) -> np.ndarray:
    """``(k, k)`` int64: ``[i, j] = |C_i ∩ P_j|`` (rows: new clusters, columns: previous learners)."""
    current, previous = np.asarray(current), np.asarray(previous)
    if current.shape != previous.shape:
        raise UserError(f"current and previous assignments cover different samples ({current.shape} vs {previous.shape})")
    c, p = memberships(current, k), memberships(previous, k)
    return c.astype(np.int64) @ p.T.astype(np.int64)


def iou_matrix(current: np.ndarray, previous: np.ndarray, k: int) -> np.ndarray:
    """``(k, k)`` float64 IoU of memberships, ``[i, j]`` for new cluster i and previous learner j."""
    inter = intersections(current, previous, k).astype(np.float64)
    size_c = np.bincount(current[current >= 0], minlength=k).astype(np.float64)
    size_p = np.bincount(previous[previous >= 0], minlength=k).astype(np.float64)
    union = size_c[:, None] + size_p[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def hamming_matrix(current: np.ndarray, previous: np.ndarray, k: int) -> np.ndarray:
    """``(k, k)`` int64 L1 (Hamming) distance between membership vectors, the public code's cost."""
    inter = intersections(current, previous, k)
    size_c = np.bincount(current[current >= 0], minlength=k)
    size_p = np.bincount(previous[previous >= 0], minlength=k)
    return size_c[:, None] + size_p[None, :] - 2 * inter


@dataclass(frozen=True, eq=False)
class Matching:
    """``learner_of_cluster[i]``: the learner new cluster i goes to; ``matrix``: the IoU or Hamming
    matrix it was solved on (rows new clusters, columns previous learners); ``total``: the optimal
    sum of that matrix over the matched pairs (of σ itself, whatever ``mapping`` applies)."""

    learner_of_cluster: np.ndarray
    matrix: np.ndarray
    total: float
    cost: str
    mapping: str

    def relabel(self, clusters: np.ndarray) -> np.ndarray:
        """Per-sample learner ids from per-sample new cluster ids (entries < 0 stay as they are)."""
        clusters = np.asarray(clusters)
        out = clusters.copy()
        valid = clusters >= 0
        out[valid] = self.learner_of_cluster[clusters[valid]]
        return out


def match_clusters(current: np.ndarray, previous: np.ndarray, k: int, cost: str = "iou",
                   mapping: str = "matched") -> Matching:
    """The linear assignment of new clusters to the previous learners (module docstring)."""
    if cost not in CLUSTER_COSTS:
        raise UserError(f"unknown cluster matching cost {cost!r}; valid: {', '.join(CLUSTER_COSTS)}")
    if mapping not in MAPPINGS:
        raise UserError(f"unknown cluster mapping {mapping!r}; valid: {', '.join(MAPPINGS)}")
    current, previous = np.asarray(current), np.asarray(previous)
    if cost == "iou":
        matrix = iou_matrix(current, previous, k)
        rows, cols = linear_sum_assignment(matrix, maximize=True)
    else:
        matrix = hamming_matrix(current, previous, k)
        rows, cols = linear_sum_assignment(matrix)
    sigma = np.empty(k, dtype=np.int64)
    sigma[rows] = cols
    if mapping == "inverse_as_code":
        inverse = np.empty(k, dtype=np.int64)
        inverse[sigma] = np.arange(k)
        learner_of_cluster = inverse
    else:
        learner_of_cluster = sigma
    return Matching(learner_of_cluster=learner_of_cluster, matrix=matrix,
                    total=float(matrix[rows, cols].sum()), cost=cost, mapping=mapping)
