"""Recall@K for class-split image retrieval, as the deep-metric-learning field computes it.

The metric of Tables 1–3 of Multi-Head DML (003_72cd4b33cee60b89.txt, Sec. 4: Recall@{1,2,4,8} on
Cars-196 and CUB-200-2011, @{1,10,100,1000} on SOP, @{1,10,20,40} on In-Shop), in the form of
pytorch-metric-learning's ``AccuracyCalculator`` and the Proxy-Anchor code
(``tjddus9597/Proxy-Anchor-CVPR2020``, ``code/utils.py``). A slow loop-per-query version lives in
:mod:`dmlrepro.evaluation.recall_at_k_reference`; the tests hold the two equal, and both equal to
faiss ``IndexFlatIP`` exact search and to PML's ``precision_at_1``.

Definition (identical in both implementations)
----------------------------------------------
1. Similarity: cosine, i.e. the inner product of L2-normalised embeddings
   (``x / max(||x||, 1e-12)``, as ``torch.nn.functional.normalize``), as in the Proxy-Anchor
   evaluation (``l2_norm``, ``x / sqrt(sum x^2 + 1e-12)``, then ``F.linear``). ``normalize=False`` ranks by the plain inner product
   (for embeddings that are already normalised). PML's ``AccuracyCalculator`` does not normalise:
   its default ``FaissKNN`` is ``IndexFlatL2`` on whatever it is given, which ranks L2-normalised
   embeddings in the same order as cosine.
2. Protocols (``RECALL_PROTOCOLS``):
   ``leave_one_out`` (CUB-200-2011, Cars-196, SOP): every test image is a query and the reference
   set is the whole test set minus the query itself, removed *by index* (as PML does), not by
   distance: an exact duplicate of the query stays in its reference set. (The Proxy-Anchor code's
   ``evaluate_cos`` / ``evaluate_cos_SOP`` drop the first column of a top-(1+K) instead, which is
   the same unless another item ties with the query at the top.)
   ``query_gallery`` (In-Shop): queries are ranked against a separate gallery.
3. A query is a *hit at K* iff the rank of its first positive (reference item with its label) is at
   most K. Rank of the first positive = 1 + the number of reference items ranked before it.
4. Ties (``TIE_RULES``), chosen to be independent of any item order:
   ``optimistic`` (default): rank = 1 + #{reference items with similarity *strictly greater* than
   the query's best positive}; a negative tied with the best positive does not push it down. This
   is the Proxy-Anchor code's own In-Shop rule (``evaluate_cos_Inshop``: a hit at K iff fewer than
   K negatives have ``neg_sim > max(pos_sim)``).
   ``pessimistic``: rank = 1 + #{negatives with similarity >= the best positive}.
   The two differ only when a negative ties exactly with a query's best positive; with continuous
   embeddings that does not happen, with duplicated images across classes it can. Any fixed
   tie-breaking order (faiss's, ``torch.topk``'s) gives a value between the two. faiss 1.15.1 on
   CPU (observed, BLAS and non-BLAS paths alike) keeps, at the k-th place, the lowest ids among
   equal scores; ``IndexFlatIP`` then lists equal scores in *descending* id order and
   ``IndexFlatL2`` in ascending order, so with IP the first K of a ``k=1001`` search need not be
   a ``k=K`` search when ties straddle place K. PML inherits the order of its k-NN (default
   ``IndexFlatL2``) and then removes the query's own index (or the last column when the query is
   not among the ``k+1`` returned). ``torch.topk`` documents no tie order.
5. Queries whose label has no item in their reference set (a class with one test image under
   ``leave_one_out``, a query identity absent from the gallery) are excluded from the mean and
   counted (``num_excluded``), as PML excludes "lone" queries. If every query is excluded,
   ``UserError``.
6. Recall@K is ``hits / evaluated queries``, a fraction in [0, 1]. A K larger than the reference set
   is allowed: every evaluated query is then a hit.

Similarities are computed in float32 (float64 when an embedding is float64), chunked over queries
so that memory stays bounded (about 256 MB of similarities per chunk by default) at SOP scale.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import torch

from dmlrepro.errors import UserError

LEAVE_ONE_OUT: Final[str] = "leave_one_out"
QUERY_GALLERY: Final[str] = "query_gallery"
RECALL_PROTOCOLS: Final[tuple[str, ...]] = (LEAVE_ONE_OUT, QUERY_GALLERY)
TIE_RULES: Final[tuple[str, ...]] = ("optimistic", "pessimistic")

# Similarities held per chunk of queries (elements); 2**26 float32 = 256 MB.
_CHUNK_ELEMENTS: Final[int] = 1 << 26
# Largest class (in the reference set) whose members are gathered per query to find the best
# positive; above it, a label mask over the whole chunk is cheaper in memory.
_GATHER_MAX_MEMBERS: Final[int] = 256


@dataclass(frozen=True, eq=False)
class RecallAtK:
    """Result of a Recall@K evaluation (see the module docstring for the definition).

    Attributes:
        recall: ``{K: fraction of evaluated queries that are a hit at K}``, in the order asked.
        first_positive_rank: per query, the 1-based rank of its first positive under the tie rule;
            0 for an excluded query. int64, one entry per query.
        num_queries: all queries, excluded ones included.
        num_excluded: queries with no positive in their reference set (not in the mean).
        protocol: one of ``RECALL_PROTOCOLS``.
        ties: one of ``TIE_RULES``.
    """

    recall: dict[int, float]
    first_positive_rank: np.ndarray
    num_queries: int
    num_excluded: int
    protocol: str
    ties: str

    @property
    def num_evaluated(self) -> int:
        return self.num_queries - self.num_excluded

    def as_percent_dict(self) -> dict[str, float]:
        """``{"R@K": percent}``, the unit of the papers' tables."""
        return {f"R@{k}": 100.0 * value for k, value in self.recall.items()}


