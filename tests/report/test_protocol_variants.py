"""Both re-ID mAP variants from one ranking: the non-interpolated one equals the harness's own
evaluate_market1501 (torchreid's protocol), the trapezoid one a line-by-line copy of the official
code's compute_mAP (layumi evaluate_gpu.py), on random inputs with ties, junk and same-camera items."""

from __future__ import annotations

import numpy as np
import pytest

from dmlrepro.evaluation import evaluate_market1501
from dmlrepro.report.protocol_variants import NONINTERPOLATED, TRAPEZOID, average_precisions, map_variants


def _layumi_compute_map(index, good_index, junk_index):
    """layumi/Person_reID_baseline_pytorch evaluate_gpu.py compute_mAP, in numpy (np.in1d → np.isin)."""
    ap = 0
    cmc = np.zeros(len(index))
    if good_index.size == 0:
        cmc[0] = -1
        return ap, cmc
    mask = np.isin(index, junk_index, invert=True)
    index = index[mask]
    ngood = len(good_index)
    mask = np.isin(index, good_index)
    rows_good = np.argwhere(mask).flatten()
    cmc[rows_good[0]:] = 1
    for i in range(ngood):
        d_recall = 1.0 / ngood
        precision = (i + 1) * 1.0 / (rows_good[i] + 1)
        old_precision = i * 1.0 / rows_good[i] if rows_good[i] != 0 else 1.0
        ap = ap + d_recall * (old_precision + precision) / 2
    return ap, cmc


def _official_map(distmat, q_pids, g_pids, q_cams, g_cams):
    aps = []
    for i in range(len(q_pids)):
        index = np.argsort(distmat[i], kind="stable")
        query_index = np.argwhere(g_pids == q_pids[i])
        camera_index = np.argwhere(g_cams == q_cams[i])
        good_index = np.setdiff1d(query_index, camera_index, assume_unique=True)
        junk_index = np.append(np.argwhere(g_pids == -1), np.intersect1d(query_index, camera_index))
        ap, cmc = _layumi_compute_map(index, good_index, junk_index)
        if cmc[0] != -1:
            aps.append(ap)
    return 100 * float(np.mean(aps))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_variants_equal_their_references(seed):
    rng = np.random.default_rng(seed)
    nq, ng = 40, 120
    q_pids, g_pids = rng.integers(0, 12, nq), rng.integers(-1, 12, ng)
    q_cams, g_cams = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    distmat = rng.integers(0, 30, (nq, ng)).astype(np.float32)  # many ties
    got = map_variants(distmat, q_pids, g_pids, q_cams, g_cams)
    own = evaluate_market1501(distmat, q_pids, g_pids, q_cams, g_cams)
    assert got[NONINTERPOLATED] == pytest.approx(100 * own.mAP, abs=1e-9)
    assert got["num_valid_queries"] == own.num_valid_queries
    assert got[TRAPEZOID] == pytest.approx(_official_map(distmat, q_pids, g_pids, q_cams, g_cams), abs=1e-9)
    assert got[TRAPEZOID] != pytest.approx(got[NONINTERPOLATED], abs=1e-6)


def test_by_hand():
    # matches at ranks 1 and 3: non-interpolated (1 + 2/3) / 2; trapezoid ((1 + 1)/2 + (1/2 + 2/3)/2) / 2
    non, trap = average_precisions([1, 3])
    assert non == pytest.approx((1 + 2 / 3) / 2)
    assert trap == pytest.approx((1 + (0.5 + 2 / 3) / 2) / 2)
    # a single match at rank 4: precision 1/4, previous 0/3
    assert average_precisions([4]) == pytest.approx((0.25, 0.125))


def test_no_valid_query_is_an_error():
    with pytest.raises(ValueError, match="no valid query"):
        map_variants(np.zeros((1, 2)), [5], [1, 2], [0], [1])


@pytest.mark.parametrize("cell,reason", [
    ({"family": "aianet_v", "task": "video_reid"}, "AiA-Net-V (MARS, video)"),
    ({"family": "l2net_descriptor", "task": "patch_descriptor"}, "no re-embedding for family 'l2net_descriptor'"),
])
def test_a_family_without_re_embedding_is_skipped_with_its_reason(tmp_path, cell, reason):
    import torch

    from dmlrepro.report.protocol_variants import measure_cell

    path = tmp_path / "model.pt"
    torch.save({"cell": cell, "model": {}}, path)
    assert reason in measure_cell(path, {"map": 1.0})["skipped"]
