"""MARS evaluation (002_e585b7ac4801a221.txt, Table 13): tracklet pooling and both gallery
protocols against a float64 loop reference, and against frame-level evaluation when every
tracklet has one frame."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dmlrepro.errors import UserError
from dmlrepro.evaluation import evaluate_market1501, evaluate_market1501_reference, pairwise_distance
from dmlrepro.evaluation.video_reid import (
    MARS_GALLERIES,
    evaluate_video_reid,
    flatten_tracklets,
    pool_tracklets,
)


def make_tracklets(seed: int, num_pids: int = 12, max_frames: int = 6, dim: int = 8,
                   one_frame: bool = False):
    """Query and gallery tracklets of ``num_pids`` identities over 6 cameras, with noisy frame
    features around an identity centre; each identity has queries in 1-2 cameras and gallery
    tracklets in 1-3 cameras (some in a query camera), plus junk (-1) and distractors (0)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_pids + 1, dim))
    sides = {"q": [], "g": []}
    for pid in range(1, num_pids + 1):
        for side, count in (("q", rng.integers(1, 3)), ("g", rng.integers(1, 4))):
            for _ in range(count):
                sides[side].append((pid, int(rng.integers(0, 6))))
    sides["g"] += [(0, int(rng.integers(0, 6))), (-1, int(rng.integers(0, 6)))]
    out = {}
    for side, tracklets in sides.items():
        frames, owner = [], []
        for t, (pid, _) in enumerate(tracklets):
            n = 1 if one_frame else int(rng.integers(1, max_frames + 1))
            frames.append(centres[max(pid, 0)] + 0.8 * rng.normal(size=(n, dim)))
            owner += [t] * n
        out[side] = (torch.tensor(np.concatenate(frames)), torch.tensor(owner),
                     torch.tensor([p for p, _ in tracklets]), torch.tensor([c for _, c in tracklets]))
    return out["q"], out["g"]


def reference(query, gallery, protocol: str, pooling: str = "mean"):
    """Plain-Python pooling and squared Euclidean distances, then the loop reference metric."""
    def pool(side):
        frames, owner, pids, _ = side
        rows = frames.tolist()
        pooled = []
        for t in range(len(pids)):
            mine = [rows[f] for f in range(len(rows)) if int(owner[f]) == t]
            if pooling == "mean":
                pooled.append([math.fsum(col) / len(mine) for col in zip(*mine)])
            else:
                pooled.append([max(col) for col in zip(*mine)])
        return pooled

    q, g = pool(query), pool(gallery)
    g_pids, g_cams = gallery[2].tolist(), gallery[3].tolist()
    if protocol == "official":
        g, g_pids, g_cams = g + q, g_pids + query[2].tolist(), g_cams + query[3].tolist()
    distmat = [[math.fsum((a - b) ** 2 for a, b in zip(u, v)) for v in g] for u in q]
    return evaluate_market1501_reference(np.array(distmat), query[2].numpy(), np.array(g_pids),
                                         query[3].numpy(), np.array(g_cams))


def evaluate(query_side, gallery_side, **kwargs):
    return evaluate_video_reid(*query_side, *gallery_side, **kwargs)


@pytest.mark.parametrize("pooling", ["mean", "max"])
@pytest.mark.parametrize("protocol", MARS_GALLERIES)
@pytest.mark.parametrize("seed", range(5))
def test_equals_the_slow_reference(seed, protocol, pooling):
    query, gallery = make_tracklets(seed)
    ours = evaluate(query, gallery, gallery=protocol, pooling=pooling)
    theirs = reference(query, gallery, protocol, pooling)
    np.testing.assert_array_equal(ours.cmc, theirs.cmc)
    assert ours.mAP == pytest.approx(theirs.mAP, rel=1e-12)
    assert (ours.num_valid_queries, ours.num_queries) == (theirs.num_valid_queries, theirs.num_queries)
    assert 0 < ours.mAP < 1  # not a degenerate ranking


