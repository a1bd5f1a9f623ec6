"""Slow, loop-per-query reference for :func:`dmlrepro.evaluation.evaluate_market1501`.

Same protocol and conventions (Zheng et al. ICCV 2015 Market-1501 single query, as in torchreid
``eval_market1501``; see the :mod:`dmlrepro.evaluation.reid_metrics` docstring), written to be read
rather than to be fast: plain Python lists, one query at a time, no numpy tricks. Its ordering
comes from Python's ``sorted``, which is guaranteed stable, so ties keep gallery-index order
independently of the fast version's sort. Use it in tests, not on full benchmarks: about 0.3 s
per million query-gallery pairs, ~20 s at Market-1501 size (benchmarks/bench_reid_metrics.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dmlrepro.evaluation.reid_metrics import (
    JUNK_PID,
    ReIDMetrics,
    no_valid_query_error,
    prepare_reid_inputs,
)


def evaluate_market1501_reference(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    max_rank: int = 50,
) -> ReIDMetrics:
    """Reference CMC and mAP; same arguments and result as ``evaluate_market1501``."""
    inputs = prepare_reid_inputs(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    num_query, num_gallery = inputs.distmat.shape
    gallery_pids = inputs.g_pids.tolist()
    gallery_cams = inputs.g_camids.tolist()

    cmc_curves: list[list[float]] = []
    average_precisions: list[float] = []
    for q in range(num_query):
        match_list = _ranked_match_list(
            inputs.distmat[q].tolist(), int(inputs.q_pids[q]), int(inputs.q_camids[q]),
            gallery_pids, gallery_cams,
        )
        if True not in match_list:
            continue  # no true match left: the query is skipped, not counted as a miss
        cmc_curves.append(_cmc_curve(match_list, max_rank))
        average_precisions.append(_average_precision(match_list))

    if not cmc_curves:
        raise no_valid_query_error(num_query, num_gallery)
    num_valid = len(cmc_curves)
    mean_cmc = [sum(curve[k] for curve in cmc_curves) / num_valid for k in range(max_rank)]
    return ReIDMetrics(
        cmc=np.array(mean_cmc),
        mAP=sum(average_precisions) / num_valid,
        num_valid_queries=num_valid,
        num_queries=num_query,
    )


def _ranked_match_list(
    distances: list[float],
    query_pid: int,
    query_cam: int,
    gallery_pids: list[int],
    gallery_cams: list[int],
) -> list[bool]:
    """The query's ranking after removal: ``True`` where the item is a true match."""
    ranking = sorted(range(len(distances)), key=lambda g: distances[g])  # stable: ties by index
    match_list = []
    for g in ranking:
        if gallery_pids[g] == JUNK_PID:
            continue
        if gallery_pids[g] == query_pid and gallery_cams[g] == query_cam:
            continue
        match_list.append(gallery_pids[g] == query_pid)
    return match_list


def _cmc_curve(match_list: list[bool], max_rank: int) -> list[float]:
    first_match_rank = match_list.index(True) + 1
    # Ranks past the end of the list count as found: the match is already in it.
    return [1.0 if k >= first_match_rank else 0.0 for k in range(1, max_rank + 1)]


def _average_precision(match_list: list[bool]) -> float:
    matches_so_far = 0
    precision_sum = 0.0
    for k, is_match in enumerate(match_list, start=1):
        if is_match:
            matches_so_far += 1
            precision_sum += matches_so_far / k  # precision@k at each relevant rank
    return precision_sum / matches_so_far