def check_ks(ks: Any) -> tuple[int, ...]:
    """The K values as a tuple of distinct positive ints; ``UserError`` otherwise."""
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        ks = (ks,)
    checked: list[int] = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 1:
            raise UserError(f"unknown Recall@K value {k!r}: K must be a positive integer "
                            "(e.g. ks: [1, 2, 4, 8])")
        if int(k) not in checked:
            checked.append(int(k))
    if not checked:
        raise UserError("no Recall@K values given: pass ks, e.g. [1, 2, 4, 8]")
    return tuple(checked)


def check_protocol(protocol: Any, has_reference: bool) -> str:
    """The protocol name, checked against ``RECALL_PROTOCOLS`` and against whether a separate
    reference set was given."""
    if protocol not in RECALL_PROTOCOLS:
        raise UserError(f"unknown Recall@K protocol {protocol!r}; valid protocols: "
                        f"{', '.join(RECALL_PROTOCOLS)}")
    if protocol == LEAVE_ONE_OUT and has_reference:
        raise UserError("protocol 'leave_one_out' ranks the queries against themselves: pass no "
                        "reference set, or use protocol 'query_gallery'")
    if protocol == QUERY_GALLERY and not has_reference:
        raise UserError("protocol 'query_gallery' needs a gallery: pass reference and "
                        "reference_labels")
    return protocol


def check_ties(ties: Any) -> str:
    if ties not in TIE_RULES:
        raise UserError(f"unknown tie rule {ties!r}; valid rules: {', '.join(TIE_RULES)}")
    return ties


