"""The fast path of evaluate_market1501 (reid_metrics.true_match_ranks: one float sort per row,
binary search per same-identity item, column tie-break only where a distance repeats, removed
items subtracted): every true match's rank equals the slow reference's ranked list, on random
inputs full of ties between matches, removed items, junk and ordinary items."""

from __future__ import annotations

import numpy as np
import pytest

from dmlrepro.evaluation import JUNK_PID, evaluate_market1501, evaluate_market1501_reference
from dmlrepro.evaluation.reid_metrics import prepare_reid_inputs, true_match_ranks
from dmlrepro.evaluation.reid_metrics_reference import _ranked_match_list

DTYPES = (np.float16, np.float32, np.float64, np.longdouble)


def reference_ranks(case: dict) -> list[list[int]]:
    """Per query, the 1-based ranks of its true matches in the reference's ranked list."""
    d = np.asarray(case["distmat"])
    out = []
    for q in range(d.shape[0]):
        match_list = _ranked_match_list(d[q].tolist(), int(case["q_pids"][q]),
                                        int(case["q_camids"][q]), list(case["g_pids"]),
                                        list(case["g_camids"]))
        out.append([k + 1 for k, hit in enumerate(match_list) if hit])
    return out


def fast_ranks(case: dict, chunk_size: int | None = None) -> list[list[int]]:
    inputs = prepare_reid_inputs(case["distmat"], case["q_pids"], case["g_pids"],
                                 case["q_camids"], case["g_camids"], max_rank=1)
    ranks = true_match_ranks(inputs, chunk_size=chunk_size)
    out = [[] for _ in range(inputs.distmat.shape[0])]
    for q, rank, index in zip(ranks.query, ranks.rank, ranks.match_index):
        assert index == len(out[q]) + 1  # grouped by query, in rank order
        out[q].append(int(rank))
    return out


def tie_heavy_case(rng: np.random.Generator, dtype, few_values: bool) -> dict:
    num_query, num_gallery = int(rng.integers(1, 30)), int(rng.integers(1, 120))
    num_ids = int(rng.integers(1, 6))  # few identities: many matches and removed items per row
    if few_values:  # ties everywhere, signed zeros, infinities
        values = np.array([-np.inf, -2.0, -0.0, 0.0, 0.5, 1.0, np.inf])
        distmat = rng.choice(values, (num_query, num_gallery))
    else:
        distmat = rng.standard_normal((num_query, num_gallery))
        distmat[:, rng.random(num_gallery) < 0.2] = 0.25  # whole tied columns
    return dict(distmat=distmat.astype(dtype), q_pids=rng.integers(0, num_ids + 1, num_query),
                g_pids=rng.integers(JUNK_PID, num_ids, num_gallery),
                q_camids=rng.integers(0, 3, num_query), g_camids=rng.integers(0, 3, num_gallery))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("few_values", [True, False])
def test_match_ranks_equal_the_reference_with_ties(dtype, few_values) -> None:
    rng = np.random.default_rng(17 + few_values)
    for _ in range(25):
        case = tie_heavy_case(rng, dtype, few_values)
        expected = reference_ranks(case)
        assert fast_ranks(case) == expected
        assert fast_ranks(case, chunk_size=int(rng.integers(1, 5))) == expected


def test_every_distance_equal_ranks_by_column() -> None:
    # All tied: the list after removal is the gallery order, so ranks are known in closed form.
    g_pids = np.array([3, 1, 3, 3, -1, 2, 3, 1, 3])
    g_cams = np.array([0, 0, 1, 0, 1, 1, 2, 0, 0])
    case = dict(distmat=np.full((2, 9), 0.5, np.float32), q_pids=np.array([3, 1]),
                g_pids=g_pids, q_camids=np.array([0, 1]), g_camids=g_cams)
    # q0 (pid 3, cam 0) drops columns 0, 3, 8 (same camera) and 4 (junk): list 1 2 5 6 7 -> pid
    # 3 at columns 2 and 6, ranks 2 and 4. q1 (pid 1, cam 1) drops only junk: pid 1 at 1, 7.
    assert fast_ranks(case) == [[2, 4], [2, 7]] == reference_ranks(case)


@pytest.mark.parametrize("seed", range(6))
def test_float32_and_float64_of_distances_agree_with_reference(seed: int) -> None:
    # Continuous distances as pairwise_distance gives them, with a model that is often right;
    # float64 values that float32 cannot hold and float32 values, at a few hundred gallery items.
    rng = np.random.default_rng(seed)
    q_pids, g_pids = rng.integers(0, 20, 40), rng.integers(-1, 20, 300)
    q_cams, g_cams = rng.integers(0, 4, 40), rng.integers(0, 4, 300)
    distmat = rng.random((40, 300)) - 0.3 * (q_pids[:, None] == g_pids[None, :])
    for d in (distmat, distmat.astype(np.float32), np.asfortranarray(distmat)[:, ::-1]):
        gp, gc = (g_pids, g_cams) if d.strides[1] > 0 else (g_pids[::-1], g_cams[::-1])
        case = dict(distmat=d, q_pids=q_pids, g_pids=gp, q_camids=q_cams, g_camids=gc)
        assert fast_ranks(case) == reference_ranks(case)
        fast = evaluate_market1501(**case, max_rank=30)
        slow = evaluate_market1501_reference(**case, max_rank=30)
        np.testing.assert_allclose(fast.cmc, slow.cmc, rtol=0, atol=1e-12)
        assert abs(fast.mAP - slow.mAP) <= 1e-12


def test_a_tie_with_a_removed_item_and_a_match_keeps_column_order() -> None:
    # q (pid 5, cam 0): columns 0 (pid 5 cam 0, removed), 1 (pid 7), 2 (pid 5 cam 1, match),
    # 3 (pid 5 cam 0, removed), 4 (pid 5 cam 2, match), all at 1.0, and column 5 nearer.
    case = dict(distmat=np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]]), q_pids=np.array([5]),
                g_pids=np.array([5, 7, 5, 5, 5, 8]), q_camids=np.array([0]),
                g_camids=np.array([0, 0, 1, 0, 2, 0]))
    # List after removal: col 5 (0.0), col 1, col 2 (match), col 4 (match).
    assert fast_ranks(case) == [[3, 4]] == reference_ranks(case)
    metrics = evaluate_market1501(**case, max_rank=4)
    np.testing.assert_array_equal(metrics.cmc, [0, 0, 1, 1])
    assert metrics.mAP == pytest.approx((1 / 3 + 2 / 4) / 2, abs=1e-15)


def test_small_blocks_and_tie_batches_change_nothing(monkeypatch) -> None:
    # One query per block and one tied item per tie-break batch (the memory bounds).
    import dmlrepro.evaluation.reid_metrics as reid_metrics

    rng = np.random.default_rng(5)
    cases = [tie_heavy_case(rng, np.float32, few_values=True) for _ in range(10)]
    expected = [fast_ranks(case) for case in cases]
    monkeypatch.setattr(reid_metrics, "_BLOCK_ELEMENTS", 1)
    assert [fast_ranks(case) for case in cases] == expected == [reference_ranks(c) for c in cases]
