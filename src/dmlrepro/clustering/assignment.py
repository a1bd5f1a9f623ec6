"""The per-sample learner assignment of Divide and Conquer, re-clustered every T epochs
(004_82c542c12fef7e00.txt, §1), as a checkpointable object.

``ClusterAssignment.recluster(features, epoch)``:

1. k-means into K clusters on ``features`` of every training sample (``kmeans.py``; the text's
   features are the full embedding, i.e. the model's ``forward``; the public code's are the
   normalised penultimate features; the caller chooses and the round records which).
2. From the second clustering on, every new cluster is matched to a learner by the linear assignment
   of ``reassign.py`` (IoU by default, the code's Hamming cost as ``cost="hamming"``).  The first
   clustering gives cluster c to learner c.
3. The public code's rule for classes split thinly (``lib/clustering.py``): a class with exactly one
   sample in a learner's cluster cannot form a positive pair there, so that sample is left out of the
   learner's training data until the next clustering (the code marks it cluster −1).  The text is
   silent; the rule is applied in every variant.  Nothing crashes on a cluster that comes out empty
   or with no class of two images: the round counts it (``empty_learners``,
   ``learners_without_pairs``, ``learners_without_negatives``) and ``learner_indices`` returns what
   there is (possibly nothing), for the trainer to skip and to count in ``metrics.json``.

Which previous memberships are matched (``previous``): ``clustered`` (default) uses every sample as
clustered last time; ``trained`` uses only the samples the learners actually trained on, which is
what the code passes (its ``C_prev`` already carries the −1 marks).

The state (``state_dict()`` / ``load_state_dict()``) holds tensors, strings, numbers and lists only,
so it loads with ``torch.load(..., weights_only=True)`` and can sit in a training checkpoint.  The
clustering is a deterministic function of the features and the settings (faiss's seed is fixed, as
in the code: the same seed every round), so a run resumed from a checkpoint written after a
re-clustering trains on exactly the same partition, and the next re-clustering (from the same model
weights) gives the same partition as the uninterrupted run.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import torch

from dmlrepro.clustering.kmeans import CODE_NITER, FAISS_DEFAULT_SEED, KMEANS_BACKENDS, kmeans
from dmlrepro.clustering.reassign import CLUSTER_COSTS, MAPPINGS, match_clusters
from dmlrepro.errors import UserError

PREVIOUS_MEMBERSHIPS: Final[tuple[str, ...]] = ("clustered", "trained")
#: Which features the clustering ran on, recorded per round: the text's full embedding, or the
#: public code's penultimate features.
CLUSTER_FEATURES: Final[tuple[str, ...]] = ("embedding", "penultimate")
STATE_VERSION: Final[int] = 1


def drop_singleton_classes(learner_of: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The public code's rule: a sample whose class has no other sample in its learner's cluster is
    not trained on.  Returns the boolean ``trained`` mask and per-learner counts."""
    learner_of, labels = np.asarray(learner_of), np.asarray(labels)
    _, label_ids = np.unique(labels, return_inverse=True)
    assigned = learner_of >= 0
    num_labels = int(label_ids.max()) + 1 if label_ids.size else 1
    key = np.where(assigned, learner_of * num_labels + label_ids, -1)
    keys, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    per_sample = counts[inverse]
    trained = assigned & (per_sample >= 2)
    pair_learner = keys // num_labels
    valid = keys >= 0
    sizes = np.bincount(learner_of[assigned], minlength=k)
    trained_sizes = np.bincount(learner_of[trained], minlength=k)
    classes = np.bincount(pair_learner[valid], minlength=k)
    trained_classes = np.bincount(pair_learner[valid & (counts >= 2)], minlength=k)
    stats = {
        "sizes": sizes.tolist(),
        "trained_sizes": trained_sizes.tolist(),
        "classes": classes.tolist(),
        "trained_classes": trained_classes.tolist(),
        "dropped_samples": int((assigned & ~trained).sum()),
        "dropped_class_pairs": int((valid & (counts == 1)).sum()),
        "empty_learners": int((sizes == 0).sum()),
        # No class with two images: no positive pair, so the margin loss has no triplet at all.
        "learners_without_pairs": int((trained_classes == 0).sum()),
        # One such class only: positive pairs but no negative, again no triplet.
        "learners_without_negatives": int((trained_classes == 1).sum()),
    }
    return trained, stats


