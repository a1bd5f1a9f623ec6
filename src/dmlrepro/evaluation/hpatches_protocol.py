"""The HPatches protocol of Table 8: patch verification, image matching and patch retrieval mAP
(001_5fbd5da13318fd56.txt, "Datasets": "It includes three evaluation tasks, patch verification,
patch retrieval, and image matching, which are implemented with three levels of difficulty.
Following (Xu et al. 2019), we report the average performance of all different factors").

Descriptors are given per sequence and image, ``descriptors[seq][image]`` an ``(N_seq, dim)``
array with ``image`` one of ``ref, e1..e5, h1..h5, t1..t5`` (``HPATCHES_IMAGES``); row k of every
image of a sequence is the same scene point. Distances are L2. Every AP ranks by increasing
distance with ties in input order, as the benchmark's stable sort does.

What the benchmark's Python code does (``hpatches/hpatches-benchmark``, ``python/utils/tasks.py``,
``metrics.py``, ``results.py``; read, not copied), which ``protocol="python"`` (the default) follows:

* **AP** is ``np.trapz(precision, recall)`` over the ranked list, with a first point
  (recall 0, precision 1) and precision ``max(tp, 1e-10) / max(tp + fp, 1e-10)``: each positive
  adds ``(1/P) · (precision at it + precision just before it) / 2`` — the trapezoid, not the
  non-interpolated AP. The benchmark's MATLAB code (``matlab/+bench``, VLFeat ``vl_pr``'s
  ``info.ap``) reports the non-interpolated AP ``(1/P) Σ precision at each positive``
  (``ap="step"``), which is what the HPatches article's and HardNet's bar charts show.
* **Verification**: for each noise level (easy ``e``, hard ``h``, tough ``t``) a pair
  ``(seq, image id 0..5, patch)`` × 2 reads image 0 as ``ref`` and image k as ``<noise>k``. For
  each of the intra-sequence and inter-sequence negatives, the "imbalanced" protocol ranks all
  negatives followed by the first ``int(0.2 · P)`` positives (negatives first, so they win ties)
  and reports its AP; the balanced protocol's ROC AUC (``np.trapz(tpr, fpr)``) is kept too.
  ``results.py`` prints these six APs; it forms no overall number.
* **Matching**: for each test sequence, noise level and target image 1..5, each ``ref`` patch's
  nearest neighbour among the target's patches; a match is correct when it is the same row. AP
  ranks the nearest-neighbour distances with P = the number of ``ref`` patches (wrong matches are
  negatives, and the correct ones never retrieved count in P). ``results.py`` averages over
  sequences and targets per noise level, then over the three levels.
* **Retrieval**: a query is a ``ref`` patch; its 5 positives are the same patch in
  ``<noise>1..5`` of its sequence; the distractors are ``ref`` patches of the distractor list
  whose sequence is not the query's, in list order. For a pool size k the list is the 5
  positives followed by the first k − 5 distractors (positives first, so they win ties), and the
  AP of that list is averaged over queries; pool sizes 100, 500, 1000, 5000, 10000, 15000, 20000.
  ``results.py`` prints a noise × pool-size table and its mean over noise levels.

"The average of all factors" (``HPatchesResult``), as we form it:

* verification = the mean of the six imbalanced APs ({e, h, t} × {inter, intra});
* matching = ``matching_average="sequences"`` (Python ``results.py``): mean over {e, h, t} of the
  mean over sequences and targets; ``"categories"`` (the article's ``res_article.m``): mean over
  the six groups {e, h, t} × {illumination ``i_*``, viewpoint ``v_*``} of the mean within a group;
* retrieval = the mean over {e, h, t} and all pool sizes of the mAP over queries.

``protocol="matlab_article"`` sets ``ap="step"``, ``matching_average="categories"`` and a single
pool of all distractors (the article's retrieval figure; its MATLAB code ignores same-sequence
distractors, which gives the same ranking as removing them). Which sequences are the test set
(split ``a``/``b``/``c``/``illum``/``view``/``full``) is decided by the task lists the caller passes;
see ``dmlrepro.data.patches.hpatches``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import torch

from dmlrepro.errors import UserError

NOISE_LEVELS: Final[tuple[str, ...]] = ("e", "h", "t")
TARGETS: Final[tuple[int, ...]] = (1, 2, 3, 4, 5)
HPATCHES_IMAGES: Final[tuple[str, ...]] = ("ref",) + tuple(f"{n}{i}" for n in NOISE_LEVELS for i in TARGETS)
AP_KINDS: Final[tuple[str, ...]] = ("trapezoid", "step")
MATCHING_AVERAGES: Final[tuple[str, ...]] = ("sequences", "categories")
RETRIEVAL_POOL_SIZES: Final[tuple[int, ...]] = (100, 500, 1000, 5000, 10000, 15000, 20000)
#: Fraction of the positives the imbalanced verification protocol keeps (0.2 M against 1 M).
IMBALANCED_POSITIVE_FRACTION: Final[float] = 0.2
#: ``protocol`` presets: the benchmark's Python code and the HPatches article's MATLAB figures.
HPATCHES_PROTOCOLS: Final[dict[str, dict]] = {
    "python": {"ap": "trapezoid", "matching_average": "sequences", "pool_sizes": RETRIEVAL_POOL_SIZES},
    "matlab_article": {"ap": "step", "matching_average": "categories", "pool_sizes": None},
}
_SMALL: Final[float] = 1e-10

Descriptors = Mapping[str, Mapping[str, np.ndarray]]


# ---------------------------------------------------------------------------------------------
# Task definitions (the benchmark's csv files, or generated: dmlrepro.data.patches.hpatches).


@dataclass(frozen=True)
class PatchPairs:
    """Pairs of patches ``(seq1, image1, idx1)``–``(seq2, image2, idx2)``; images are ids 0..5
    (0 = ``ref``), one row per pair, as in ``verif_*_split-X.csv`` (``s1,t1,idx1,s2,t2,idx2``)."""

    seq1: tuple[str, ...]
    image1: np.ndarray
    idx1: np.ndarray
    seq2: tuple[str, ...]
    image2: np.ndarray
    idx2: np.ndarray

    def __len__(self) -> int:
        return len(self.seq1)


@dataclass(frozen=True)
class VerificationTask:
    positives: PatchPairs
    intra: PatchPairs
    inter: PatchPairs


@dataclass(frozen=True)
class RetrievalTask:
    """Queries and distractors, each ``(seq, idx)`` of a ``ref`` patch, as in
    ``retr_queries_split-X.csv`` and ``retr_distractors_split-X.csv``."""

    query_seq: tuple[str, ...]
    query_idx: np.ndarray
    distractor_seq: tuple[str, ...]
    distractor_idx: np.ndarray


# ---------------------------------------------------------------------------------------------
# Average precision.


def _check_kind(ap: str) -> None:
    if ap not in AP_KINDS:
        raise UserError(f"ap: {ap!r} is not one of {', '.join(AP_KINDS)}")


def ap_from_ranks(ranks, numpos: int, ap: str = "trapezoid") -> np.ndarray | float:
    """AP from the 1-based ranks of the retrieved positives, increasing along the last axis, with
    ``numpos`` positives in all (those never retrieved add nothing but count in the recall).

    The i-th retrieved positive at rank r has precision i / r; ``step`` averages those over
    ``numpos``; ``trapezoid`` averages ``(i / r + precision just before it) / 2``, the precision
    just before being ``max(i − 1, 1e-10) / (r − 1)``, or 1 at the top of the list (the benchmark's
    first point). A leading batch shape gives one AP per row.
    """
    _check_kind(ap)
    ranks = np.asarray(ranks, dtype=np.float64)
    i = np.arange(1, ranks.shape[-1] + 1, dtype=np.float64)
    precision = i / ranks
    if ap == "trapezoid":
        before = np.where(ranks > 1, np.maximum(i - 1, _SMALL) / np.maximum(ranks - 1, _SMALL), 1.0)
        precision = (precision + before) / 2
    result = precision.sum(axis=-1) / max(numpos, _SMALL)
    return float(result) if result.ndim == 0 else result


def average_precision(distances, labels, numpos: int | None = None, ap: str = "trapezoid") -> float:
    """AP of ranking ``distances`` upwards (ties in input order); ``labels`` 1 = positive.

    ``numpos`` (>= the positives among ``labels``) counts positives that are not in the list, as
    the benchmark's ``tpfp(..., numpos)`` does for the matching task.
    """
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    if d.shape != y.shape:
        raise UserError(f"distances ({d.size}) and labels ({y.size}) must have one entry per item")
    positives = int(y.sum())
    if numpos is None:
        numpos = positives
    elif numpos < positives:
        raise UserError(f"numpos={numpos} is smaller than the {positives} positives in the list")
    order = np.argsort(d, kind="stable")
    ranks = np.flatnonzero(y[order]) + 1
    return float(ap_from_ranks(ranks, numpos, ap))


def roc_auc(distances, labels) -> float:
    """``np.trapz(tpr, fpr)`` over the ranked list (the benchmark's ``metrics.roc``)."""
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1).astype(bool)
    ranked = y[np.argsort(d, kind="stable")]
    tp = np.concatenate([[0], np.cumsum(ranked)])
    fp = np.concatenate([[0], np.cumsum(~ranked)])
    tpr = tp / max(int(y.sum()), _SMALL)
    fpr = fp / max(int((~y).sum()), _SMALL)
    return float((np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2).sum())


