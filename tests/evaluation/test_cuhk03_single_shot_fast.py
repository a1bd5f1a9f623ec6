"""The vectorised CUHK03 single-gallery-shot CMC (one uniform per query and identity, first match
by counting the nearer sampled images): equal to the per-query reference loop on the same draws,
with ties, float32 and float64, odd splits and chunkings; the draws themselves."""

from __future__ import annotations

import numpy as np
import pytest

from dmlrepro.errors import UserError
from dmlrepro.evaluation.cuhk03_single_shot import (
    draw_uniforms,
    single_shot_cmc,
    single_shot_cmc_reference,
)


def random_split(rng: np.random.Generator, dtype, ties: bool):
    nq, ng = int(rng.integers(1, 25)), int(rng.integers(1, 70))
    num_ids = int(rng.integers(1, 12))
    q_pids = rng.integers(0, num_ids + 2, nq)  # some identities absent from the gallery
    g_pids = rng.integers(0, num_ids, ng)
    q_cams, g_cams = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    dist = rng.integers(0, 3, (nq, ng)) if ties else rng.standard_normal((nq, ng))
    return dist.astype(dtype), q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
def test_equals_the_reference_on_random_splits(dtype, ties) -> None:
    rng = np.random.default_rng(11 + ties)
    checked = 0
    for _ in range(30):
        split = random_split(rng, dtype, ties)
        repeats, max_rank, seed = int(rng.integers(1, 5)), int(rng.integers(1, 15)), int(rng.integers(0, 99))
        try:
            slow, n_slow = single_shot_cmc_reference(*split, repeats=repeats, max_rank=max_rank, seed=seed)
        except UserError:  # no query has a match: both say so
            with pytest.raises(UserError, match="no query"):
                single_shot_cmc(*split, repeats=repeats, max_rank=max_rank, seed=seed)
            continue
        for chunk_size in (1, int(rng.integers(1, 6)), 1024):
            fast, n_fast = single_shot_cmc(*split, repeats=repeats, max_rank=max_rank, seed=seed,
                                           chunk_size=chunk_size)
            assert n_fast == n_slow
            np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
        checked += 1
    assert checked >= 15


def test_draws_do_not_depend_on_blocking_or_on_other_queries() -> None:
    whole = next(draw_uniforms(5, 2, 7, [10]))
    blocked = np.concatenate(list(draw_uniforms(5, 2, 7, [3, 1, 6])))
    np.testing.assert_array_equal(blocked, whole)
    assert not np.array_equal(whole, next(draw_uniforms(5, 3, 7, [10])))
    # The first k queries' CMC is the same whether or not more queries follow (count-weighted).
    rng = np.random.default_rng(0)
    dist, q_pids, g_pids, q_cams, g_cams = random_split(rng, np.float64, False)
    dist = rng.random((12, 40)); q_pids, q_cams = rng.integers(0, 4, 12), rng.integers(0, 3, 12)
    g_pids, g_cams = rng.integers(0, 4, 40), rng.integers(0, 3, 40)
    head = single_shot_cmc(dist[:5], q_pids[:5], g_pids, q_cams[:5], g_cams, repeats=3, max_rank=6)
    slow = single_shot_cmc_reference(dist[:5], q_pids[:5], g_pids, q_cams[:5], g_cams, repeats=3, max_rank=6)
    np.testing.assert_allclose(head[0], slow[0], rtol=0, atol=1e-12)


def test_the_sampled_true_image_is_uniform_over_other_cameras() -> None:
    # The query's identity has images at distances 0, 1, 2 in other cameras and one at -1 in its
    # own camera (removed); one distractor identity at 0.5. First match rank 1 iff the 0 image
    # is drawn (1/3 of draws); never rank 1 through the removed image.
    dist = np.array([[0.0, 1.0, 2.0, -1.0, 0.5]])
    g_pids, g_cams = np.array([4, 4, 4, 4, 9]), np.array([1, 2, 1, 0, 1])
    cmc, valid = single_shot_cmc(dist, [4], g_pids, [0], g_cams, repeats=3000, max_rank=2)
    assert valid == 1 and cmc[1] == 1.0
    assert cmc[0] == pytest.approx(1 / 3, abs=0.03)


def test_bad_inputs() -> None:
    with pytest.raises(UserError, match="CUHK03 split"):  # only same-camera images of the id
        single_shot_cmc([[0.1, 0.2]], [1], [1, 2], [0], [0, 0])
    with pytest.raises(UserError, match="CUHK03 split"):
        single_shot_cmc(np.zeros((2, 0)), [1, 2], [], [0, 0], [])
    with pytest.raises(ValueError, match="g_pids must have shape"):
        single_shot_cmc([[0.1, 0.2]], [1], [1], [0], [0, 1])
    with pytest.raises(ValueError, match="NaN"):
        single_shot_cmc([[np.nan, 0.2]], [1], [1, 2], [0], [1, 1])
    with pytest.raises(ValueError, match="chunk_size"):
        single_shot_cmc([[0.1, 0.2]], [1], [1, 2], [0], [1, 1], chunk_size=0)
    with pytest.raises(ValueError, match="repeats"):
        single_shot_cmc([[0.1, 0.2]], [1], [1, 2], [0], [1, 1], repeats=0)
