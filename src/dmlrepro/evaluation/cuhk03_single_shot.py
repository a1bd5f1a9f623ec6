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

The draws (:func:`draw_uniforms`) are a function of (seed, repeat, query, number of gallery
identities) alone: repeat ``r`` reads one generator ``numpy.random.default_rng([seed, r])``
row by row, ``u[q, i]`` for gallery identity ``i`` (identities in ascending pid order), and
identity ``i`` is represented for query ``q`` by its ``floor(u[q, i] * m)``-th remaining image
(0-based, gallery order) of its ``m`` remaining ones. The vectorised metric and the slow
reference (``single_shot_cmc_reference``, torchreid's per-query loop) therefore see the same
draws, and a query's draws do not depend on the other queries. Ties in distance rank the lower
gallery index first (a stable sort; torchreid's ``np.argsort`` leaves them to quicksort).

Why it is fast: only the query's own identity loses images (its same-camera ones), so every
other identity's candidates are the same for all queries, one uniform per (query, identity)
picks one, and the query's first match is its sampled true image's rank among the sampled
images, i.e. the number of sampled images nearer than it (one gather and one comparison per
identity) -- no sort and no per-image random key.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

DEFAULT_REPEATS = 10
PUBLIC_CODE_REPEATS = 100


def draw_uniforms(seed: int, repeat: int, num_identities: int,
                  row_counts: list[int]) -> Iterator[np.ndarray]:
    """The uniforms of repeat ``repeat`` for consecutive blocks of queries, ``row_counts[k]``
    rows at a time: block by block the same stream as one ``(sum(row_counts), num_identities)``
    draw."""
    generator = np.random.default_rng([seed, repeat])
    for rows in row_counts:
        yield generator.random((rows, num_identities))


def single_shot_cmc(distmat, q_pids, g_pids, q_cams, g_cams, repeats: int = DEFAULT_REPEATS,
                    max_rank: int = 50, seed: int = 0, chunk_size: int = 1024) -> tuple[np.ndarray, int]:
    """(CMC curve of length ``max_rank``, number of queries with a match)."""
    distmat, q_pids, g_pids, q_cams, g_cams = _inputs(distmat, q_pids, g_pids, q_cams, g_cams)
    for name, value in (("chunk_size", chunk_size), ("repeats", repeats), ("max_rank", max_rank)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    num_query, num_gallery = distmat.shape
    if num_gallery == 0:
        raise _no_valid_query()
    identities, g_group = np.unique(g_pids, return_inverse=True)
    num_ids = len(identities)
    by_identity = np.argsort(g_group, kind="stable")  # gallery columns grouped, gallery order
    sizes = np.bincount(g_group, minlength=num_ids)
    starts = np.cumsum(sizes) - sizes

    # Each query's identity (index into `identities`, -1 if absent) and its remaining images.
    q_group = np.minimum(np.searchsorted(identities, q_pids), num_ids - 1)
    q_group = np.where(identities[q_group] == q_pids, q_group, -1)
    own_sizes = np.where(q_group >= 0, sizes[q_group], 0)
    own_bounds = np.zeros(num_query + 1, dtype=np.int64)
    np.cumsum(own_sizes, out=own_bounds[1:])
    pair_query = np.repeat(np.arange(num_query), own_sizes)
    pair_column = by_identity[np.repeat(starts[q_group] - own_bounds[:-1], own_sizes)
                              + np.arange(own_bounds[-1])]
    pair_kept = g_cams[pair_column] != q_cams[pair_query]
    # For the k-th kept pair of a query (0-based), its column: kept pairs in gallery order.
    kept_query, kept_column = pair_query[pair_kept], pair_column[pair_kept]
    num_kept = np.bincount(kept_query, minlength=num_query)
    kept_bounds = np.cumsum(num_kept) - num_kept
    valid = num_kept > 0
    valid_count = int(valid.sum())
    if valid_count == 0:
        raise _no_valid_query()

    blocks = [(start, min(num_query, start + chunk_size)) for start in range(0, num_query, chunk_size)]
    streams = [draw_uniforms(seed, repeat, num_ids, [stop - start for start, stop in blocks])
               for repeat in range(repeats)]
    hits = np.zeros(max_rank, dtype=np.int64)  # first matches at each 0-based rank
    for start, stop in blocks:
        rows = np.arange(start, stop)[valid[start:stop]]
        local = rows - start
        dist = distmat[rows]
        own = q_group[rows]
        for stream in streams:
            uniforms = next(stream)[local]                                      # (rows, ids)
            chosen = by_identity[starts + (uniforms * sizes).astype(np.int64)]  # one per id
            pick = kept_bounds[rows] + (uniforms[np.arange(len(rows)), own] * num_kept[rows]).astype(np.int64)
            true_column = kept_column[pick]
            chosen[np.arange(len(rows)), own] = true_column
            d_chosen = np.take_along_axis(dist, chosen, axis=1)
            d_true = dist[np.arange(len(rows)), true_column][:, None]
            closer = (d_chosen < d_true) | ((d_chosen == d_true) & (chosen < true_column[:, None]))
            rank = closer.sum(axis=1)                                           # 0-based first match
            hits += np.bincount(np.minimum(rank, max_rank), minlength=max_rank + 1)[:max_rank]
    return np.cumsum(hits) / (repeats * valid_count), valid_count


def single_shot_cmc_reference(distmat, q_pids, g_pids, q_cams, g_cams, repeats: int = DEFAULT_REPEATS,
                              max_rank: int = 50, seed: int = 0) -> tuple[np.ndarray, int]:
    """torchreid's ``eval_cuhk03`` CMC loop, query by query, on the same draws (for tests)."""
    distmat, q_pids, g_pids, q_cams, g_cams = _inputs(distmat, q_pids, g_pids, q_cams, g_cams)
    num_query, num_gallery = distmat.shape
    identities = {pid: index for index, pid in enumerate(sorted(set(g_pids.tolist())))}
    uniforms = [next(draw_uniforms(seed, repeat, len(identities), [num_query]))
                for repeat in range(repeats)]
    all_cmc = []
    for q in range(num_query):
        order = np.argsort(distmat[q], kind="stable")
        keep = [int(j) for j in order if not (g_pids[j] == q_pids[q] and g_cams[j] == q_cams[q])]
        raw = np.array([g_pids[j] == q_pids[q] for j in keep], dtype=np.int64)
        if not raw.any():
            continue
        remaining: dict[int, list[int]] = {}
        for j in sorted(keep):  # each identity's remaining images in gallery order
            remaining.setdefault(int(g_pids[j]), []).append(int(j))
        cmc = np.zeros(max_rank)
        for repeat in range(repeats):
            chosen = {images[int(uniforms[repeat][q, identities[pid]] * len(images))]
                      for pid, images in remaining.items()}
            masked = np.array([raw[i] for i, j in enumerate(keep) if j in chosen])
            curve = np.minimum(masked.cumsum(), 1)[:max_rank]
            curve = np.concatenate([curve, np.ones(max_rank - len(curve))]) if len(curve) < max_rank else curve
            cmc += curve
        all_cmc.append(cmc / repeats)
    if not all_cmc:
        raise _no_valid_query()
    return np.mean(all_cmc, axis=0), len(all_cmc)


def _no_valid_query() -> ValueError:
    from dmlrepro.errors import UserError

    return UserError("no query has a gallery image of its identity from another camera, so the "
                     "CUHK03 single-gallery-shot CMC is undefined; check the CUHK03 split")


def _inputs(distmat, q_pids, g_pids, q_cams, g_cams):
    distmat = np.asarray(distmat)
    if not np.issubdtype(distmat.dtype, np.floating):
        distmat = distmat.astype(np.float64)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be 2-D (num_query, num_gallery); got shape {distmat.shape}")
    if distmat.size and np.isnan(distmat.min()):
        raise ValueError("distmat contains NaN; NaN distances have no rank")
    ids = [np.asarray(v).astype(np.int64, copy=False) for v in (q_pids, g_pids, q_cams, g_cams)]
    for name, array, expected in zip(("q_pids", "g_pids", "q_cams", "g_cams"), ids,
                                     (distmat.shape[0], distmat.shape[1]) * 2):
        if array.shape != (expected,):
            raise ValueError(f"{name} must have shape ({expected},) to match distmat "
                             f"{distmat.shape}; got {array.shape}")
    return (distmat, *ids)
