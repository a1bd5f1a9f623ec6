"""The CUHK03 single-gallery-shot CMC (dmlrepro.evaluation.cuhk03_single_shot): equal to
torchreid's per-query loop on the same draws, and right on a hand-made case."""

from __future__ import annotations

import numpy as np
import pytest

from dmlrepro.evaluation.cuhk03_single_shot import single_shot_cmc, single_shot_cmc_reference


@pytest.mark.parametrize("ties", [False, True])
def test_equals_the_slow_reference_on_the_same_draws(ties):
    rng = np.random.default_rng(3)
    for _ in range(3):
        nq, ng = 17, 53
        q_pids, g_pids = rng.integers(0, 6, nq), rng.integers(0, 9, ng)
        q_cams, g_cams = rng.integers(0, 2, nq), rng.integers(0, 2, ng)
        dist = rng.integers(0, 4, (nq, ng)).astype(float) if ties else rng.random((nq, ng))
        fast, n_fast = single_shot_cmc(dist, q_pids, g_pids, q_cams, g_cams, repeats=4, max_rank=12, chunk_size=4)
        slow, n_slow = single_shot_cmc_reference(dist, q_pids, g_pids, q_cams, g_cams, repeats=4, max_rank=12)
        assert n_fast == n_slow
        np.testing.assert_allclose(fast, slow, atol=1e-12)


def test_one_image_per_identity_is_sampled():
    # the query's match (distance 1) competes with one of identity 1's images: 0.5 (closer) or 2.
    dist = np.array([[1.0, 0.5, 2.0, 0.1]])
    g_pids, g_cams = np.array([0, 1, 1, 0]), np.array([1, 1, 1, 0])  # last: same id, same camera
    cmc, valid = single_shot_cmc(dist, [0], g_pids, [0], g_cams, repeats=400, max_rank=2)
    assert valid == 1 and cmc[1] == pytest.approx(1.0)
    assert cmc[0] == pytest.approx(0.5, abs=0.1)
    never = single_shot_cmc(np.array([[1.0, 0.5]]), [0], [0, 1], [0], [1, 1], repeats=5, max_rank=2)[0]
    assert list(never) == [0.0, 1.0]
