"""Retrieval evaluation: distance matrices and re-ID metrics (CMC, mAP)."""

from dmlrepro.evaluation.distance import DISTANCE_METRICS, pairwise_distance
from dmlrepro.evaluation.reid_metrics import JUNK_PID, ReIDMetrics, evaluate_market1501
from dmlrepro.evaluation.reid_metrics_reference import evaluate_market1501_reference

__all__ = [
    "DISTANCE_METRICS",
    "JUNK_PID",
    "ReIDMetrics",
    "evaluate_market1501",
    "evaluate_market1501_reference",
    "pairwise_distance",
]