# ---------------------------------------------------------------------------------------------
# Helpers.


def image_name(image_id: int, noise: str) -> str:
    """Image id 0..5 at a noise level: 0 is ``ref``, k is ``<noise>k`` (the benchmark's ``id2t``)."""
    return "ref" if image_id == 0 else f"{noise}{image_id}"


def _lookup(descriptors: Descriptors, seq: str, image: str) -> np.ndarray:
    try:
        return descriptors[seq][image]
    except KeyError:
        raise UserError(f"no descriptors for sequence {seq!r}, image {image!r}: describe every "
                        f"image {', '.join(HPATCHES_IMAGES)} of every sequence the tasks name") from None


def _sequence_codes(pairs: PatchPairs) -> tuple[list[str], np.ndarray]:
    """The sequences the pairs name and, for both ends of every pair, the index of its sequence
    (``[2 · n]``: first ends, then second ends)."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(str(seq), len(index)) for seq in (*pairs.seq1, *pairs.seq2)),
                        dtype=np.int64, count=2 * len(pairs))
    return list(index), codes


def _pair_distances(descriptors: Descriptors, pairs: PatchPairs, noise: str,
                    codes: tuple[list[str], np.ndarray] | None = None, chunk: int = 1 << 16) -> np.ndarray:
    """L2 distance of every pair at one noise level, gathered in chunks of pairs (the 1 M pairs of
    the real task never exist as one float64 copy)."""
    seqs, codes = codes if codes is not None else _sequence_codes(pairs)
    images = [image_name(t, noise) for t in range(len(TARGETS) + 1)]
    tables = [np.asarray(_lookup(descriptors, seq, image)) for seq in seqs for image in images]
    sizes = np.array([min(tables[s * len(images) + t].shape[0] for t in range(len(images))) for s in range(len(seqs))])
    num = len(pairs)
    sides = []
    for half, (image, idx) in enumerate(((pairs.image1, pairs.idx1), (pairs.image2, pairs.idx2))):
        code = codes[half * num:(half + 1) * num]
        image, idx = np.asarray(image, dtype=np.int64), np.asarray(idx, dtype=np.int64)
        if image.min() < 0 or image.max() > len(TARGETS):
            raise UserError(f"verification pairs name image id {int(image.max())}; ids are 0 (ref) to 5")
        bad = (idx < 0) | (idx >= sizes[code])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UserError(f"verification pair {row} names patch {int(idx[row])} of {seqs[code[row]]!r}, which has "
                            f"{int(sizes[code[row]])} patches: the task does not belong to these sequences")
        sides.append((code * len(images) + image, idx))
    out = np.empty(num, dtype=np.float64)
    dim = tables[0].shape[1]
    for start in range(0, num, chunk):
        rows = slice(start, min(start + chunk, num))
        ends = []
        for table_code, idx in sides:
            block = np.empty((rows.stop - rows.start, dim), dtype=np.float64)
            tc, ix = table_code[rows], idx[rows]
            order = np.argsort(tc, kind="stable")
            present, starts = np.unique(tc[order], return_index=True)
            for code, lo, hi in zip(present, starts, np.r_[starts[1:], order.size]):
                members = order[lo:hi]
                block[members] = tables[code][ix[members]]
            ends.append(block)
        diff = ends[0] - ends[1]
        out[rows] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def squared_l2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a_i − b_j|²`` in float64 by the Gram identity, clipped at 0."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


# ---------------------------------------------------------------------------------------------
# Verification.


@dataclass(frozen=True)
class VerificationResult:
    """Per (noise, negatives): imbalanced AP (``ap``) and balanced ROC AUC (``auc``)."""

    ap: dict[tuple[str, str], float]
    auc: dict[tuple[str, str], float]

    @property
    def mean_ap(self) -> float:
        return float(np.mean(list(self.ap.values())))


def evaluate_verification(descriptors: Descriptors, task: VerificationTask, ap: str = "trapezoid") -> VerificationResult:
    _check_kind(ap)
    num_pos = len(task.positives)
    for name, negatives in (("intra", task.intra), ("inter", task.inter)):
        if len(negatives) != num_pos:
            raise UserError(f"verification needs as many {name}-sequence negatives as positives "
                            f"({len(negatives)} against {num_pos}), as the benchmark's files have")
    if num_pos == 0:
        raise UserError("the verification task has no pairs")
    keep = num_pos + int(num_pos * IMBALANCED_POSITIVE_FRACTION)
    labels = np.concatenate([np.zeros(num_pos, dtype=bool), np.ones(num_pos, dtype=bool)])
    aps: dict[tuple[str, str], float] = {}
    aucs: dict[tuple[str, str], float] = {}
    codes = {name: _sequence_codes(pairs) for name, pairs in
             (("positives", task.positives), ("inter", task.inter), ("intra", task.intra))}
    for noise in NOISE_LEVELS:
        d_pos = _pair_distances(descriptors, task.positives, noise, codes["positives"])
        for negs, pairs in (("inter", task.inter), ("intra", task.intra)):
            d = np.concatenate([_pair_distances(descriptors, pairs, noise, codes[negs]), d_pos])
            aucs[(noise, negs)] = roc_auc(d, labels)
            aps[(noise, negs)] = average_precision(d[:keep], labels[:keep], ap=ap)
    return VerificationResult(aps, aucs)


# ---------------------------------------------------------------------------------------------
# Matching.


def evaluate_matching(descriptors: Descriptors, sequences: Sequence[str], ap: str = "trapezoid"
                      ) -> dict[tuple[str, str, int], float]:
    """AP of nearest-neighbour matching ``ref`` → ``<noise><i>`` per (sequence, noise, i)."""
    _check_kind(ap)
    results: dict[tuple[str, str, int], float] = {}
    for seq in sequences:
        ref = _lookup(descriptors, seq, "ref")
        rows = np.arange(ref.shape[0])
        for noise in NOISE_LEVELS:
            for i in TARGETS:
                d = squared_l2(ref, _lookup(descriptors, seq, f"{noise}{i}"))
                nearest = d.argmin(axis=1)
                nn_distance = np.sqrt(d[rows, nearest])
                results[(seq, noise, i)] = average_precision(nn_distance, nearest == rows, numpos=rows.size, ap=ap)
    return results


def summarise_matching(results: Mapping[tuple[str, str, int], float], average: str = "sequences") -> float:
    """One matching number: see the module docstring for ``sequences`` and ``categories``."""
    if average not in MATCHING_AVERAGES:
        raise UserError(f"matching_average: {average!r} is not one of {', '.join(MATCHING_AVERAGES)}")
    per_group: dict[tuple, list[float]] = {}
    for (seq, noise, _), value in results.items():
        key = (noise,) if average == "sequences" else (noise, sequence_category(seq))
        per_group.setdefault(key, []).append(value)
    return float(np.mean([np.mean(values) for values in per_group.values()]))


def sequence_category(seq: str) -> str:
    """``i`` (illumination) or ``v`` (viewpoint), from the HPatches sequence name prefix."""
    if seq[:2] not in ("i_", "v_"):
        raise UserError(f"HPatches sequence {seq!r} is neither i_* (illumination) nor v_* (viewpoint)")
    return seq[0]


# ---------------------------------------------------------------------------------------------
# Retrieval.


def evaluate_retrieval(descriptors: Descriptors, task: RetrievalTask, pool_sizes: Sequence[int] | None = RETRIEVAL_POOL_SIZES,
                       ap: str = "trapezoid", chunk_elements: int = 2**22) -> tuple[np.ndarray, tuple[int, ...]]:
    """AP per (query, noise, pool size), ``[Q, 3, K]``, and the pool sizes used (``None``: one pool
    of every distractor, the 5 positives included in its size)."""
    _check_kind(ap)
    num_queries = len(task.query_seq)
    if num_queries == 0 or len(task.distractor_seq) == 0:
        raise UserError("the retrieval task needs queries and distractors")
    pools = (len(task.distractor_seq) + len(TARGETS),) if pool_sizes is None else tuple(int(k) for k in pool_sizes)
    if not pools or min(pools) <= len(TARGETS):
        raise UserError(f"retrieval pool sizes must exceed the {len(TARGETS)} positives, got {pools}")
    queries = _gather(descriptors, task.query_seq, task.query_idx, "ref")
    distractors = _gather(descriptors, task.distractor_seq, task.distractor_idx, "ref")
    positives = np.stack([np.stack([_gather(descriptors, task.query_seq, task.query_idx, f"{noise}{i}") for i in TARGETS], 1)
                          for noise in NOISE_LEVELS], 1)  # [Q, noise, 5, dim]
    # The same Gram identity as the distractors' distances, so that a tie is a tie on both sides.
    pos_sq = (queries * queries).sum(-1)[:, None, None] + (positives * positives).sum(-1) \
        - 2.0 * np.einsum("qd,qnjd->qnj", queries, positives)
    pos_dist = np.sqrt(np.maximum(pos_sq, 0.0))  # [Q, noise, 5]
    # Positives rank among themselves by (distance, index): a stable sort.
    pos_dist = np.sort(pos_dist, axis=-1, kind="stable")
    index: dict[str, int] = {}
    query_seq = np.array([index.setdefault(str(seq), len(index)) for seq in task.query_seq])
    distractor_seq = np.array([index.setdefault(str(seq), len(index)) for seq in task.distractor_seq])
    num_d = distractors.shape[0]
    # Pools in increasing size (their distractor prefixes are nested); results in the given order.
    pool_order = np.argsort(pools, kind="stable")
    prefix = torch.as_tensor([pools[k] - len(TARGETS) for k in pool_order], dtype=torch.int64)
    num_pools, num_thresholds = len(pools), len(NOISE_LEVELS) * len(TARGETS)
    out = np.empty((num_queries, len(NOISE_LEVELS), num_pools), dtype=np.float64)
    step = max(1, chunk_elements // num_d)
    for start in range(0, num_queries, step):
        stop = min(start + step, num_queries)
        q = stop - start
        d = torch.from_numpy(np.sqrt(squared_l2(queries[start:stop], distractors)))  # [q, M]
        valid = torch.from_numpy(distractor_seq[None, :] != query_seq[start:stop, None])
        seen = valid.cumsum(dim=1)  # valid distractors in columns 0..t
        # Pool k keeps the first prefix[k] valid distractors, which end at the first column where
        # ``seen`` reaches it (the last column when fewer are valid).
        ends = torch.searchsorted(seen, prefix.expand(q, -1).contiguous()).clamp(max=num_d - 1)  # [q, K]
        # Column t is in pools k >= segment[t], i.e. those whose prefix ends at or after t.
        marks = torch.zeros(q, num_d + 1, dtype=torch.int64).scatter_add_(1, ends + 1, torch.ones_like(ends))
        segment = marks[:, :num_d].cumsum(dim=1)  # [q, M], 0..K
        # A distractor ranks above a positive when strictly closer (positives win ties), i.e.
        # above the thresholds from ``below[t]`` on, ``below[t]`` = #thresholds <= d[t].
        thresholds, where = torch.from_numpy(pos_dist[start:stop].reshape(q, num_thresholds)).sort(dim=1, stable=True)
        below = torch.searchsorted(thresholds, d, right=True)  # [q, M], 0..15
        flat = (torch.arange(q)[:, None] * (num_pools + 1) + segment) * (num_thresholds + 1) + below
        hist = torch.bincount(flat[valid], minlength=q * (num_pools + 1) * (num_thresholds + 1))
        hist = hist.view(q, num_pools + 1, num_thresholds + 1)[:, :num_pools, :num_thresholds]
        closer = hist.cumsum(dim=1).cumsum(dim=2)  # [q, K, sorted threshold]
        counts = torch.empty_like(closer)
        counts.scatter_(2, where[:, None, :].expand(-1, num_pools, -1), closer)  # back to (noise, j) order
        ranks = torch.arange(1, len(TARGETS) + 1) + counts.view(q, num_pools, len(NOISE_LEVELS), len(TARGETS))
        values = ap_from_ranks(ranks.numpy(), len(TARGETS), ap)  # [q, K, noise]
        out[start:stop][:, :, pool_order] = values.transpose(0, 2, 1)
    return out, pools


def _gather(descriptors: Descriptors, seqs: Sequence[str], idx: np.ndarray, image: str) -> np.ndarray:
    first = np.asarray(_lookup(descriptors, seqs[0], image))
    out = np.empty((len(seqs), first.shape[1]), dtype=np.float64)
    rows: dict[str, list[int]] = {}
    for row, seq in enumerate(seqs):
        rows.setdefault(seq, []).append(row)
    for seq, members in rows.items():
        table = _lookup(descriptors, seq, image)
        picked = np.asarray(idx)[members]
        if picked.size and (picked.min() < 0 or picked.max() >= table.shape[0]):
            raise UserError(f"retrieval task names patch {int(picked.max())} of {seq!r}, which has "
                            f"{table.shape[0]} patches: the task does not belong to these sequences")
        out[members] = table[picked]
    return out


# ---------------------------------------------------------------------------------------------
# All three.


@dataclass(frozen=True)
class HPatchesResult:
    """Table 8's three numbers (fractions; tables print percent) and what they average."""

    verification: float
    matching: float
    retrieval: float
    protocol: dict
    verification_ap: dict[tuple[str, str], float] = field(repr=False)
    verification_auc: dict[tuple[str, str], float] = field(repr=False)
    matching_ap: dict[tuple[str, str, int], float] = field(repr=False)
    retrieval_map: dict[tuple[str, int], float] = field(repr=False)