def as_embeddings(x: Any, name: str) -> torch.Tensor:
    """A 2-D finite real tensor on the CPU (integers become float32, float16 float32)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise UserError(f"{name} must be a non-empty 2-D array (items x dimensions), got shape "
                        f"{tuple(t.shape)}")
    if t.is_complex() or t.dtype == torch.bool:
        raise UserError(f"{name} must be real-valued, got {t.dtype}")
    if t.dtype != torch.float64:
        t = t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise UserError(f"{name} contains NaN or inf: the model diverged or the features are "
                        "corrupt; re-extract them")
    return t


def as_labels(y: Any, length: int, name: str) -> torch.Tensor:
    """A 1-D int64 tensor of ``length`` labels."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).detach().cpu()
    if t.ndim != 1 or t.shape[0] != length:
        raise UserError(f"{name} must be 1-D with one label per embedding ({length}), got shape "
                        f"{tuple(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise UserError(f"{name} must be integer class labels, got {t.dtype}")
    return t.to(torch.int64)


def prepare_inputs(query: Any, query_labels: Any, reference: Any, reference_labels: Any,
                   ks: Any, protocol: Any, ties: Any):
    """Checked inputs shared by the fast and the reference implementation."""
    ks = check_ks(ks)
    protocol = check_protocol(protocol, reference is not None or reference_labels is not None)
    ties = check_ties(ties)
    q = as_embeddings(query, "query embeddings")
    ql = as_labels(query_labels, q.shape[0], "query labels")
    if protocol == LEAVE_ONE_OUT:
        r, rl = q, ql
    else:
        if reference is None or reference_labels is None:
            raise UserError("protocol 'query_gallery' needs both reference and reference_labels")
        r = as_embeddings(reference, "reference embeddings")
        rl = as_labels(reference_labels, r.shape[0], "reference labels")
        if r.shape[1] != q.shape[1]:
            raise UserError(f"query and reference embeddings differ in dimension "
                            f"({q.shape[1]} vs {r.shape[1]})")
    return q, ql, r, rl, ks, protocol, ties


def no_evaluated_query_error(num_queries: int) -> UserError:
    return UserError(f"none of the {num_queries} queries has a positive in its reference set "
                     "(every query class has a single image or is missing from the gallery); "
                     "check the test split")


def recall_from_ranks(ranks: np.ndarray, ks: tuple[int, ...], protocol: str,
                      ties: str) -> RecallAtK:
    """Aggregate per-query first-positive ranks (0 = excluded) into a ``RecallAtK``."""
    evaluated = ranks > 0
    num_evaluated = int(evaluated.sum())
    if num_evaluated == 0:
        raise no_evaluated_query_error(len(ranks))
    good = ranks[evaluated]
    recall = {k: int((good <= k).sum()) / num_evaluated for k in ks}
    return RecallAtK(recall=recall, first_positive_rank=ranks, num_queries=len(ranks),
                     num_excluded=len(ranks) - num_evaluated, protocol=protocol, ties=ties)


def recall_at_k(query: Any, query_labels: Any, reference: Any = None, reference_labels: Any = None,
                *, ks: Any, protocol: str = LEAVE_ONE_OUT, normalize: bool = True,
                ties: str = "optimistic", chunk_size: int | None = None) -> RecallAtK:
    """Recall@K of ``query`` embeddings (003_72cd4b33cee60b89.txt, Sec. 4, Tables 1–3).

    Args:
        query: (num_queries, dim) embeddings; under ``leave_one_out`` also the reference set.
        query_labels: (num_queries,) integer class labels.
        reference, reference_labels: the gallery, for ``query_gallery`` only.
        ks: the K values, positive ints.
        protocol: ``leave_one_out`` (CUB, Cars, SOP) or ``query_gallery`` (In-Shop).
        normalize: rank by cosine (True) or by the plain inner product (False).
        ties: ``optimistic`` or ``pessimistic`` (module docstring, item 4).
        chunk_size: queries per chunk; by default as many as keep ~256 MB of similarities.
    """
    q, ql, r, rl, ks, protocol, ties = prepare_inputs(query, query_labels, reference,
                                                      reference_labels, ks, protocol, ties)
    dtype = torch.float64 if torch.float64 in (q.dtype, r.dtype) else torch.float32
    q, r = q.to(dtype), r.to(dtype)
    if normalize:
        q = torch.nn.functional.normalize(q, dim=1)
        r = q if protocol == LEAVE_ONE_OUT else torch.nn.functional.normalize(r, dim=1)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // r.shape[0])
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise UserError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    ranks = first_positive_ranks(q, ql, r, rl, leave_one_out=protocol == LEAVE_ONE_OUT,
                                 optimistic=ties == "optimistic", chunk_size=chunk_size)
    return recall_from_ranks(ranks.numpy(), ks, protocol, ties)


def first_positive_ranks(q: torch.Tensor, ql: torch.Tensor, r: torch.Tensor, rl: torch.Tensor, *,
                         leave_one_out: bool, optimistic: bool, chunk_size: int) -> torch.Tensor:
    """Per query, the 1-based rank of its best positive under the tie rule (0: no positive).

    Per chunk of queries: one similarity matrix (chunk x reference), the query's own column set
    to -inf (self excluded by index), the best positive read from that same matrix (so it is
    bit-identical to the value it is compared with), and one comparison pass that counts the items
    ranked before it. No sort and no top-k: the count is exact for any K.
    """
    num_query, num_ref = q.shape[0], r.shape[0]
    order = torch.argsort(rl, stable=True)
    groups, counts = torch.unique_consecutive(rl[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.searchsorted(groups, ql).clamp_(max=len(groups) - 1)
    found = groups[slot] == ql
    num_pos = torch.where(found, counts[slot], 0) - int(leave_one_out)
    gather = int(counts.max()) <= _GATHER_MAX_MEMBERS

    ranks = torch.zeros(num_query, dtype=torch.int64)
    neg_inf = float("-inf")
    for start in range(0, num_query, chunk_size):
        stop = min(start + chunk_size, num_query)
        rows = torch.arange(stop - start)
        sims = torch.mm(q[start:stop], r.T)
        if leave_one_out:
            sims[rows, rows + start] = neg_inf
        if gather:
            # Members of each query's class, padded by repeating the last one (max is unaffected).
            g = slot[start:stop]
            j = torch.arange(int(counts.max()))
            width = counts[g][:, None]
            members = order[starts[g][:, None] + torch.minimum(j[None, :], width - 1)]
            member_sims = sims.gather(1, members)
            if not leave_one_out:
                member_sims.masked_fill_(~found[start:stop, None], neg_inf)
            best = member_sims.amax(1)
        else:
            same = ql[start:stop, None] == rl[None, :]
            best = sims.masked_fill(~same, neg_inf).amax(1)
        if optimistic:
            before = torch.count_nonzero(sims > best[:, None], dim=1)
        elif gather:
            tied_pos = ((member_sims == best[:, None]) & (j[None, :] < width)).sum(1)
            before = torch.count_nonzero(sims >= best[:, None], dim=1) - tied_pos
        else:
            before = torch.count_nonzero((sims >= best[:, None]) & ~same, dim=1)
        ranks[start:stop] = torch.where(num_pos[start:stop] > 0, before + 1, 0)
    return ranks


def recall_from_knn_labels(knn_labels: Any, query_labels: Any, num_positives: Any,
                           ks: tuple[int, ...]) -> dict[int, float]:
    """Recall@K from a k-NN search's ranked neighbour labels (self already removed), to compare
    with faiss or PML: a query with ``num_positives == 0`` is excluded; every K must be at most
    the number of neighbours listed."""
    knn_labels, query_labels = np.asarray(knn_labels), np.asarray(query_labels)
    if max(ks) > knn_labels.shape[1]:
        raise ValueError(f"K = {max(ks)} exceeds the {knn_labels.shape[1]} neighbours listed")
    evaluated = np.asarray(num_positives) > 0
    hits = knn_labels[evaluated] == query_labels[evaluated, None]
    first = np.where(hits.any(1), hits.argmax(1) + 1, knn_labels.shape[1] + 1)
    return {k: int((first <= k).sum()) / int(evaluated.sum()) for k in ks}
