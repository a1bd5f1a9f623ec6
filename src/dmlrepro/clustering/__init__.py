"""Divide and Conquer's data partition (004_82c542c12fef7e00.txt, §1): k-means into K clusters
(``kmeans``), the linear assignment of new clusters to learners (``reassign``), the checkpointable
per-sample assignment (``assignment``) and the cluster / re-cluster / fine-tune schedule
(``schedule``)."""

from dmlrepro.clustering.assignment import (
    CLUSTER_FEATURES,
    PREVIOUS_MEMBERSHIPS,
    ClusterAssignment,
    drop_singleton_classes,
)
from dmlrepro.clustering.kmeans import KMEANS_BACKENDS, KMeansResult, kmeans, kmeans_objective
from dmlrepro.clustering.reassign import (
    CLUSTER_COSTS,
    MAPPINGS,
    Matching,
    hamming_matrix,
    iou_matrix,
    match_clusters,
)
from dmlrepro.clustering.schedule import FULL_EMBEDDING_FROM, DivideAndConquerSchedule

__all__ = [
    "CLUSTER_COSTS",
    "CLUSTER_FEATURES",
    "FULL_EMBEDDING_FROM",
    "KMEANS_BACKENDS",
    "MAPPINGS",
    "PREVIOUS_MEMBERSHIPS",
    "ClusterAssignment",
    "DivideAndConquerSchedule",
    "KMeansResult",
    "Matching",
    "drop_singleton_classes",
    "hamming_matrix",
    "iou_matrix",
    "kmeans",
    "kmeans_objective",
    "match_clusters",
]
