"""Recall@K (003_72cd4b33cee60b89.txt, Sec. 4): the fast version, the loop reference, faiss exact
search and pytorch-metric-learning's AccuracyCalculator on the same embeddings.

Exactness. Rounding can order two nearly equal similarities differently in two implementations,
so every random case is built so that all similarities are computed exactly by all of them:
  * integer embeddings ranked by the plain inner product (``normalize=False``), whose products
    and sums are small integers, exact in float32;
  * ``{-1, 0, 1}`` vectors with exactly four non-zeros (norm 2), whose normalised entries and
    cosines are multiples of 1/4, exact in float32, for the cosine path;
  * continuous float32 embeddings, redrawn until no negative lies within 1e-5 of a query's best
    positive (the only comparisons that decide Recall@K).
Ties. ``label_ties`` cases have exact ties only among items of one label (the construction below),
so every tie order gives the same Recall@K, and faiss and PML must agree exactly with both tie
rules. ``cross_ties`` and ``unit4`` cases tie negatives with best positives on purpose: there the
fast and the reference version must agree exactly for each tie rule, and faiss/PML (whose tie
order is their own) must lie between the optimistic and the pessimistic rank of every query.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import FaissKNN

from dmlrepro.errors import UserError
from dmlrepro.evaluation import recall_at_k as recall_module
from dmlrepro.evaluation.recall_at_k import (
    RECALL_PROTOCOLS,
    TIE_RULES,
    recall_at_k,
    recall_from_knn_labels,
)
from dmlrepro.evaluation.recall_at_k_reference import recall_at_k_reference

KS = (1, 2, 4, 8)
SEEDS = range(7)  # 4 kinds x 2 protocols x 7 seeds = 56 random cases


# --- case generators ---------------------------------------------------------------------------

def class_labels(rng: np.random.Generator, num_classes: int) -> np.ndarray:
    """Class sizes 1..6 (size 1: a class whose query has no positive), shuffled."""
    sizes = rng.integers(1, 7, num_classes)
    sizes[rng.choice(num_classes, 3, replace=False)] = 1  # always a few singletons
    labels = np.repeat(np.arange(num_classes), sizes)
    return rng.permutation(labels)


def split_query_gallery(rng, x, labels):
    """In-Shop-like: each item goes to the query or the gallery side; some query classes then have
    no gallery item (excluded queries)."""
    to_query = rng.random(len(labels)) < 0.45
    return x[to_query], labels[to_query], x[~to_query], labels[~to_query]


def label_ties_embeddings(rng, labels):
    """Integer vectors [M*u, c_label] with small integer u and a distinct code c_label >= 1 per class:
    s(a, b) = M^2 u_a.u_b + c_a c_b, and since |c_a c_b - c_a c_b'| < M^2, two items tie for a query
    only if they have the same label. u repeats often (entries in -1..1, 4-d, plus exact
    duplicates), so same-label ties are common."""
    num_classes = int(labels.max()) + 1
    m = 2 * num_classes + 1
    u = rng.integers(-1, 2, (len(labels), 4))
    dup = rng.random(len(labels)) < 0.3
    for i in np.flatnonzero(dup):  # copy u from another item of the same class
        same = np.flatnonzero(labels == labels[i])
        u[i] = u[rng.choice(same)]
    x = np.concatenate([m * u, (labels + 1)[:, None]], axis=1)
    return x.astype(np.float32)


def cross_ties_embeddings(rng, labels):
    """Small integer vectors: negatives tie with best positives all the time."""
    x = rng.integers(-1, 2, (len(labels), 3))
    x[~x.any(1), 0] = 1
    return x.astype(np.float32)


def unit4_embeddings(rng, labels):
    """{-1,0,1}^8 with exactly four non-zeros: norm 2, every cosine a multiple of 1/4 (exact)."""
    x = np.zeros((len(labels), 8), np.float32)
    for row in x:
        row[rng.choice(8, 4, replace=False)] = rng.choice([-1.0, 1.0], 4)
    return x


def gaussian_embeddings(rng, labels):
    """Clustered float32 embeddings, redrawn while some negative lies within 1e-5 of a query's best
    positive (float64 check), so that float32 rounding cannot decide a comparison."""
    while True:
        centres = rng.standard_normal((int(labels.max()) + 1, 16))
        x = (centres[labels] + 1.2 * rng.standard_normal((len(labels), 16))).astype(np.float32)
        u = x.astype(np.float64)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        s = u @ u.T
        np.fill_diagonal(s, -np.inf)
        same = labels[:, None] == labels[None, :]
        best = np.where(same, s, -np.inf).max(1)
        gap = np.abs(np.where(same, np.inf, s) - best[:, None])
        if np.all(gap[np.isfinite(best)] > 1e-5):
            return x


KINDS = {
    # kind: (embedding generator, normalize, ties only within one label)
    "label_ties": (label_ties_embeddings, False, True),
    "cross_ties": (cross_ties_embeddings, False, False),
    "unit4": (unit4_embeddings, True, False),
    "gaussian": (gaussian_embeddings, True, True),
}


def make_case(kind: str, protocol: str, seed: int) -> dict:
    rng = np.random.default_rng([seed, list(KINDS).index(kind), RECALL_PROTOCOLS.index(protocol)])
    labels = class_labels(rng, int(rng.integers(12, 30)))
    x = KINDS[kind][0](rng, labels)
    if protocol == "leave_one_out":
        return dict(query=x, query_labels=labels)
    q, ql, g, gl = split_query_gallery(rng, x, labels)
    return dict(query=q, query_labels=ql, reference=g, reference_labels=gl)


def unpack(case):
    q, ql = case["query"], case["query_labels"]
    loo = "reference" not in case
    r, rl = (q, ql) if loo else (case["reference"], case["reference_labels"])
    return q, ql, r, rl, loo


def num_positives(case) -> np.ndarray:
    q, ql, r, rl, loo = unpack(case)
    return (ql[:, None] == rl[None, :]).sum(1) - int(loo)


# --- faiss and PML on the same embeddings ------------------------------------------------------

def faiss_ranked_labels(case, normalize: bool) -> np.ndarray:
    """Labels of the whole reference set in faiss IndexFlatIP order, the query removed by index
    (as PML's FaissKNN does)."""
    q, ql, r, rl, loo = unpack(case)
    q, r = np.ascontiguousarray(q, np.float32), np.ascontiguousarray(r, np.float32)
    if normalize:
        q, r = q.copy(), r.copy()
        faiss.normalize_L2(q)
        faiss.normalize_L2(r)
    index = faiss.IndexFlatIP(q.shape[1])
    index.add(r)
    _, neighbours = index.search(q, len(r))
    if loo:
        neighbours = np.array([row[row != i] for i, row in enumerate(neighbours)])
    return rl[neighbours]


def first_positive_from_list(knn_labels, ql) -> np.ndarray:
    hits = knn_labels == ql[:, None]
    return np.where(hits.any(1), hits.argmax(1) + 1, 0)


class RecallCalculator(AccuracyCalculator):
    """PML's AccuracyCalculator with Recall@K computed from its own k-NN labels and its own
    exclusion of "lone" queries (PML has precision_at_1 built in, not Recall@K)."""

    ks: tuple[int, ...] = KS

    def requires_knn(self):
        return super().requires_knn() + ["recall_at_ks"]

    def calculate_recall_at_ks(self, knn_labels, query_labels, not_lone_query_mask, **kwargs):
        knn = knn_labels[not_lone_query_mask].cpu().numpy()
        ql = query_labels[not_lone_query_mask].cpu().numpy()
        return recall_from_knn_labels(knn, ql, np.ones(len(ql)), self.ks)


def pml_accuracy(case, normalize: bool) -> dict:
    """PML on the same embeddings: cosine as L2 on normalised vectors (its default IndexFlatL2),
    the plain inner product through an IndexFlatIP k-NN."""
    q, ql, r, rl, loo = unpack(case)
    if normalize:
        q = torch.nn.functional.normalize(torch.as_tensor(q), dim=1).numpy()
        r = q if loo else torch.nn.functional.normalize(torch.as_tensor(r), dim=1).numpy()
        knn = FaissKNN()
    else:
        knn = FaissKNN(index_init_fn=faiss.IndexFlatIP)
    calc = RecallCalculator(include=("precision_at_1", "recall_at_ks"), k=max(KS),
                            device=torch.device("cpu"), knn_func=knn)
    if loo:
        return calc.get_accuracy(q, ql)
    return calc.get_accuracy(q, ql, r, rl, ref_includes_query=False)


# --- (1) cases computed by hand ----------------------------------------------------------------

IMPLEMENTATIONS = {"fast": recall_at_k, "reference": recall_at_k_reference}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_hand_computed_case(impl):
    # Unit vectors at these angles; cosine falls with the angle between two of them.
    angles = np.deg2rad([0.0, 10.0, 30.0, 100.0, 200.0])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = [0, 1, 0, 1, 2]
    # q0 (0°, A): 10°B, 30°A -> rank 2.   q1 (10°, B): 0°A, 30°A, 100°B -> rank 3.
    # q2 (30°, A): 10°B, 0°A -> rank 2.   q3 (100°, B): 30°A, 10°B -> rank 2.
    # q4 (200°, C) is the only C: excluded.
    result = IMPLEMENTATIONS[impl](x, labels, ks=[1, 2, 3, 8])
    assert result.first_positive_rank.tolist() == [2, 3, 2, 2, 0]
    assert result.recall == {1: 0.0, 2: 0.75, 3: 1.0, 8: 1.0}
    assert (result.num_queries, result.num_excluded, result.num_evaluated) == (5, 1, 4)
    assert result.as_percent_dict() == {"R@1": 0.0, "R@2": 75.0, "R@3": 100.0, "R@8": 100.0}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_tie_rules_by_hand(impl):
    # q0 = (1, 0) of class A sees its positive x2 and the negative x1 both at similarity 0.5.
    x = [[1.0, 0.0], [0.5, 1.0], [0.5, -1.0]]
    labels = [0, 1, 0]
    optimistic = IMPLEMENTATIONS[impl](x, labels, ks=[1], normalize=False)
    pessimistic = IMPLEMENTATIONS[impl](x, labels, ks=[1], normalize=False, ties="pessimistic")
    assert optimistic.first_positive_rank.tolist() == [1, 0, 1]
    assert pessimistic.first_positive_rank.tolist() == [2, 0, 1]
    assert optimistic.recall == {1: 1.0} and pessimistic.recall == {1: 0.5}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_query_gallery_by_hand(impl):
    q = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    g = [[0.9, 0.1], [0.1, 0.9], [1.0, 0.0]]
    # q0 (A): g2 (B) at cosine 1 comes before g0 (A) -> rank 2; q1 (B): g1 (C) then g0, g2 -> rank 3;
    # q2 (D): no D in the gallery -> excluded. The query is never removed from a separate gallery.
    result = IMPLEMENTATIONS[impl](q, [0, 1, 3], g, [0, 2, 1], ks=[1, 2, 3],
                                   protocol="query_gallery")
    assert result.first_positive_rank.tolist() == [2, 3, 0]
    assert result.recall == {1: 0.0, 2: 0.5, 3: 1.0}
    assert result.num_excluded == 1


def test_self_removed_by_index_not_by_distance():
    # Item 1 is an exact duplicate of item 0 with another label: it stays in 0's reference set and
    # comes first; item 2 (the positive) comes second.
    x = [[1.0, 0.0], [1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]
    labels = [0, 1, 0, 1]
    for impl in IMPLEMENTATIONS.values():
        assert impl(x, labels, ks=[1]).first_positive_rank[0] == 2


def test_k_beyond_the_reference_set_counts_every_evaluated_query():
    rng = np.random.default_rng(0)
    labels = class_labels(rng, 10)
    x = gaussian_embeddings(rng, labels)
    result = recall_at_k(x, labels, ks=[len(labels) - 1, 10 * len(labels)])
    assert set(result.recall.values()) == {1.0}


# --- (2) random cases: fast = reference = faiss = PML ------------------------------------------

CASES = [(kind, protocol, seed) for kind in KINDS for protocol in RECALL_PROTOCOLS for seed in SEEDS]


@pytest.mark.parametrize("kind, protocol, seed", CASES)
def test_random_case(kind, protocol, seed):
    case = make_case(kind, protocol, seed)
    _, normalize, label_homogeneous_ties = KINDS[kind]
    results = {}
    for ties in TIE_RULES:
        fast = recall_at_k(**case, ks=KS, protocol=protocol, normalize=normalize, ties=ties,
                           chunk_size=int(np.random.default_rng(seed).integers(1, 40)))
        slow = recall_at_k_reference(**case, ks=KS, protocol=protocol, normalize=normalize,
                                     ties=ties)
        np.testing.assert_array_equal(fast.first_positive_rank, slow.first_positive_rank)
        assert fast.recall == slow.recall
        assert fast.num_excluded == slow.num_excluded == int((num_positives(case) <= 0).sum())
        results[ties] = fast

    opt = results["optimistic"].first_positive_rank
    pess = results["pessimistic"].first_positive_rank
    assert np.all(opt <= pess) and np.array_equal(opt > 0, pess > 0)

    q, ql, r, rl, loo = unpack(case)
    faiss_rank = first_positive_from_list(faiss_ranked_labels(case, normalize), ql)
    np.testing.assert_array_equal(faiss_rank > 0, opt > 0)
    pml = pml_accuracy(case, normalize)
    if label_homogeneous_ties:
        np.testing.assert_array_equal(opt, pess)
        np.testing.assert_array_equal(faiss_rank, opt)
        assert pml["recall_at_ks"] == results["optimistic"].recall
        assert pml["precision_at_1"] == results["optimistic"].recall[1]
    else:
        assert np.all((opt <= faiss_rank) & (faiss_rank <= pess))
        low, high = results["pessimistic"].recall, results["optimistic"].recall
        assert all(low[k] <= pml["recall_at_ks"][k] <= high[k] for k in KS)
        assert low[1] <= pml["precision_at_1"] <= high[1]


@pytest.mark.parametrize("kind", ["cross_ties", "unit4", "label_ties"])
def test_the_random_cases_contain_ties(kind):
    """Guards the generators: without ties the tie tests above would prove nothing."""
    differing_rules = tied_same_label = 0
    for protocol in RECALL_PROTOCOLS:
        for seed in SEEDS:
            case = make_case(kind, protocol, seed)
            normalize = KINDS[kind][1]
            opt = recall_at_k(**case, ks=KS, protocol=protocol, normalize=normalize)
            pess = recall_at_k(**case, ks=KS, protocol=protocol, normalize=normalize,
                               ties="pessimistic")
            differing_rules += int((opt.first_positive_rank != pess.first_positive_rank).sum())
            if kind != "label_ties":
                continue
            q, ql, r, rl, loo = unpack(case)
            s = q.astype(np.float64) @ r.astype(np.float64).T
            if loo:
                np.fill_diagonal(s, np.nan)
            for i in range(len(q)):
                values, counts = np.unique(s[i][~np.isnan(s[i])], return_counts=True)
                for value in values[counts > 1]:
                    tied_same_label += int(len(set(rl[s[i] == value])) == 1)
    if kind == "label_ties":
        assert differing_rules == 0 and tied_same_label > 50
    else:
        assert differing_rules > 20


def test_chunking_and_best_positive_paths_agree(monkeypatch):
    """Chunk sizes and the two ways of finding the best positive (gathering the class's members,
    or masking the whole row for large classes) give identical ranks."""
    for protocol in RECALL_PROTOCOLS:
        case = make_case("cross_ties", protocol, 3)
        for ties in TIE_RULES:
            expected = recall_at_k(**case, ks=KS, protocol=protocol, normalize=False, ties=ties)
            for chunk in (1, 5, 1000):
                got = recall_at_k(**case, ks=KS, protocol=protocol, normalize=False, ties=ties,
                                  chunk_size=chunk)
                np.testing.assert_array_equal(got.first_positive_rank,
                                              expected.first_positive_rank)
            monkeypatch.setattr(recall_module, "_GATHER_MAX_MEMBERS", 0)
            masked = recall_at_k(**case, ks=KS, protocol=protocol, normalize=False, ties=ties,
                                 chunk_size=7)
            monkeypatch.undo()
            np.testing.assert_array_equal(masked.first_positive_rank, expected.first_positive_rank)


def test_float64_embeddings_are_ranked_in_float64():
    rng = np.random.default_rng(5)
    labels = class_labels(rng, 20)
    x = rng.standard_normal((len(labels), 12))  # float64: no redraw needed at 1e-16 rounding
    fast = recall_at_k(x, labels, ks=KS)
    slow = recall_at_k_reference(x, labels, ks=KS)
    np.testing.assert_array_equal(fast.first_positive_rank, slow.first_positive_rank)


def test_torch_and_numpy_inputs_agree():
    case = make_case("gaussian", "query_gallery", 1)
    as_torch = {k: torch.as_tensor(v) for k, v in case.items()}
    a = recall_at_k(**case, ks=KS, protocol="query_gallery")
    b = recall_at_k(**as_torch, ks=KS, protocol="query_gallery")
    np.testing.assert_array_equal(a.first_positive_rank, b.first_positive_rank)


# --- (3) bad input: one-line UserErrors --------------------------------------------------------

X = np.eye(4, dtype=np.float32)
Y = np.array([0, 0, 1, 1])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("kwargs, message", [
    (dict(ks=[0]), "unknown Recall@K value 0"),
    (dict(ks=[1, -2]), "unknown Recall@K value -2"),
    (dict(ks=[1.5]), "unknown Recall@K value 1.5"),
    (dict(ks=["R@1"]), "unknown Recall@K value 'R@1'"),
    (dict(ks=[True]), "unknown Recall@K value True"),
    (dict(ks=[]), "no Recall@K values"),
    (dict(ks=[1], protocol="inshop"), "unknown Recall@K protocol 'inshop'; valid protocols: "
                                      "leave_one_out, query_gallery"),
    (dict(ks=[1], protocol="query_gallery"), "needs a gallery"),
    (dict(ks=[1], reference=X, reference_labels=Y), "pass no reference set"),
    (dict(ks=[1], ties="random"), "unknown tie rule 'random'"),
])
def test_bad_arguments(impl, kwargs, message):
    with pytest.raises(UserError) as error:
        IMPLEMENTATIONS[impl](X, Y, **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("x, y, message", [
    (np.ones((4,)), Y, "must be a non-empty 2-D array"),
    (X, Y[:3], "one label per embedding"),
    (X, Y.astype(float), "must be integer class labels"),
    (np.where(X == 1, np.nan, X), Y, "contains NaN or inf"),
    (X, np.arange(4), "none of the 4 queries has a positive"),
])
def test_bad_inputs(impl, x, y, message):
    with pytest.raises(UserError) as error:
        IMPLEMENTATIONS[impl](x, y, ks=[1])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_gallery_dimension_mismatch():
    with pytest.raises(UserError, match="differ in dimension"):
        recall_at_k(X, Y, np.ones((3, 5)), [0, 1, 1], ks=[1], protocol="query_gallery")
