"""FPR95 against a slow threshold sweep (random scores with many ties), a hand-computed case,
HardNet's procedure under both orders of tied pairs, and scikit-learn's ROC curve."""

from __future__ import annotations

import numpy as np
import pytest

from dmlrepro.errors import UserError
from dmlrepro.evaluation.fpr95 import fpr95, fpr_at_recall


def sweep_reference(distances, labels, recall=0.95, ties="threshold") -> float:
    """Walk the thresholds upwards; at the first one whose TPR (d <= t) reaches ``recall``, count
    the non-matching pairs at or below it (``threshold``) or strictly below it (``optimistic``)."""
    pairs = list(zip(map(float, distances), map(int, labels)))
    num_pos = sum(label for _, label in pairs)
    num_neg = len(pairs) - num_pos
    for t in sorted({d for d, _ in pairs}):
        tp = sum(1 for d, label in pairs if label == 1 and d <= t)
        if tp >= recall * num_pos:
            fp = sum(1 for d, label in pairs if label == 0 and (d <= t if ties == "threshold" else d < t))
            return fp / num_neg
    raise AssertionError("unreachable")


def hardnet_procedure(distances, labels, negatives_first: bool) -> float:
    """HardNet's ``ErrorRateAt95Recall`` steps (sort by distance, first index where the running
    match count reaches 95%, FP / (FP + TN)), with the order of tied pairs made explicit."""
    labels = np.asarray(labels)
    tie_key = labels if negatives_first else 1 - labels
    order = np.lexsort((tie_key, distances))
    sorted_labels = labels[order]
    k = np.argmax(np.cumsum(sorted_labels) >= 0.95 * np.sum(sorted_labels))
    fp = np.sum(sorted_labels[:k] == 0)
    tn = np.sum(sorted_labels[k:] == 0)
    return fp / (fp + tn)


def random_pairs(seed: int, n: int = 400, levels: int = 25):
    """Distances on a coarse grid (so that ties are common, also across labels), matches closer."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    distances = np.round(rng.normal(1.0 - 0.4 * labels, 0.3) * levels) / levels
    return distances, labels


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ties", ["threshold", "optimistic"])
def test_equals_the_threshold_sweep_on_random_tied_scores(seed, ties):
    d, y = random_pairs(seed)
    assert fpr95(d, y, ties=ties) == sweep_reference(d, y, ties=ties)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("recall", [0.5, 0.8, 0.99, 1.0])
def test_other_recalls_equal_the_sweep(seed, recall):
    d, y = random_pairs(seed, n=150)
    assert fpr_at_recall(d, y, recall) == sweep_reference(d, y, recall)


def test_hand_computed_case_with_a_tie_at_the_threshold():
    # Matches at 0.1, 0.3, 0.4, 0.6: 95% of 4 needs all 4, threshold 0.6. Non-matches at 0.2, 0.6,
    # 0.7, 0.9: 0.2 and 0.6 are at or below it (1/2); strictly below, only 0.2 (1/4).
    d = [0.1, 0.2, 0.3, 0.4, 0.6, 0.6, 0.7, 0.9]
    y = [1, 0, 1, 1, 1, 0, 0, 0]
    assert fpr95(d, y) == 0.5
    assert fpr95(d, y, ties="optimistic") == 0.25
    assert hardnet_procedure(np.array(d), np.array(y), negatives_first=True) == 0.5
    assert hardnet_procedure(np.array(d), np.array(y), negatives_first=False) == 0.25


@pytest.mark.parametrize("seed", range(8))
def test_hardnets_procedure_is_the_threshold_or_the_optimistic_reading(seed):
    d, y = random_pairs(seed)
    assert hardnet_procedure(d, y, negatives_first=True) == pytest.approx(fpr95(d, y, "threshold"), abs=1e-15)
    assert hardnet_procedure(d, y, negatives_first=False) == pytest.approx(fpr95(d, y, "optimistic"), abs=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_without_ties_every_reading_agrees(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 1000)
    d = rng.normal(1.0 - 0.5 * y, 0.3)
    value = fpr95(d, y)
    assert value == fpr95(d, y, "optimistic")
    assert value == pytest.approx(hardnet_procedure(d, y, True), abs=1e-15)
    assert 0.05 < value < 0.95


@pytest.mark.parametrize("seed", range(6))
def test_equals_ral_nets_roc_curve_reading(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    d, y = random_pairs(seed)
    fpr, tpr, _ = metrics.roc_curve(y, -d)
    assert fpr95(d, y) == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-15)


@pytest.mark.parametrize("d, y, message", [
    ([0.1, 0.2], [1, 1], "needs matching and non-matching pairs"),
    ([0.1, 0.2], [1], "one entry per pair"),
    ([0.1, float("nan")], [1, 0], "NaN"),
    ([0.1, 0.2], [1, 2], "labels must be 1"),
])
def test_bad_input_is_one_line(d, y, message):
    with pytest.raises(UserError) as error:
        fpr95(d, y)
    assert message in str(error.value) and "\n" not in str(error.value)
