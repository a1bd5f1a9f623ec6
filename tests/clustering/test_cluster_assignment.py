"""The checkpointable per-sample learner assignment (004_82c542c12fef7e00.txt, §1): the first
clustering, matching across rounds through the object, the public code's drop rule for a class with
one image in a cluster, empty clusters counted instead of crashing, the state round trip through
``torch.load(weights_only=True)``, and a resumed run that re-clusters exactly like the uninterrupted
one."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import dmlrepro.clustering.assignment as assignment_module
from dmlrepro.clustering import ClusterAssignment, drop_singleton_classes, iou_matrix, kmeans
from dmlrepro.clustering.kmeans import KMeansResult
from dmlrepro.errors import UserError

K = 4


def training_set(seed: int = 0, classes: int = 40, per_class: int = 5, dim: int = 16, noise: float = 0.3):
    """Classes whose images sit near a class centre, class centres in K well-separated groups."""
    rng = np.random.default_rng(seed)
    groups = rng.normal(size=(K, dim)) * 6
    centres = groups[np.arange(classes) % K] + rng.normal(size=(classes, dim))
    labels = np.repeat(np.arange(classes), per_class)
    features = centres[labels] + noise * rng.normal(size=(len(labels), dim))
    return labels, features


def drift(features: np.ndarray, seed: int, scale: float = 0.5) -> np.ndarray:
    return features + scale * np.random.default_rng(seed).normal(size=features.shape)


def test_the_first_clustering_gives_cluster_c_to_learner_c():
    labels, features = training_set()
    state = ClusterAssignment(labels, K)
    record = state.recluster(features, epoch=0)
    expected = kmeans(features, K).labels
    np.testing.assert_array_equal(state.clusters, expected)
    assert record["matching"] is None and record["epoch"] == 0 and record["round"] == 0
    assert sum(record["sizes"]) == len(labels)


def test_reclustering_the_same_features_keeps_every_sample_with_its_learner():
    labels, features = training_set()
    state = ClusterAssignment(labels, K)
    state.recluster(features, epoch=0)
    first = state.clusters.copy()
    record = state.recluster(features, epoch=2)
    np.testing.assert_array_equal(state.clusters, first)
    assert record["matching"]["unchanged_fraction"] == 1.0
    assert record["matching"]["learner_of_cluster"] == list(range(K))


def test_a_relabelled_clustering_is_mapped_back_to_the_same_learners(monkeypatch):
    labels, features = training_set()
    state = ClusterAssignment(labels, K)
    state.recluster(features, epoch=0)
    first = state.clusters.copy()
    perm = np.array([2, 0, 3, 1])
    original = assignment_module.kmeans

    def relabelled(*args, **kwargs) -> KMeansResult:
        r = original(*args, **kwargs)
        return KMeansResult(perm[r.labels], r.centroids[np.argsort(perm)], r.objective, r.backend, r.niter,
                            r.seed, r.empty_splits)

    monkeypatch.setattr(assignment_module, "kmeans", relabelled)
    record = state.recluster(features, epoch=2)
    np.testing.assert_array_equal(state.clusters, first)
    assert record["matching"]["learner_of_cluster"] == np.argsort(perm).tolist()


def test_drop_rule_leaves_out_a_class_with_one_image_in_a_cluster():
    learner_of = np.array([0, 0, 1, 0, 1, 1, 2, -1])
    labels = np.array([7, 7, 7, 8, 8, 8, 9, 9])
    trained, stats = drop_singleton_classes(learner_of, labels, 3)
    # class 7: two in learner 0 (kept), one in learner 1 (dropped); class 8: one in 0 (dropped),
    # two in 1 (kept); class 9: one in learner 2 (dropped), one unassigned.
    np.testing.assert_array_equal(trained, [1, 1, 0, 0, 1, 1, 0, 0])
    assert stats["dropped_samples"] == 3 and stats["dropped_class_pairs"] == 3
    assert stats["sizes"] == [3, 3, 1] and stats["trained_sizes"] == [2, 2, 0]
    assert stats["trained_classes"] == [1, 1, 0]
    assert stats["learners_without_pairs"] == 1 and stats["learners_without_negatives"] == 2


def test_learner_indices_are_its_trained_samples():
    labels, features = training_set()
    state = ClusterAssignment(labels, K)
    state.recluster(features, epoch=0)
    seen = np.concatenate([state.learner_indices(k) for k in range(K)])
    np.testing.assert_array_equal(np.sort(seen), np.flatnonzero(state.trained))
    for k in range(K):
        idx = state.learner_indices(k)
        assert (state.clusters[idx] == k).all()
        _, counts = np.unique(labels[idx], return_counts=True)
        assert (counts >= 2).all()  # every class a learner trains on has a positive pair


def test_an_empty_cluster_is_counted_not_fatal(monkeypatch):
    labels, features = training_set()

    def three_of_four(x, k, **kwargs) -> KMeansResult:
        out = np.arange(len(x)) % 3  # cluster 3 gets nothing
        return KMeansResult(out, np.zeros((k, x.shape[1])), 0.0, "faiss", 1, 0, -1)

    monkeypatch.setattr(assignment_module, "kmeans", three_of_four)
    state = ClusterAssignment(labels, K)
    record = state.recluster(features, epoch=0)
    assert record["empty_learners"] == 1 and record["learners_without_pairs"] >= 1
    assert state.learner_indices(3).size == 0
    record = state.recluster(features, epoch=2)  # matching with an empty cluster on both sides
    assert record["empty_learners"] == 1


def test_previous_trained_matches_without_the_dropped_samples():
    labels, features = training_set(per_class=3, noise=6.0)  # classes straddle clusters
    a = ClusterAssignment(labels, K, previous="trained")
    a.recluster(features, epoch=0)
    prev_trained = np.where(a.trained, a.clusters, -1)
    assert (prev_trained == -1).any(), "the fixture must drop some samples"
    new = drift(features, 1, scale=2.0)
    record = a.recluster(new, epoch=2)
    fresh = kmeans(new, K).labels
    np.testing.assert_allclose(record["matching"]["matrix"], iou_matrix(fresh, prev_trained, K))


def test_one_learner_is_the_whole_training_set_without_kmeans(monkeypatch):
    labels, features = training_set()
    monkeypatch.setattr(assignment_module, "kmeans", None)  # must not be called
    state = ClusterAssignment(labels, 1)
    record = state.recluster(features, epoch=0)
    assert (state.clusters == 0).all() and record["objective"] is None


def test_finetune_indices_drop_only_classes_with_a_single_training_image():
    labels = np.array([0, 0, 1, 2, 2, 2])
    state = ClusterAssignment(labels, 2)
    np.testing.assert_array_equal(state.finetune_indices(), [0, 1, 3, 4, 5])


# --- checkpointing ---------------------------------------------------------------------------------


def _through_a_checkpoint(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save({"model": {}, "clusters": state}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)["clusters"]


def test_state_round_trips_through_a_weights_only_checkpoint():
    labels, features = training_set()
    state = ClusterAssignment(labels, K, cost="hamming")
    state.recluster(features, epoch=0)
    state.recluster(drift(features, 1), epoch=2)
    restored = ClusterAssignment(labels, K, cost="hamming")
    restored.load_state_dict(_through_a_checkpoint(state.state_dict()))
    np.testing.assert_array_equal(restored.clusters, state.clusters)
    np.testing.assert_array_equal(restored.trained, state.trained)
    assert restored.rounds == state.rounds
    for k in range(K):
        np.testing.assert_array_equal(restored.learner_indices(k), state.learner_indices(k))


@pytest.mark.parametrize("cost", ["iou", "hamming"])
def test_a_run_resumed_after_a_reclustering_reclusters_exactly_like_the_uninterrupted_one(cost):
    labels, features = training_set(noise=4.0)
    rounds = [features, drift(features, 1, scale=2.0), drift(features, 2, scale=2.0)]
    uninterrupted = ClusterAssignment(labels, K, cost=cost)
    for epoch, f in zip((0, 2, 4), rounds):
        uninterrupted.recluster(f, epoch)

    killed = ClusterAssignment(labels, K, cost=cost)
    killed.recluster(rounds[0], 0)
    killed.recluster(rounds[1], 2)
    checkpoint = _through_a_checkpoint(killed.state_dict())
    del killed
    resumed = ClusterAssignment(labels, K, cost=cost)
    resumed.load_state_dict(checkpoint)
    resumed.recluster(rounds[2], 4)

    np.testing.assert_array_equal(resumed.clusters, uninterrupted.clusters)
    np.testing.assert_array_equal(resumed.trained, uninterrupted.trained)
    assert resumed.rounds == uninterrupted.rounds
    assert uninterrupted.rounds[2]["matching"]["unchanged_fraction"] < 1.0, "the drift must change something"


@pytest.mark.parametrize(("other", "message"), [
    ({"num_learners": 3}, "other settings"),
    ({"cost": "hamming"}, "other settings"),
    ({"labels": np.arange(200) % 40}, "another training set"),
])
def test_loading_a_state_made_with_other_settings_is_a_user_error(other, message):
    labels, features = training_set()
    state = ClusterAssignment(labels, K)
    state.recluster(features, 0)
    kwargs = {"num_learners": K, **other}
    target = ClusterAssignment(kwargs.pop("labels", labels), **kwargs)
    with pytest.raises(UserError, match=message):
        target.load_state_dict(state.state_dict())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cost": "l1"}, "cost: unknown choice"),
    ({"previous": "last"}, "previous: unknown choice"),
    ({"num_learners": 0}, "positive integer"),
])
def test_bad_settings_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        ClusterAssignment(np.zeros(4, dtype=int), **{"num_learners": 2, **kwargs})


def test_features_of_the_wrong_shape_are_a_user_error():
    labels, features = training_set()
    with pytest.raises(UserError, match="one row per training sample"):
        ClusterAssignment(labels, K).recluster(features[:-1], 0)