class ClusterAssignment:
    """Which learner trains on which training sample (004 §1); see the module docstring.

    Args:
        labels: class of every training sample (the order the features will come in).
        num_learners: K.
        cost: ``iou`` (text) or ``hamming`` (public code).
        mapping: ``matched`` or ``inverse_as_code`` (``reassign.py``).
        previous: ``clustered`` or ``trained`` memberships of the previous round.
        seed, niter, backend: the k-means settings (``kmeans.py``).
    """

    def __init__(self, labels: Any, num_learners: int, *, cost: str = "iou", mapping: str = "matched",
                 previous: str = "clustered", seed: int = FAISS_DEFAULT_SEED, niter: int = CODE_NITER,
                 backend: str = "faiss") -> None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
            raise UserError(f"cluster assignment needs a non-empty 1-D integer label array, got {labels.dtype} {labels.shape}")
        if isinstance(num_learners, bool) or not isinstance(num_learners, (int, np.integer)) or num_learners < 1:
            raise UserError(f"num_learners must be a positive integer, got {num_learners!r}")
        for value, valid, name in ((cost, CLUSTER_COSTS, "cost"), (mapping, MAPPINGS, "mapping"),
                                   (previous, PREVIOUS_MEMBERSHIPS, "previous"), (backend, KMEANS_BACKENDS, "backend")):
            if value not in valid:
                raise UserError(f"cluster assignment {name}: unknown choice {value!r}; valid: {', '.join(valid)}")
        self.labels = labels.astype(np.int64)
        self.num_learners = int(num_learners)
        self.cost, self.mapping, self.previous = cost, mapping, previous
        self.seed, self.niter, self.backend = int(seed), int(niter), backend
        self.clusters = np.full(len(labels), -1, dtype=np.int64)
        self.trained = np.zeros(len(labels), dtype=bool)
        self.rounds: list[dict[str, Any]] = []

    @property
    def num_samples(self) -> int:
        return len(self.labels)

    @property
    def is_clustered(self) -> bool:
        return bool(self.rounds)

    def recluster(self, features: Any, epoch: int, feature_source: str = "embedding") -> dict[str, Any]:
        """Cluster ``features`` (one row per training sample, in ``labels``' order), match the new
        clusters to the learners, apply the drop rule; return (and keep) the round's record."""
        if feature_source not in CLUSTER_FEATURES:
            raise UserError(f"feature_source: unknown choice {feature_source!r}; valid: {', '.join(CLUSTER_FEATURES)}")
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[0] != self.num_samples:
            raise UserError(f"clustering features must be ({self.num_samples}, dim), one row per training sample, "
                            f"got shape {features.shape}")
        k = self.num_learners
        record: dict[str, Any] = {"round": len(self.rounds), "epoch": int(epoch), "features": feature_source,
                                  "feature_dim": int(features.shape[1])}
        if k == 1:
            # The code's "dry run": one cluster holding every sample, no k-means.
            clusters = np.zeros(self.num_samples, dtype=np.int64)
            record.update(objective=None, matching=None)
        else:
            result = kmeans(features, k, niter=self.niter, seed=self.seed, backend=self.backend)
            clusters = result.labels
            record.update(objective=result.objective, kmeans_backend=self.backend, kmeans_seed=self.seed,
                          kmeans_niter=self.niter)
            if self.is_clustered:
                prev = self.clusters if self.previous == "clustered" else np.where(self.trained, self.clusters, -1)
                matching = match_clusters(clusters, prev, k, self.cost, self.mapping)
                learner_of = matching.relabel(clusters)
                record["matching"] = {
                    "cost": self.cost,
                    "mapping": self.mapping,
                    "previous": self.previous,
                    "learner_of_cluster": matching.learner_of_cluster.tolist(),
                    "matrix": matching.matrix.tolist(),
                    "total": matching.total,
                    "unchanged_fraction": float((learner_of == self.clusters).mean()),
                }
                clusters = learner_of
            else:
                record["matching"] = None
        trained, stats = drop_singleton_classes(clusters, self.labels, k)
        record.update(stats)
        self.clusters, self.trained = clusters.astype(np.int64), trained
        self.rounds.append(record)
        return record

    def learner_indices(self, k: int) -> np.ndarray:
        """Sorted indices of the training samples learner k trains on (after the drop rule); empty
        before the first clustering or for a learner whose cluster kept nothing."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < self.num_learners:
            raise UserError(f"learner index must be in 0..{self.num_learners - 1}, got {k!r}")
        return np.flatnonzero(self.trained & (self.clusters == k))

    def finetune_indices(self) -> np.ndarray:
        """The samples of the final fine-tuning, where one learner (the full embedding) sees all the
        data: every sample whose class has at least two training images (the same drop rule, K = 1)."""
        trained, _ = drop_singleton_classes(np.zeros(self.num_samples, dtype=np.int64), self.labels, 1)
        return np.flatnonzero(trained)

    # --- checkpointing -----------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {"num_learners": self.num_learners, "cost": self.cost, "mapping": self.mapping,
                "previous": self.previous, "seed": self.seed, "niter": self.niter, "backend": self.backend}

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            **self._settings(),
            "labels": torch.from_numpy(self.labels.copy()),
            "clusters": torch.from_numpy(self.clusters.copy()),
            "trained": torch.from_numpy(self.trained.copy()),
            "rounds": [dict(r) for r in self.rounds],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise UserError(f"cluster-assignment state version {state.get('version')!r} is not {STATE_VERSION}; "
                            "delete the checkpoint to restart the cell")
        mismatched = [key for key, value in self._settings().items() if state.get(key) != value]
        if mismatched:
            raise UserError(f"the checkpoint's clustering was made with other settings ({', '.join(mismatched)}); "
                            "delete the checkpoint or restore the cell's settings")
        labels = state["labels"].numpy()
        if labels.shape != self.labels.shape or not np.array_equal(labels, self.labels):
            raise UserError("the checkpoint's clustering belongs to another training set (labels differ); "
                            "delete the checkpoint or use the same dataset and split")
        self.clusters = state["clusters"].numpy().astype(np.int64).copy()
        self.trained = state["trained"].numpy().astype(bool).copy()
        self.rounds = [dict(r) for r in state["rounds"]]
