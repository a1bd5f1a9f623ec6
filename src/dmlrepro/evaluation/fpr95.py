"""False positive rate at 95% recall, the Brown/PhotoTour metric of Table 7 (001_5fbd5da13318fd56.txt:
"We follow the standard evaluation protocol in (Brown and Lowe 2007) which uses the provided 100K
pairs and report the false positive rate at the recall of 95%").

A pair is declared matching when its descriptor distance is at most a threshold t. The threshold is
the smallest one at which at least 95% of the matching pairs are declared matching, i.e. the
distance of the c-th closest matching pair with c = ceil(0.95 · P); the result is the fraction of
the N non-matching pairs declared matching at t:

    FPR95 = #{non-matching pairs with d <= t} / N

How HardNet computes it (``DagnyT/hardnet``, ``code/EvalMetrics.py``, ``ErrorRateAt95Recall``, read,
not copied): it turns distances into scores ``1 / (d + 1e-8)`` and back, sorts the labels by
distance with ``np.argsort`` (quicksort, so the order of equal distances is unspecified), takes the
first index k at which the running count of matches reaches 0.95 · P, and returns FP / (FP + TN)
with FP the non-matches sorted before k and TN those from k on — FP + TN is all N non-matches. With
no equal distances that is exactly the formula above. With a non-match at exactly the threshold
distance, HardNet counts it or not depending on where the sort put it; we break that tie
explicitly:

* ``ties="threshold"`` (default): counted, d <= t — the ROC point at threshold t, which is also
  what RAL-Net's evaluation (``xuyanwu/RAL-Net`` ``Evaluation_L2.py``: scikit-learn ``roc_curve``,
  first point with TPR >= 0.95) returns;
* ``ties="optimistic"``: not counted, d < t — HardNet's result when the sort puts matches first.

An older, commented-out version in the same file returns (count − TP) / count, the fraction of
non-matches among the pairs below the threshold (a false discovery rate), which some papers report
under the same name; it is not computed here.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from dmlrepro.errors import UserError

FPR95_TIES: Final[tuple[str, ...]] = ("threshold", "optimistic")


def _check(distances, labels) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if d.shape != y.shape:
        raise UserError(f"distances ({d.size}) and labels ({y.size}) must have one entry per pair")
    if not np.isfinite(d).all():
        raise UserError("distances contain NaN or infinity: the descriptors are not finite")
    if y.dtype == np.bool_:
        y = y.astype(np.int64)
    if not np.isin(y, (0, 1)).all():
        raise UserError("labels must be 1 (matching pair) or 0 (non-matching pair)")
    y = y.astype(bool)
    if not y.any() or y.all():
        raise UserError(f"FPR95 needs matching and non-matching pairs; got {int(y.sum())} matching "
                        f"of {y.size}")
    return d, y


def positives_needed(num_positives: int, recall: float = 0.95) -> int:
    """c = the smallest count >= recall · P (HardNet's ``cumsum >= recall_point * sum``)."""
    return max(1, math.ceil(recall * num_positives))


def fpr_at_recall(distances, labels, recall: float = 0.95, ties: str = "threshold") -> float:
    """FPR at the first threshold reaching ``recall`` of the matching pairs (label 1).

    ``distances`` and ``labels`` are one entry per pair (any array-like); a smaller distance means a
    more similar pair. Returns a fraction in [0, 1] (papers print it in percent).
    """
    if ties not in FPR95_TIES:
        raise UserError(f"ties: {ties!r} is not one of {', '.join(FPR95_TIES)}")
    if not 0.0 < recall <= 1.0:
        raise UserError(f"recall must lie in (0, 1], got {recall!r}")
    d, y = _check(distances, labels)
    positive = np.sort(d[y])
    threshold = positive[positives_needed(positive.size, recall) - 1]
    negative = d[~y]
    counted = negative <= threshold if ties == "threshold" else negative < threshold
    return float(np.count_nonzero(counted)) / negative.size


def fpr95(distances, labels, ties: str = "threshold") -> float:
    """FPR at 95% recall (Table 7)."""
    return fpr_at_recall(distances, labels, 0.95, ties)
