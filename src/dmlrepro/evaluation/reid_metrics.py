"""Market-1501 single-query re-ID evaluation (CMC and mAP), vectorised.

Protocol: Zheng et al., "Scalable Person Re-identification: A Benchmark", ICCV 2015 (the
Market-1501 single-query protocol), in the form implemented by torchreid's ``eval_market1501``
(KaiyangZhou/deep-person-reid, ``torchreid/metrics/rank.py``). A slow loop-per-query version of the
same protocol lives in :mod:`dmlrepro.evaluation.reid_metrics_reference`; the tests hold the two
equal.

Conventions (identical in both implementations)
-----------------------------------------------
1. Ranking: each query's gallery is sorted by ascending distance with a *stable* sort, so tied
   distances keep gallery-index order (``np.argsort(..., kind="stable")``). torchreid uses numpy's
   default quicksort, whose tie order is unspecified; with no ties the two agree.
2. Removal: for each query, gallery items with the same pid AND the same camera id are removed, and
   so are gallery items with pid ``JUNK_PID`` (-1). torchreid instead drops pid -1 images when the
   dataset is loaded; the result is the same. pid 0 (Market "distractors") is an ordinary
   non-matching identity.
3. Matches: a remaining gallery item is a true match iff its pid equals the query pid.
4. Queries with no true match left are skipped; CMC and mAP are averaged over the valid queries
   only. If no query is valid, ``ValueError`` is raised (torchreid asserts).
5. CMC: per query, the cumulative sum of the match vector clipped at 1, i.e. ``cmc[k-1] = 1`` iff
   the first true match is at rank ``<= k`` in the list after removal.
6. AP: ``sum_k precision@k * rel_k / num_rel`` over the list after removal (non-interpolated;
   torchreid's AP, not the trapezoid AP of the official MATLAB code / layumi's evaluate_gpu.py).
7. ``max_rank`` larger than a query's list (small galleries): ``cmc`` always has ``max_rank``
   entries; ranks past the end of a query's list count as found (every valid query has found its
   match by the end of its list), so the mean CMC is padded with its last value, 1.0. torchreid
   shrinks ``max_rank`` to the gallery size instead; the first ``min(max_rank, num_gallery)``
   entries are identical.

Distances may be any real dtype (integers are converted to float64). NaN is rejected; ``+inf``
is allowed and ranks last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np

JUNK_PID: Final[int] = -1

# Sort key of items that must rank after every real distance (+inf maps to 0xFF800000).
_LAST_KEY: Final[int] = 0xFFFFFFFF

# Distances (queries x gallery) sorted per block, at least one query: the sorted copy of a block is
# 1 MB of float32. (Blocks of 2**21 elements spent ~30% of a Market-sized run in page faults on a
# 2-core VM with the previous, packed-key implementation.) Also bounds the tie-break temporaries.
_BLOCK_ELEMENTS: Final[int] = 1 << 18


@dataclass(frozen=True, eq=False)
class ReIDMetrics:
    """Result of a re-ID evaluation. Fractions in ``[0, 1]``; see :meth:`as_percent_dict`.

    Attributes:
        cmc: mean CMC curve, length ``max_rank``; ``cmc[k-1]`` is the rank-k accuracy.
        mAP: mean average precision over the valid queries.
        num_valid_queries: queries with at least one true match after removal.
        num_queries: all queries, valid or not.
    """

    cmc: np.ndarray
    mAP: float
    num_valid_queries: int
    num_queries: int

    def __post_init__(self) -> None:
        # A frozen result should not be editable through its array either.
        cmc = np.array(self.cmc, dtype=np.float64)
        cmc.setflags(write=False)
        object.__setattr__(self, "cmc", cmc)
        object.__setattr__(self, "mAP", float(self.mAP))

    @property
    def max_rank(self) -> int:
        return int(self.cmc.shape[0])

    def rank(self, k: int) -> float:
        """Rank-k accuracy (fraction of valid queries whose first true match is in the top k)."""
        if not 1 <= k <= self.max_rank:
            raise ValueError(f"rank k must be in 1..{self.max_rank} (max_rank); got {k}")
        return float(self.cmc[k - 1])

    def as_percent_dict(self, ranks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
        """``{"rank1": ..., "rank5": ..., "rank10": ..., "map": ...}`` in percent (as papers
        report them)."""
        out = {f"rank{k}": 100.0 * self.rank(k) for k in ranks}
        out["map"] = 100.0 * self.mAP
        return out


def evaluate_market1501(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    max_rank: int = 50,
    *,
    chunk_size: int | None = None,
) -> ReIDMetrics:
    """CMC and mAP under the Market-1501 single-query protocol (conventions: module docstring).

    Args:
        distmat: ``(num_query, num_gallery)`` distances (numpy array or torch tensor); smaller
            is more similar.
        q_pids, g_pids: integer person ids; ``JUNK_PID`` (-1) in the gallery is ignored.
        q_camids, g_camids: integer camera ids.
        max_rank: length of the returned CMC curve.
        chunk_size: queries ranked at once; ``None`` picks it so that a block holds about 256k
            distances. Only memory and speed depend on it, never the result.
    """
    inputs = prepare_reid_inputs(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    num_query, num_gallery = inputs.distmat.shape
    if num_query == 0 or num_gallery == 0:
        raise no_valid_query_error(num_query, num_gallery)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size!r}")

    pairs = true_match_ranks(inputs, chunk_size=chunk_size)
    first_ranks = np.zeros(num_query, dtype=np.int64)
    first_ranks[pairs.query[pairs.match_index == 1]] = pairs.rank[pairs.match_index == 1]
    valid = first_ranks > 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise no_valid_query_error(num_query, num_gallery)
    # AP of a query: the mean over its true matches of (matches so far) / rank (convention 6).
    precision_sums = np.bincount(pairs.query, weights=pairs.match_index / pairs.rank,
                                 minlength=num_query)
    num_relevant = np.bincount(pairs.query, minlength=num_query)
    average_precisions = precision_sums[valid] / num_relevant[valid]
    # cmc[k-1] = share of valid queries whose first match is at rank <= k. A first match is
    # never past the end of its list, so ranks beyond every list come out as 1.0 (convention 7).
    first_match_counts = np.bincount(np.minimum(first_ranks[valid], max_rank + 1) - 1,
                                     minlength=max_rank + 1)
    cmc = np.cumsum(first_match_counts[:max_rank]) / num_valid
    return ReIDMetrics(cmc=cmc, mAP=float(np.mean(average_precisions)),
                       num_valid_queries=num_valid, num_queries=num_query)


class MatchRanks(NamedTuple):
    """Every true match of every query, grouped by query and in rank order within a query.

    ``query``: the query's row; ``rank``: the match's 1-based rank in the query's list after
    removal (convention 2); ``match_index``: 1 for the query's first match, 2 for its second...
    """

    query: np.ndarray
    rank: np.ndarray
    match_index: np.ndarray


def true_match_ranks(inputs: ReIDInputs, chunk_size: int | None = None) -> MatchRanks:
    """Ranks of the true matches after removal, without sorting any query's match list.

    A gallery item's rank is one plus the number of kept items ordered before it by (distance,
    column) (conventions 1-2). Junk is removed for every query and otherwise only the query's
    own identity has removed items (its same-camera ones), so per query: the junk-free row of
    distances is sorted once (numpy's SIMD float sort: no argsort, no column packed into the
    key, so half the bytes of a packed 64-bit key sort); each same-identity item's position in
    it is a binary search for its distance (float comparison, so -0.0 == +0.0 and NaN is
    excluded beforehand), plus, only where that distance occurs more than once in the row, the
    tied items of lower column; its rank after removal is that position less the removed
    same-identity items ordered before it, plus one.
    """
    distmat, q_pids, g_pids, q_cams, g_cams = inputs
    num_query = distmat.shape[0]
    junk = g_pids == JUNK_PID
    kept_columns = np.flatnonzero(~junk) if junk.any() else None
    if kept_columns is not None:
        g_pids, g_cams = g_pids[kept_columns], g_cams[kept_columns]
    num_gallery = len(g_pids)
    column_index = np.arange(num_gallery)

    # Every (query, gallery item of the query's identity) pair, grouped by query.
    by_pid = np.argsort(g_pids, kind="stable")
    sorted_pids = g_pids[by_pid]
    lo = np.searchsorted(sorted_pids, q_pids, side="left")
    counts = np.searchsorted(sorted_pids, q_pids, side="right") - lo
    bounds = np.zeros(num_query + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    pair_query = np.repeat(np.arange(num_query), counts)
    pair_column = by_pid[np.repeat(lo - bounds[:-1], counts) + np.arange(bounds[-1])]
    removed = g_cams[pair_column] == q_cams[pair_query]

    position = np.empty(bounds[-1], dtype=np.int64)  # 0-based, among all non-junk items
    if chunk_size is None:
        chunk_size = max(1, _BLOCK_ELEMENTS // max(num_gallery, 1))
    for start in range(0, num_query if num_gallery else 0, chunk_size):
        stop = min(start + chunk_size, num_query)
        if bounds[stop] == bounds[start]:
            continue
        block = distmat[start:stop]
        if kept_columns is not None:
            block = block.take(kept_columns, axis=1)
        if block.dtype == np.float16:  # widened exactly, for numpy's SIMD float32 sort
            block = block.astype(np.float32)
        first, last = bounds[start], bounds[stop]
        pair_values = block[pair_query[first:last] - start, pair_column[first:last]]
        ranked = np.sort(block, axis=1)
        for row in range(stop - start):
            a, b = bounds[start + row] - first, bounds[start + row + 1] - first
            if a == b:
                continue
            wanted = pair_values[a:b]
            before = ranked[row].searchsorted(wanted, side="left")
            tied = np.flatnonzero(ranked[row].searchsorted(wanted, side="right") - before > 1)
            step = max(1, _BLOCK_ELEMENTS // max(num_gallery, 1))
            for k in range(0, len(tied), step):  # equal distances rank by column
                at = tied[k:k + step]
                columns = pair_column[first + a + at]
                before[at] += np.count_nonzero((block[row][None, :] == wanted[at][:, None])
                                               & (column_index[None, :] < columns[:, None]), axis=1)
            position[first + a:first + b] = before

    # Within each query, in position order: removed items before a match shift it up.
    order = np.argsort(pair_query * np.int64(max(num_gallery, 1)) + position, kind="stable")
    pair_query, position, removed = pair_query[order], position[order], removed[order]
    group_start = bounds[:-1][pair_query]
    removed_before = np.cumsum(removed) - removed
    removed_before -= removed_before[group_start] if len(group_start) else 0
    is_match = ~removed
    matches_so_far = np.cumsum(is_match)
    matches_so_far -= (matches_so_far - is_match)[group_start] if len(group_start) else 0
    return MatchRanks(query=pair_query[is_match],
                      rank=(position - removed_before + 1)[is_match],
                      match_index=matches_so_far[is_match])


def stable_argsort_rows(distmat: np.ndarray, last: np.ndarray | None = None) -> np.ndarray:
    """Row-wise ascending argsort; ties keep column order; columns flagged in ``last`` go after
    all the others, in column order.

    For NaN-free input equal to ``np.argsort(distmat, axis=1, kind="stable")`` when ``last`` is
    None, else to ``np.lexsort((np.where(last, 0, distmat), last), axis=1)``. It sorts
    unique packed keys ``(order key of the value, column)`` with numpy's SIMD integer sort, where
    the stable float sort is ~10x slower: any sort of unique keys gives the stable order. The
    order key is the IEEE-754 bit pattern mapped to unsigned order when the values are exactly
    float32 (float32, float16, and float64 that float32 holds exactly), and otherwise the value's
    dense rank within its row (one extra unstable argsort).
    """
    num_cols = distmat.shape[1]
    if num_cols >= _LAST_KEY:  # columns and dense ranks must fit in 32 bits below _LAST_KEY
        raise ValueError(f"at most {_LAST_KEY - 1} gallery items are supported; got {num_cols}")
    as_float32 = _exact_float32(distmat)
    value_keys = _dense_rank_keys(distmat) if as_float32 is None else _float32_keys(as_float32)
    if last is not None:
        value_keys[last] = _LAST_KEY
    keys = value_keys << np.uint64(32)
    keys |= np.arange(num_cols, dtype=np.uint64)
    keys.sort(axis=1)
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.intp)


def _exact_float32(distmat: np.ndarray) -> np.ndarray | None:
    """``distmat`` as float32 if that changes no value (hence no order and no tie), else None."""
    if distmat.dtype == np.float32:
        return distmat
    if distmat.dtype == np.float16:
        return distmat.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        narrowed = distmat.astype(np.float32)
    return narrowed if np.array_equal(narrowed, distmat) else None


def _float32_keys(distmat: np.ndarray) -> np.ndarray:
    # Adding +0.0 turns -0.0 into +0.0: they compare equal as floats but not as bit patterns.
    bits = (distmat + np.float32(0.0)).view(np.uint32)
    # IEEE-754 bits -> unsigned integers in the same order: negative floats have all bits
    # flipped, non-negative ones only the sign bit.
    flip = (bits >> np.uint32(31)) * np.uint32(0x7FFFFFFF) | np.uint32(0x80000000)
    return (bits ^ flip).astype(np.uint64)


def _dense_rank_keys(distmat: np.ndarray) -> np.ndarray:
    # Equal values get equal ranks whatever the tie order of this unstable argsort.
    order = np.argsort(distmat, axis=1)
    ranked = np.take_along_axis(distmat, order, axis=1)
    dense_ranks = np.zeros(distmat.shape, dtype=np.uint64)
    np.cumsum(ranked[:, 1:] != ranked[:, :-1], axis=1, out=dense_ranks[:, 1:])
    keys = np.empty_like(dense_ranks)
    np.put_along_axis(keys, order, dense_ranks, axis=1)
    return keys


class ReIDInputs(NamedTuple):
    distmat: np.ndarray
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_camids: np.ndarray
    g_camids: np.ndarray


def prepare_reid_inputs(
    distmat: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, max_rank: int,
) -> ReIDInputs:
    """Convert to numpy and check shapes and dtypes (shared by the fast and reference versions)."""
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive int; got {max_rank!r}")
    distmat = _to_numpy(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be 2-D (num_query, num_gallery); got shape {distmat.shape}")
    if distmat.dtype == np.bool_ or not np.issubdtype(distmat.dtype, np.number) \
            or np.issubdtype(distmat.dtype, np.complexfloating):
        raise TypeError(f"distmat must hold real numbers; got dtype {distmat.dtype}")
    if not np.issubdtype(distmat.dtype, np.floating):
        distmat = distmat.astype(np.float64)
    if distmat.size and np.isnan(distmat.min()):  # min propagates NaN; no mask array
        raise ValueError("distmat contains NaN; NaN distances have no rank")

    ids = {}
    for name, value, expected in (("q_pids", q_pids, distmat.shape[0]),
                                  ("q_camids", q_camids, distmat.shape[0]),
                                  ("g_pids", g_pids, distmat.shape[1]),
                                  ("g_camids", g_camids, distmat.shape[1])):
        array = _to_numpy(value)
        if array.shape != (expected,):
            raise ValueError(f"{name} must have shape ({expected},) to match distmat "
                             f"{distmat.shape}; got {array.shape}")
        if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"{name} must hold integers; got dtype {array.dtype}")
        ids[name] = array.astype(np.int64, copy=False)
    return ReIDInputs(distmat, ids["q_pids"], ids["g_pids"], ids["q_camids"], ids["g_camids"])


def no_valid_query_error(num_query: int, num_gallery: int) -> ValueError:
    """A data problem, not a bug: the user fixes the dataset's query/gallery split."""
    from dmlrepro.errors import UserError

    return UserError(
        f"no valid query: none of the {num_query} queries has a true match among the "
        f"{num_gallery} gallery items once same-pid-same-camera and junk (pid {JUNK_PID}) items "
        "are removed, so CMC and mAP are undefined; check the dataset's query and gallery folders"
    )


def _to_numpy(value: Any) -> np.ndarray:
    # Imported lazily so that numpy-only callers do not pay for torch.
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency of the package
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            value = value.float()
        return value.numpy()
    return np.asarray(value)
