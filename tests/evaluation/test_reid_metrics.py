"""Tests for the Market-1501 re-ID metrics: fast version, reference, and the protocol itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlrepro.evaluation import (
    JUNK_PID,
    ReIDMetrics,
    evaluate_market1501,
    evaluate_market1501_reference,
)
from dmlrepro.evaluation.reid_metrics import stable_argsort_rows

IMPLEMENTATIONS = {"fast": evaluate_market1501, "reference": evaluate_market1501_reference}


def assert_metrics_equal(a: ReIDMetrics, b: ReIDMetrics, atol: float = 1e-12) -> None:
    assert a.num_valid_queries == b.num_valid_queries
    assert a.num_queries == b.num_queries
    assert a.cmc.shape == b.cmc.shape
    np.testing.assert_allclose(a.cmc, b.cmc, rtol=0, atol=atol)
    assert abs(a.mAP - b.mAP) <= atol


# --- (1) a case computed by hand -------------------------------------------------------------

# Gallery:            g0  g1  g2  g3  g4  g5  g6
HAND_G_PIDS = [1, 1, 2, -1, 1, 2, 0]
HAND_G_CAMS = [0, 1, 0, 1, 2, 1, 0]
HAND_Q_PIDS = [1, 2, 3]
HAND_Q_CAMS = [0, 1, 0]
HAND_DISTMAT = [
    # q0 (pid 1, cam 0). Sorted: g0 .1, g3 .2, g2 .3, g5 .4, g1 .5, g6 .6, g4 .9.
    # g0 is pid 1 in cam 0 (removed), g3 is junk (removed), so the list is
    #   g2 no, g5 no, g1 YES, g6 no, g4 YES  ->  first match at rank 3,
    #   AP = (1/3 + 2/5) / 2 = 11/30.
    [0.1, 0.5, 0.3, 0.2, 0.9, 0.4, 0.6],
    # q1 (pid 2, cam 1). Sorted (stable): g5 .05, g3 .1, g1 .2, g2 .2, g6 .2, g0 .7, g4 .8.
    # g5 is pid 2 in cam 1 (removed), g3 is junk (removed); g1, g2, g6 tie and keep index order:
    #   g1 no, g2 YES, g6 no, g0 no, g4 no  ->  first match at rank 2, AP = 1/2.
    # (Had the tie put g2 first, rank 1 would be 1/2 instead of 0.)
    [0.7, 0.2, 0.2, 0.1, 0.8, 0.05, 0.2],
    # q2 (pid 3): no pid 3 in the gallery, so the query is skipped.
    [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
]


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_hand_computed_case(impl: str) -> None:
    metrics = IMPLEMENTATIONS[impl](
        np.array(HAND_DISTMAT), HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS, max_rank=5
    )
    # Mean over the 2 valid queries of q0 = [0,0,1,1,1] and q1 = [0,1,1,1,1].
    np.testing.assert_allclose(metrics.cmc, [0.0, 0.5, 1.0, 1.0, 1.0], rtol=0, atol=1e-15)
    assert metrics.mAP == pytest.approx((11 / 30 + 1 / 2) / 2, abs=1e-15)  # = 13/30
    assert metrics.num_valid_queries == 2
    assert metrics.num_queries == 3
    assert metrics.as_percent_dict(ranks=(1, 2, 3)) == pytest.approx(
        {"rank1": 0.0, "rank2": 50.0, "rank3": 100.0, "map": 100 * 13 / 30}
    )


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_max_rank_beyond_gallery_is_padded_with_one(impl: str) -> None:
    metrics = IMPLEMENTATIONS[impl](
        np.array(HAND_DISTMAT), HAND_Q_PIDS, HAND_G_PIDS, HAND_Q_CAMS, HAND_G_CAMS, max_rank=50
    )
    assert metrics.cmc.shape == (50,)
    np.testing.assert_array_equal(metrics.cmc[:3], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(metrics.cmc[3:], 1.0)
    assert metrics.rank(50) == 1.0


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_ties_are_broken_by_gallery_index(impl: str) -> None:
    # Two gallery items at the same distance; only the true match's index changes.
    match_first = IMPLEMENTATIONS[impl]([[1.0, 1.0]], [7], [7, 8], [0], [1, 1])
    match_second = IMPLEMENTATIONS[impl]([[1.0, 1.0]], [7], [8, 7], [0], [1, 1])
    assert (match_first.rank(1), match_first.mAP) == (1.0, 1.0)
    assert (match_second.rank(1), match_second.mAP) == (0.0, 0.5)


# --- (2) fast == reference on random inputs -----------------------------------------------------

def random_case(rng: np.random.Generator) -> dict:
    """Small random problem with repeated pids, several cameras, junk, ties and hopeless queries."""
    num_query = int(rng.integers(1, 25))
    num_gallery = int(rng.integers(1, 60))
    num_ids = int(rng.integers(1, 8))
    num_cams = int(rng.integers(1, 5))
    kind = rng.choice(["float64", "float32", "float32_ties", "int_ties", "signed_float32"])
    shape = (num_query, num_gallery)
    if kind == "float64":  # not float32-representable: exercises numpy's stable sort
        distmat = rng.random(shape)
    elif kind == "float32":
        distmat = rng.random(shape).astype(np.float32)
    elif kind == "float32_ties":
        distmat = np.round(rng.random(shape), 1).astype(np.float32)
    elif kind == "int_ties":  # ints become float64 that fit float32: the packed-key path
        distmat = rng.integers(0, 4, shape)
    else:  # negative values, -0.0 and +0.0 ties, +inf
        distmat = rng.choice(np.array([-2.5, -1.0, -0.0, 0.0, 0.5, 3.0, np.inf], np.float32), shape)
    return dict(
        distmat=distmat,
        # Pids up to num_ids + 1 in the queries, so some have no identity in the gallery.
        q_pids=rng.integers(0, num_ids + 2, num_query),
        g_pids=rng.integers(JUNK_PID, num_ids, num_gallery),
        q_camids=rng.integers(0, num_cams, num_query),
        g_camids=rng.integers(0, num_cams, num_gallery),
        max_rank=int(rng.integers(1, num_gallery + 10)),
    )


def evaluate_or_error(fn, case: dict, **kwargs) -> ReIDMetrics | str:
    try:
        return fn(**case, **kwargs)
    except ValueError as error:
        return f"ValueError: {error}"


@pytest.mark.parametrize("seed", range(300))
def test_fast_equals_reference_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    case = random_case(rng)
    chunk_size = int(rng.integers(1, 8))
    expected = evaluate_or_error(evaluate_market1501_reference, case)
    for actual in (evaluate_or_error(evaluate_market1501, case),
                   evaluate_or_error(evaluate_market1501, case, chunk_size=chunk_size)):
        if isinstance(expected, str):
            assert actual == expected
        else:
            assert isinstance(actual, ReIDMetrics), actual
            assert_metrics_equal(actual, expected)


def test_random_cases_cover_the_interesting_situations() -> None:
    # Guards the test above against a generator that silently stops producing the hard cases.
    seen = {"no_valid_query": 0, "some_invalid_query": 0, "junk": 0, "tie": 0, "short_list": 0}
    for seed in range(300):
        case = random_case(np.random.default_rng(seed))
        result = evaluate_or_error(evaluate_market1501_reference, case)
        if isinstance(result, str):
            seen["no_valid_query"] += 1
            continue
        seen["some_invalid_query"] += result.num_valid_queries < result.num_queries
        seen["junk"] += bool((case["g_pids"] == JUNK_PID).any())
        d = np.asarray(case["distmat"])
        seen["tie"] += any(len(np.unique(row)) < len(row) for row in d)
        seen["short_list"] += case["max_rank"] > d.shape[1]
    assert all(count >= 10 for count in seen.values()), seen


def torchreid_style_eval(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Independent re-statement of torchreid's eval_market1501 loop (torchreid/metrics/rank.py),
    with a stable argsort; valid only without junk and when no query's list gets shorter than
    max_rank (torchreid would build a ragged array there)."""
    indices = np.argsort(distmat, axis=1, kind="stable")
    matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
    all_cmc, all_ap = [], []
    for q in range(distmat.shape[0]):
        order = indices[q]
        keep = ~((g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q]))
        raw_cmc = matches[q][keep]
        if not raw_cmc.any():
            continue
        cmc = raw_cmc.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        precision = raw_cmc.cumsum() / np.arange(1, len(raw_cmc) + 1)
        all_ap.append((precision * raw_cmc).sum() / raw_cmc.sum())
    return np.asarray(all_cmc, dtype=np.float64).mean(axis=0), float(np.mean(all_ap))


