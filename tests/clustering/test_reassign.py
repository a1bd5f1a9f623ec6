"""The cluster → learner linear assignment (004_82c542c12fef7e00.txt, §1): IoU against a
hand-computed case, an unchanged clustering keeps every learner, a relabelled one is undone exactly,
the public code's Hamming cost differs from IoU on a constructed case, and its inverse relabelling
differs from the matching on a 3-cycle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dmlrepro.clustering.reassign import hamming_matrix, iou_matrix, match_clusters
from dmlrepro.errors import UserError

# Previous round: learner 0 held a small cluster {2, 3}, learner 1 a large one of 7 samples.
# New round: a large cluster 0 of 7 samples (the old small one plus 5 of the old large one) and a
# small cluster 1 {5, 6}.
PREVIOUS = np.array([1, 1, 0, 0, 1, 1, 1, 1, 1])
CURRENT = np.array([0, 0, 0, 0, 0, 1, 1, 0, 0])


def test_iou_matches_the_hand_computed_matrix():
    # C0 = {0,1,2,3,4,7,8}, C1 = {5,6}; P0 = {2,3}, P1 = {0,1,4,5,6,7,8}.
    expected = np.array([[2 / 7, 5 / 9],   # C0∩P0 = {2,3}, C0∪P0 = C0;  C0∩P1 = {0,1,4,7,8}, ∪ = all 9
                         [0 / 4, 2 / 7]])  # C1∩P0 = {},    C1∪P0 = 4;   C1∩P1 = {5,6},       ∪ = P1
    np.testing.assert_allclose(iou_matrix(CURRENT, PREVIOUS, 2), expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(hamming_matrix(CURRENT, PREVIOUS, 2), [[5, 4], [4, 5]])


def test_hamming_and_iou_choose_different_learners_on_the_constructed_case():
    # IoU: identity 2/7 + 2/7 = 0.571 > swap 5/9 + 0 = 0.556; Hamming: identity 5 + 5 = 10 > swap 4 + 4 = 8.
    iou = match_clusters(CURRENT, PREVIOUS, 2, cost="iou")
    hamming = match_clusters(CURRENT, PREVIOUS, 2, cost="hamming")
    np.testing.assert_array_equal(iou.learner_of_cluster, [0, 1])
    np.testing.assert_array_equal(hamming.learner_of_cluster, [1, 0])
    assert iou.total == pytest.approx(4 / 7) and hamming.total == 8


@pytest.mark.parametrize("cost", ["iou", "hamming"])
def test_an_unchanged_clustering_keeps_every_learner_on_its_cluster(cost):
    labels = np.random.default_rng(0).integers(0, 8, 500)
    matching = match_clusters(labels, labels, 8, cost=cost)
    np.testing.assert_array_equal(matching.learner_of_cluster, np.arange(8))
    np.testing.assert_array_equal(matching.relabel(labels), labels)


@pytest.mark.parametrize("cost", ["iou", "hamming"])
@pytest.mark.parametrize("seed", range(5))
def test_a_permuted_clustering_is_mapped_back_exactly(cost, seed):
    rng = np.random.default_rng(seed)
    previous = rng.integers(0, 8, 400)
    perm = rng.permutation(8)  # k-means calls previous cluster j "perm[j]" this time
    current = perm[previous]
    matching = match_clusters(current, previous, 8, cost=cost)
    np.testing.assert_array_equal(matching.relabel(current), previous)
    np.testing.assert_array_equal(matching.learner_of_cluster[perm], np.arange(8))


def test_a_slightly_changed_clustering_keeps_most_samples_with_their_learner():
    rng = np.random.default_rng(3)
    previous = rng.integers(0, 8, 2000)
    current = previous.copy()
    moved = rng.random(2000) < 0.1
    current[moved] = rng.integers(0, 8, moved.sum())
    perm = rng.permutation(8)
    matching = match_clusters(perm[current], previous, 8)
    relabelled = matching.relabel(perm[current])
    np.testing.assert_array_equal(relabelled, current)


def test_the_matching_is_the_brute_force_optimum():
    rng = np.random.default_rng(4)
    for _ in range(20):
        previous, current = rng.integers(0, 5, 60), rng.integers(0, 5, 60)
        m = iou_matrix(current, previous, 5)
        best = max(sum(m[i, p[i]] for i in range(5)) for p in itertools.permutations(range(5)))
        assert match_clusters(current, previous, 5).total == pytest.approx(best)


def test_the_codes_inverse_relabelling_differs_from_the_matching_on_a_3_cycle():
    previous = np.array([0, 0, 1, 1, 2, 2])
    current = (previous + 1) % 3  # a 3-cycle of the cluster names
    matched = match_clusters(current, previous, 3, mapping="matched").relabel(current)
    code = match_clusters(current, previous, 3, cost="hamming", mapping="inverse_as_code").relabel(current)
    np.testing.assert_array_equal(matched, previous)
    np.testing.assert_array_equal(code, [2, 2, 0, 0, 1, 1])  # σ⁻¹ applied: previous shifted twice
    # A swap is its own inverse: there the code's relabelling is right.
    swapped = np.array([1, 1, 0, 0, 2, 2])
    code_swap = match_clusters(swapped, previous, 3, mapping="inverse_as_code").relabel(swapped)
    np.testing.assert_array_equal(code_swap, previous)


def test_unassigned_samples_belong_to_no_cluster_and_stay_unassigned():
    previous = np.array([0, 0, -1, 1, 1])
    current = np.array([1, 1, 1, 0, 0])
    m = iou_matrix(current, previous, 2)
    assert m[1, 0] == pytest.approx(2 / 3)  # {0,1} vs {0,1,2}
    assert match_clusters(current, previous, 2).relabel(np.array([1, -1])).tolist() == [0, -1]


def test_empty_clusters_have_zero_iou():
    m = iou_matrix(np.array([0, 0, 0]), np.array([0, 0, 0]), 3)
    np.testing.assert_array_equal(m, [[1, 0, 0], [0, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cost": "jaccard"}, "unknown cluster matching cost"),
    ({"mapping": "inverse"}, "unknown cluster mapping"),
])
def test_bad_names_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        match_clusters(np.zeros(3, dtype=int), np.zeros(3, dtype=int), 2, **kwargs)


def test_assignments_of_different_length_or_range_are_user_errors():
    with pytest.raises(UserError, match="different samples"):
        iou_matrix(np.zeros(3, dtype=int), np.zeros(4, dtype=int), 2)
    with pytest.raises(UserError, match="cluster ids must lie"):
        iou_matrix(np.array([0, 5]), np.array([0, 1]), 2)
