"""The CUHK03 single-gallery-shot metric (Li et al., CVPR 2014), with which AiA-Net's Table 9
(CUHK03 vanilla protocol, 002_e585b7ac4801a221.txt Sec. 5.3) is evaluated, as torchreid's
``eval_cuhk03`` computes it (shared/notes/data-and-metrics.md):

* every query is ranked against the gallery without the images of its own identity under its
  own camera;
* CMC: one gallery image per identity is sampled (uniformly among that identity's remaining
  images), the query's first match is its identity's sampled image's rank among the sampled
  images; averaged over ``repeats`` draws (torchreid 10, the default here; the AiA-Net code 100,
  the protocol ``single_gallery_shot@100``) and over the queries with a match;
* mAP is not sampled: the Market-style average precision over every remaining image
  (``dmlrepro.evaluation.reid_metrics.evaluate_market1501``, which removes the same images).

The draws are a function of (seed, repeat, query) alone: the choice for identity i of query q in
repeat r is the remaining image of i with the largest ``numpy.random.default_rng([seed, r,
q]).random(num_gallery)`` key, so the vectorised metric and the slow reference
(``single_shot_cmc_reference``, torchreid's per-query loop) see the same draws.  Ties in distance
rank the lower gallery index first (a stable sort; torchreid's ``np.argsort`` leaves them to
quicksort).
"""

from __future__ import annotations

import numpy as np

DEFAULT_REPEATS = 10
PUBLIC_CODE_REPEATS = 100


def _keys(seed: int, repeat: int, query: int, num_gallery: int) -> np.ndarray:
    return np.random.default_rng([seed, repeat, query]).random(num_gallery)


def single_shot_cmc(distmat, q_pids, g_pids, q_cams, g_cams, repeats: int = DEFAULT_REPEATS,
                    max_rank: int = 50, seed: int = 0, chunk_size: int = 256) -> tuple[np.ndarray, int]:
    """(CMC curve of length ``max_rank``, number of queries with a match)."""
    distmat = np.asarray(distmat, dtype=np.float64)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_cams, g_cams = np.asarray(q_cams), np.asarray(g_cams)
    num_query, num_gallery = distmat.shape
    identities, g_group = np.unique(g_pids, return_inverse=True)
    order = np.argsort(g_group, kind="stable")           # gallery columns grouped by identity
    starts = np.searchsorted(g_group[order], np.arange(len(identities)))
    total = np.zeros(max_rank)
    valid_count = 0
    for start in range(0, num_query, chunk_size):
        rows = np.arange(start, min(num_query, start + chunk_size))
        dist = distmat[rows]
        same = q_pids[rows, None] == g_pids[None, :]
        kept = ~(same & (q_cams[rows, None] == g_cams[None, :]))
        valid = (same & kept).any(axis=1)
        for repeat in range(repeats):
            keys = np.stack([_keys(seed, repeat, int(q), num_gallery) for q in rows])
            keys = np.where(kept, keys, -1.0)
            grouped = keys[:, order]
            best = np.maximum.reduceat(grouped, starts, axis=1)               # (rows, identities)
            chosen_sorted = (grouped == np.repeat(best, np.diff(np.append(starts, num_gallery)), axis=1)) & (grouped >= 0)
            chosen = np.zeros_like(kept)
            chosen[:, order] = chosen_sorted
            true = chosen & same
            d_true = np.where(true, dist, np.inf).min(axis=1)
            i_true = np.where(true & (dist == d_true[:, None]), np.arange(num_gallery), num_gallery).min(axis=1)
            closer = chosen & ~same & ((dist < d_true[:, None]) |
                                       ((dist == d_true[:, None]) & (np.arange(num_gallery) < i_true[:, None])))
            rank = closer.sum(axis=1)                                          # 0-based first match
            hits = (rank[valid, None] <= np.arange(max_rank)[None, :]).sum(axis=0)
            total += hits / repeats
        valid_count += int(valid.sum())
    if valid_count == 0:
        raise ValueError("no query has a gallery image of its identity from another camera; "
                         "check the CUHK03 split")
    return total / valid_count, valid_count


def single_shot_cmc_reference(distmat, q_pids, g_pids, q_cams, g_cams, repeats: int = DEFAULT_REPEATS,
                              max_rank: int = 50, seed: int = 0) -> tuple[np.ndarray, int]:
    """torchreid's ``eval_cuhk03`` CMC loop, query by query, on the same draws (for tests)."""
    distmat = np.asarray(distmat, dtype=np.float64)
    num_query, num_gallery = distmat.shape
    all_cmc = []
    for q in range(num_query):
        order = np.argsort(distmat[q], kind="stable")
        keep = [j for j in order if not (g_pids[j] == q_pids[q] and g_cams[j] == q_cams[q])]
        raw = np.array([g_pids[j] == q_pids[q] for j in keep], dtype=np.int64)
        if not raw.any():
            continue
        cmc = np.zeros(max_rank)
        for repeat in range(repeats):
            keys = _keys(seed, repeat, q, num_gallery)
            best: dict[int, int] = {}
            for j in keep:
                pid = g_pids[j]
                if pid not in best or keys[j] > keys[best[pid]]:
                    best[pid] = j
            chosen = set(best.values())
            masked = np.array([raw[i] for i, j in enumerate(keep) if j in chosen])
            curve = np.minimum(masked.cumsum(), 1)[:max_rank]
            curve = np.concatenate([curve, np.ones(max_rank - len(curve))]) if len(curve) < max_rank else curve
            cmc += curve
        all_cmc.append(cmc / repeats)
    return np.mean(all_cmc, axis=0), len(all_cmc)