@pytest.mark.parametrize("seed", range(50))
def test_fast_agrees_with_torchreid_formulation(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    num_query, num_gallery = 30, 80
    q_pids = rng.integers(0, 12, num_query)
    g_pids = rng.integers(0, 10, num_gallery)
    q_cams, g_cams = rng.integers(0, 3, num_query), rng.integers(0, 3, num_gallery)
    distmat = rng.integers(0, 6, (num_query, num_gallery)).astype(np.float32)  # many ties
    max_rank = 20
    # Removal can never shorten a list below max_rank here (see the docstring).
    assert max((g_pids == p).sum() for p in q_pids) <= num_gallery - max_rank
    cmc, mean_ap = torchreid_style_eval(distmat, q_pids, g_pids, q_cams, g_cams, max_rank)
    metrics = evaluate_market1501(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    np.testing.assert_allclose(metrics.cmc, cmc, rtol=0, atol=1e-12)
    assert metrics.mAP == pytest.approx(mean_ap, abs=1e-12)


def test_stable_argsort_rows_matches_numpy_stable_sort() -> None:
    rng = np.random.default_rng(0)
    values = np.array([-np.inf, -3.0, -1e-30, -0.0, 0.0, 1e-45, 0.5, 2.0, np.inf])
    shape = (20, 200)
    cases = {
        "float32 keys, signed zeros, ties": rng.choice(values, shape).astype(np.float32),
        "float16, widened": rng.choice(values, shape).astype(np.float16),
        "float64 exact in float32": rng.integers(-5, 5, shape).astype(np.float64),
        "float64 dense ranks": rng.random(shape) + rng.integers(0, 2, shape),
        "float64 dense ranks, ties": rng.choice(values, shape) + 0.1,  # 0.1 is not a float32
    }
    for name, distmat in cases.items():
        expected = np.argsort(distmat, axis=1, kind="stable")
        np.testing.assert_array_equal(stable_argsort_rows(distmat), expected, err_msg=name)
        last = rng.random(shape) < 0.3
        # Kept columns first in stable distance order, then the `last` ones in column order.
        expected = np.lexsort((np.where(last, 0, distmat), last), axis=1)
        np.testing.assert_array_equal(stable_argsort_rows(distmat, last=last), expected,
                                      err_msg=name)


# --- (3) same-pid-same-camera and junk gallery items change nothing ------------------------------

@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_same_pid_same_camera_items_are_ignored(impl: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fn = IMPLEMENTATIONS[impl]
    g_pids, g_cams = rng.integers(0, 5, 40), rng.integers(0, 3, 40)
    distmat = rng.integers(0, 10, (1, 40)).astype(np.float64)
    q_pid, q_cam = int(g_pids[0]), int((g_cams[0] + 1) % 3)  # guarantees one true match
    g_pids[1], distmat[0, 1] = 99, -0.5  # a non-match first, so rank 1 is a miss
    base = fn(distmat, [q_pid], g_pids, [q_cam], g_cams, max_rank=10)

    # Same identity, same camera as the query, at the very top, tied with others, and anywhere.
    extra = np.array([[-1.0, 0.0, 3.0, *rng.integers(0, 10, 5)]])
    num_extra = extra.shape[1]
    columns = rng.permutation(40 + num_extra)  # interleave them with the original gallery
    distmat2 = np.concatenate([distmat, extra], axis=1)[:, columns]
    g_pids2 = np.concatenate([g_pids, np.full(num_extra, q_pid)])[columns]
    g_cams2 = np.concatenate([g_cams, np.full(num_extra, q_cam)])[columns]
    # Interleaving reorders ties, so compare against the permuted original as well.
    base_permuted = fn(distmat2[:, columns < 40], [q_pid], g_pids2[columns < 40], [q_cam],
                       g_cams2[columns < 40], max_rank=10)
    with_extra = fn(distmat2, [q_pid], g_pids2, [q_cam], g_cams2, max_rank=10)
    assert_metrics_equal(with_extra, base_permuted, atol=0)

    # Appending at the end keeps the original tie order exactly.
    appended = fn(np.concatenate([distmat, extra], axis=1), [q_pid],
                  np.concatenate([g_pids, np.full(num_extra, q_pid)]), [q_cam],
                  np.concatenate([g_cams, np.full(num_extra, q_cam)]), max_rank=10)
    assert_metrics_equal(appended, base, atol=0)
    # Sanity: the same items in another camera are true matches and do change the result.
    other_cam = fn(np.concatenate([distmat, extra], axis=1), [q_pid],
                   np.concatenate([g_pids, np.full(num_extra, q_pid)]), [q_cam],
                   np.concatenate([g_cams, np.full(num_extra, q_cam + 1)]), max_rank=10)
    assert base.rank(1) == 0.0 and other_cam.rank(1) == 1.0


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_junk_gallery_items_are_ignored(impl: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fn = IMPLEMENTATIONS[impl]
    case = dict(distmat=rng.integers(0, 8, (15, 30)).astype(np.float64),
                q_pids=rng.integers(0, 4, 15), g_pids=rng.integers(0, 4, 30),
                q_camids=rng.integers(0, 2, 15), g_camids=rng.integers(0, 3, 30), max_rank=10)
    base = evaluate_or_error(fn, case)
    junk = dict(case)
    junk["distmat"] = np.concatenate([case["distmat"], rng.integers(-1, 8, (15, 12))], axis=1)
    junk["g_pids"] = np.concatenate([case["g_pids"], np.full(12, JUNK_PID)])
    junk["g_camids"] = np.concatenate([case["g_camids"], rng.integers(0, 3, 12)])
    with_junk = evaluate_or_error(fn, junk)
    if isinstance(base, str):
        assert isinstance(with_junk, str)
    else:
        assert_metrics_equal(with_junk, base, atol=0)


# --- (4) a perfect ranking ---------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_perfect_ranking_gives_cmc_one_and_map_one(impl: str) -> None:
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 6, 20), np.repeat(np.arange(6), 5)
    q_cams, g_cams = np.zeros(20, int), rng.integers(0, 3, 30)
    assert (g_cams != 0).any()
    # Every true match (pid equal, other camera) is nearer than every other gallery item;
    # same-camera copies of the query identity sit anywhere, even at the top.
    same_pid = g_pids[None, :] == q_pids[:, None]
    true_match = same_pid & (g_cams[None, :] != 0)
    distmat = np.where(true_match, rng.random((20, 30)), 1.0 + rng.random((20, 30)))
    distmat = np.where(same_pid & ~true_match, rng.random((20, 30)) - 1.0, distmat)
    metrics = IMPLEMENTATIONS[impl](distmat, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    np.testing.assert_array_equal(metrics.cmc, 1.0)
    assert metrics.mAP == 1.0
    assert metrics.as_percent_dict() == {"rank1": 100.0, "rank5": 100.0, "rank10": 100.0,
                                         "map": 100.0}


# --- (5) queries without a valid match ---------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_queries_without_valid_match_are_excluded(impl: str) -> None:
    fn = IMPLEMENTATIONS[impl]
    rng = np.random.default_rng(3)
    g_pids, g_cams = rng.integers(0, 4, 25), rng.integers(0, 3, 25)
    q_pids, q_cams = np.array([0, 1, 2, 3]), np.array([0, 1, 2, 0])
    distmat = rng.random((4, 25))
    valid_only = fn(distmat, q_pids, g_pids, q_cams, g_cams, max_rank=10)

    # Add a query of an identity absent from the gallery, and one whose identity appears only
    # in its own camera (nothing left after removal).
    g_pids2 = np.concatenate([g_pids, [9, 9]])
    g_cams2 = np.concatenate([g_cams, [1, 1]])
    q_pids2, q_cams2 = np.concatenate([q_pids, [42, 9]]), np.concatenate([q_cams, [0, 1]])
    distmat2 = np.concatenate([np.concatenate([distmat, rng.random((4, 2)) + 2], axis=1),
                               rng.random((2, 27))])
    with_invalid = fn(distmat2, q_pids2, g_pids2, q_cams2, g_cams2, max_rank=10)
    assert with_invalid.num_queries == valid_only.num_queries + 2
    assert with_invalid.num_valid_queries == valid_only.num_valid_queries
    # Averaging over all 6 queries instead would scale both numbers by num_valid / 6.
    np.testing.assert_array_equal(with_invalid.cmc, valid_only.cmc)
    assert with_invalid.mAP == valid_only.mAP


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_no_valid_query_raises(impl: str) -> None:
    fn = IMPLEMENTATIONS[impl]
    # Query 0's identity is only in its own camera; query 1's identity is not in the gallery.
    with pytest.raises(ValueError, match="no valid query"):
        fn([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], [1, 5], [1, JUNK_PID, 2], [0, 0], [0, 1, 1])
    with pytest.raises(ValueError, match="no valid query"):
        fn(np.zeros((2, 0)), [1, 2], np.zeros(0, int), [0, 0], np.zeros(0, int))


# --- inputs and the result object ----------------------------------------------------------------

def test_torch_inputs_and_chunking_do_not_change_the_result() -> None:
    case = random_case(np.random.default_rng(7))
    expected = evaluate_market1501(**case)
    torch_case = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v
                  for k, v in case.items()}
    assert_metrics_equal(evaluate_market1501(**torch_case), expected, atol=0)
    for chunk_size in (1, 2, 1000):
        assert_metrics_equal(evaluate_market1501(**case, chunk_size=chunk_size), expected, atol=0)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_bad_inputs_raise(impl: str) -> None:
    fn = IMPLEMENTATIONS[impl]
    good = dict(distmat=np.zeros((2, 3)), q_pids=[0, 1], g_pids=[0, 1, 1], q_camids=[0, 0],
                g_camids=[1, 1, 1])
    with pytest.raises(ValueError, match="NaN"):
        fn(**{**good, "distmat": np.array([[0.0, np.nan, 1.0], [0.0, 0.0, 0.0]])})
    with pytest.raises(ValueError, match="g_pids"):
        fn(**{**good, "g_pids": [0, 1]})
    with pytest.raises(ValueError, match="2-D"):
        fn(**{**good, "distmat": np.zeros(6)})
    with pytest.raises(TypeError, match="integers"):
        fn(**{**good, "q_pids": [0.0, 1.0]})
    with pytest.raises(ValueError, match="max_rank"):
        fn(**good, max_rank=0)


def test_reid_metrics_helpers_and_immutability() -> None:
    metrics = ReIDMetrics(cmc=np.array([0.25, 0.5, 1.0]), mAP=0.4, num_valid_queries=4,
                          num_queries=5)
    assert metrics.rank(2) == 0.5
    assert metrics.as_percent_dict(ranks=(1, 3)) == {"rank1": 25.0, "rank3": 100.0, "map": 40.0}
    with pytest.raises(ValueError, match="max_rank"):
        metrics.rank(4)
    with pytest.raises(ValueError):
        metrics.rank(0)
    with pytest.raises(ValueError):  # the array is read-only, like the frozen dataclass
        metrics.cmc[0] = 1.0