@pytest.mark.parametrize("seed", range(5))
def test_one_frame_per_tracklet_equals_frame_level_evaluation(seed):
    query, gallery = make_tracklets(seed, one_frame=True)
    (qf, _, qp, qc), (gf, _, gp, gc) = query, gallery
    torchreid = evaluate(query, gallery, gallery="torchreid")
    frame_level = evaluate_market1501(pairwise_distance(qf, gf), qp, gp, qc, gc)
    np.testing.assert_array_equal(torchreid.cmc, frame_level.cmc)
    assert torchreid.mAP == frame_level.mAP
    official = evaluate(query, gallery, gallery="official")
    with_queries = evaluate_market1501(pairwise_distance(qf, torch.cat([gf, qf])), qp,
                                       torch.cat([gp, qp]), qc, torch.cat([gc, qc]))
    np.testing.assert_array_equal(official.cmc, with_queries.cmc)
    assert official.mAP == with_queries.mAP


def test_official_gallery_keeps_the_other_queries_as_matches():
    # pid 1 has queries in cameras 0 and 1 and one gallery tracklet in camera 0: under torchreid
    # the camera-0 query has no valid match (only a same-camera one); under the official protocol
    # the camera-1 query is its match. pid 2 is a control with an ordinary cross-camera match.
    q = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], dtype=torch.float64)
    g = torch.tensor([[0.0, 0.1], [5.0, 5.1], [9.0, 9.0]], dtype=torch.float64)
    query = (q, torch.arange(3), torch.tensor([1, 1, 2]), torch.tensor([0, 1, 0]))
    gallery = (g, torch.arange(3), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2]))
    torchreid = evaluate(query, gallery, gallery="torchreid", max_rank=3)
    official = evaluate(query, gallery, gallery="official", max_rank=3)
    assert (torchreid.num_valid_queries, official.num_valid_queries) == (2, 3)
    assert official.rank(1) == 1.0 and official.mAP == pytest.approx((1.0 + 1.0 + 1.0) / 3)


def test_pooling_is_the_mean_or_the_elementwise_max_of_a_tracklets_frames():
    frames = torch.tensor([[1.0, 4.0], [3.0, 0.0], [5.0, 5.0], [-1.0, 2.0]])
    owner = torch.tensor([0, 0, 1, 0])
    mean = pool_tracklets(frames, owner, 2, "mean")
    torch.testing.assert_close(mean, torch.tensor([[1.0, 2.0], [5.0, 5.0]]))
    maximum = pool_tracklets(frames, owner, 2, "max")
    torch.testing.assert_close(maximum, torch.tensor([[3.0, 4.0], [5.0, 5.0]]))
    shuffled = torch.tensor([3, 1, 0, 2])
    torch.testing.assert_close(pool_tracklets(frames[shuffled], owner[shuffled], 2), mean)


def test_flatten_tracklets_indexes_each_frame():
    tracklets = [(("a1", "a2"), 3, 0), (("b1",), 4, 1), (("c1", "c2", "c3"), 3, 2)]
    frames, owner = flatten_tracklets(tracklets)
    assert frames == ["a1", "a2", "b1", "c1", "c2", "c3"]
    assert owner.tolist() == [0, 0, 1, 2, 2, 2]


@pytest.mark.parametrize("call, message", [
    (lambda: pool_tracklets(torch.zeros(3, 2), torch.tensor([0, 0, 2]), 3), "tracklet 1 has no frame features"),
    (lambda: pool_tracklets(torch.zeros(3, 2), torch.tensor([0, 1, 5]), 3), "outside 0..2"),
    (lambda: pool_tracklets(torch.zeros(3, 2), torch.tensor([0, 1]), 2), "one integer tracklet index per frame"),
    (lambda: pool_tracklets(torch.zeros(2, 2), torch.tensor([0, 1]), 2, "median"), "unknown tracklet pooling"),
    (lambda: flatten_tracklets([("a.jpg", 1, 0)]), "non-empty sequence of frame paths"),
    (lambda: evaluate_video_reid(torch.zeros(1, 2), [0], [1], [0], torch.zeros(1, 2), [0], [1], [1],
                                 gallery="all"), "unknown MARS gallery protocol 'all'"),
])
def test_bad_input_is_a_one_line_user_error(call, message):
    with pytest.raises(UserError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)