def evaluate_hpatches(descriptors: Descriptors, verification: VerificationTask, retrieval: RetrievalTask,
                      sequences: Sequence[str], protocol: str = "python", **overrides) -> HPatchesResult:
    """Verification, matching (on ``sequences``, the test split) and retrieval under a protocol
    preset (``HPATCHES_PROTOCOLS``), whose ``ap``, ``matching_average`` and ``pool_sizes`` may be
    overridden."""
    if protocol not in HPATCHES_PROTOCOLS:
        raise UserError(f"protocol: {protocol!r} is not one of {', '.join(HPATCHES_PROTOCOLS)}")
    settings = {**HPATCHES_PROTOCOLS[protocol], **overrides}
    unknown = sorted(set(settings) - set(HPATCHES_PROTOCOLS["python"]))
    if unknown:
        raise UserError(f"unknown HPatches setting(s) {', '.join(unknown)}; valid: ap, matching_average, pool_sizes")
    ver = evaluate_verification(descriptors, verification, ap=settings["ap"])
    matching = evaluate_matching(descriptors, sequences, ap=settings["ap"])
    retr, pools = evaluate_retrieval(descriptors, retrieval, settings["pool_sizes"], ap=settings["ap"])
    retrieval_map = {(noise, k): float(retr[:, n, j].mean()) for n, noise in enumerate(NOISE_LEVELS)
                     for j, k in enumerate(pools)}
    return HPatchesResult(
        verification=ver.mean_ap,
        matching=summarise_matching(matching, settings["matching_average"]),
        retrieval=float(np.mean(list(retrieval_map.values()))),
        protocol={"name": protocol, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()},
                  "pool_sizes_used": list(pools)},
        verification_ap=ver.ap,
        verification_auc=ver.auc,
        matching_ap=matching,
        retrieval_map=retrieval_map,
    )
