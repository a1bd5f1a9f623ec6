"""Slow, loop-per-query reference for :func:`dmlrepro.evaluation.recall_at_k.recall_at_k`.

Same definition (003_72cd4b33cee60b89.txt, Sec. 4; see the :mod:`dmlrepro.evaluation.recall_at_k`
docstring), written to be read rather than to be fast, and by a different route: float64
throughout, Python loops, and for each query a full ranking of its reference set by Python's
``sorted`` with the tie rule written into the sort key (``optimistic``: among equal similarities,
positives first; ``pessimistic``: negatives first), then the position of the first positive in
that list. The fast version never sorts; it counts. Use it in tests: about 1 s per 10^6
query-reference pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dmlrepro.evaluation.recall_at_k import (
    LEAVE_ONE_OUT,
    RecallAtK,
    no_evaluated_query_error,
    prepare_inputs,
)


def _unit(row: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in row))
    return [v / max(norm, 1e-12) for v in row]


def recall_at_k_reference(query: Any, query_labels: Any, reference: Any = None,
                          reference_labels: Any = None, *, ks: Any,
                          protocol: str = LEAVE_ONE_OUT, normalize: bool = True,
                          ties: str = "optimistic") -> RecallAtK:
    """Reference Recall@K; same arguments and result as ``recall_at_k`` (no chunking)."""
    q, ql, r, rl, ks, protocol, ties = prepare_inputs(query, query_labels, reference,
                                                      reference_labels, ks, protocol, ties)
    queries = q.double().tolist()
    refs = r.double().tolist()
    if normalize:
        queries = [_unit(row) for row in queries]
        refs = [_unit(row) for row in refs]
    query_labels_list = ql.tolist()
    ref_labels_list = rl.tolist()
    refs_array = np.array(refs, dtype=np.float64)
    positive_first = ties == "optimistic"

    ranks: list[int] = []
    for i, (row, label) in enumerate(zip(queries, query_labels_list)):
        sims = (refs_array @ np.array(row, dtype=np.float64)).tolist()
        ranking = []
        for j, (sim, ref_label) in enumerate(zip(sims, ref_labels_list)):
            if protocol == LEAVE_ONE_OUT and j == i:
                continue  # the query itself, removed by index
            is_positive = ref_label == label
            tie_key = 0 if is_positive == positive_first else 1
            ranking.append((-sim, tie_key, is_positive))
        ranking.sort(key=lambda entry: (entry[0], entry[1]))
        rank = 0
        for position, (_, _, is_positive) in enumerate(ranking, start=1):
            if is_positive:
                rank = position
                break
        ranks.append(rank)

    evaluated = [rank for rank in ranks if rank > 0]
    if not evaluated:
        raise no_evaluated_query_error(len(ranks))
    recall = {}
    for k in ks:
        hits = 0
        for rank in evaluated:
            if rank <= k:
                hits += 1
        recall[k] = hits / len(evaluated)
    return RecallAtK(recall=recall, first_positive_rank=np.array(ranks, dtype=np.int64),
                     num_queries=len(ranks), num_excluded=len(ranks) - len(evaluated),
                     protocol=protocol, ties=ties)
