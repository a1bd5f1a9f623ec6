"""Image-retrieval evaluation-protocol variants from one embedding of a test set (no retraining):
where the field's codebases disagree on Recall@K and NMI (shared/notes/data-and-metrics.md,
"Metrics: the same name, different numbers").

Recall@K (a hit rate: a query is a hit at K when one of its K nearest references shares its label;
MHDML 003_72cd4b33cee60b89.txt Sec. 4, DCES 004_82c542c12fef7e00.txt Tab. S1), four ways:

* ``recall_cosine`` — the cells' own (dmlrepro.evaluation.recall_at_k): cosine on L2-normalised
  embeddings (Proxy-Anchor ``l2_norm`` + ``F.linear``), the query removed from its reference set
  *by index* (as PML does), a negative tied with the best positive does not push it down;
* ``recall_euclidean`` — Euclidean distance on the embeddings *as the model outputs them*, the
  query removed by index: PML's ``AccuracyCalculator`` with its default ``FaissKNN``
  (``IndexFlatL2``) on unnormalised embeddings.  Equal to the cosine one when the model's output
  already has unit norm; not for an embedding of K unit-norm learners concatenated (DCES);
* ``recall_drop_first`` — the Proxy-Anchor code's leave-one-out (``evaluate_cos`` /
  ``evaluate_cos_SOP``): the top 1 + K by cosine with the first column dropped *by position*, so
  an exact duplicate ranked before the query removes itself instead of the query (and the query
  then counts as its own hit).  Ties are listed in index order (the code's ``topk`` documents none);
  under ``query_gallery`` (In-Shop: queries against a separate gallery) nothing is dropped and it
  equals ``recall_cosine``;
* ``recall_pessimistic`` — cosine, by index, a negative tied with the best positive ranks before
  it (the other end of any tie order; recall_at_k ``ties="pessimistic"``).

NMI of a k-means clustering (k = number of classes) with the labels (sklearn
``normalized_mutual_info_score``, arithmetic mean), three ways: ``nmi_faiss`` PML's recipe
(``FaissKMeans(niter=20)``: ``faiss.Kmeans(d, k, niter=20)``, faiss's default seed, on the
embeddings as given); ``nmi_faiss_normalised`` the same on L2-normalised embeddings; ``nmi_sklearn``
``sklearn.cluster.KMeans(k, n_init=10, random_state=0)`` on L2-normalised embeddings.  The spread
of ``nmi_faiss`` over faiss seeds 0, 1, 2 (``nmi_faiss_seed_min`` / ``_max``) shows how much the
k-means initialisation alone moves it.
"""

from __future__ import annotations

import numpy as np
import torch

from dmlrepro.evaluation.recall_at_k import LEAVE_ONE_OUT, QUERY_GALLERY, recall_at_k

COSINE = "recall_cosine"
EUCLIDEAN = "recall_euclidean"
DROP_FIRST = "recall_drop_first"
PESSIMISTIC = "recall_pessimistic"
RECALL_VARIANTS = {
    COSINE: "Recall@K, cosine, query removed by index (PML; the cells' own)",
    EUCLIDEAN: "Recall@K, Euclidean on the unnormalised embedding, query removed by index (PML AccuracyCalculator default)",
    DROP_FIRST: "Recall@K, cosine top 1+K with the first column dropped by position (Proxy-Anchor code)",
    PESSIMISTIC: "Recall@K, cosine, a negative tied with the best positive ranks before it",
}
NMI_VARIANTS = {
    "nmi_faiss": "NMI, faiss k-means niter 20, default seed, unnormalised embedding (PML AccuracyCalculator)",
    "nmi_faiss_normalised": "NMI, faiss k-means niter 20, default seed, L2-normalised embedding",
    "nmi_sklearn": "NMI, sklearn KMeans n_init 10, random_state 0, L2-normalised embedding",
}
_CHUNK = 256
#: sklearn's KMeans (n_init 10) is not run above this many clusters (SOP's 11,316 test classes at
#: paper scale would take hours on a CPU); faiss's is.
SKLEARN_MAX_CLUSTERS = 1000


def _first_positive_ranks(scores_fn, n_queries: int, q_labels: np.ndarray, r_labels: np.ndarray,
                          exclude_self: bool) -> np.ndarray:
    """1-based rank of each query's best positive (0: no positive), a tie with it not counted
    against it, the query's own index removed when `exclude_self`."""
    ranks = np.zeros(n_queries, dtype=np.int64)
    for start in range(0, n_queries, _CHUNK):
        stop = min(start + _CHUNK, n_queries)
        scores = scores_fn(start, stop)
        rows = np.arange(stop - start)
        positive = q_labels[start:stop, None] == r_labels[None, :]
        if exclude_self:
            scores[rows, np.arange(start, stop)] = -np.inf
            positive[rows, np.arange(start, stop)] = False
        best = np.where(positive, scores, -np.inf).max(axis=1)
        has = positive.any(axis=1)
        ahead = (scores > best[:, None]).sum(axis=1)
        ranks[start:stop] = np.where(has, ahead + 1, 0)
    return ranks


def _percent(ranks: np.ndarray, ks) -> dict[str, float]:
    valid = ranks > 0
    if not valid.any():
        raise ValueError("no query has a positive in its reference set")
    return {f"recall@{k}": 100.0 * float((ranks[valid] <= k).mean()) for k in ks}


def euclidean_recall(query, q_labels, reference, r_labels, ks) -> dict[str, float]:
    """``recall_euclidean`` in percent (module docstring); `reference` None = leave one out."""
    q = np.asarray(query, dtype=np.float64)
    r = q if reference is None else np.asarray(reference, dtype=np.float64)
    r_sq = (r * r).sum(axis=1)
    q_sq = (q * q).sum(axis=1)
    r_labels = np.asarray(q_labels if reference is None else r_labels)

    def scores(start, stop):
        return -(q_sq[start:stop, None] - 2.0 * q[start:stop] @ r.T + r_sq[None, :])

    return _percent(_first_positive_ranks(scores, len(q), np.asarray(q_labels), r_labels, reference is None), ks)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def drop_first_recall(query, q_labels, ks) -> dict[str, float]:
    """``recall_drop_first`` under leave-one-out, in percent: per query the references ordered by
    cosine (ties by index), the first position dropped, a hit at K when one of the next K has the
    query's label (the query itself, when it was not the one dropped, counts).  Queries whose label
    has no other item are excluded, as in the other variants."""
    q = _unit(np.asarray(query, dtype=np.float64))
    labels = np.asarray(q_labels)
    top = max(ks) + 1
    counts = {lab: c for lab, c in zip(*np.unique(labels, return_counts=True))}
    valid = np.array([counts[lab] > 1 for lab in labels])
    hits = {k: 0 for k in ks}
    for start in range(0, len(q), _CHUNK):
        scores = q[start:start + _CHUNK] @ q.T
        for i, row in enumerate(scores):
            if not valid[start + i]:
                continue
            take = min(top, len(row))
            threshold = np.partition(row, len(row) - take)[len(row) - take]
            candidates = np.flatnonzero(row >= threshold)
            order = candidates[np.lexsort((candidates, -row[candidates]))][:take]
            match = labels[order[1:]] == labels[start + i]
            first = np.flatnonzero(match)
            for k in ks:
                hits[k] += int(len(first) > 0 and first[0] < k)
    n = int(valid.sum())
    if n == 0:
        raise ValueError("no query has a positive in its reference set")
    return {f"recall@{k}": 100.0 * hits[k] / n for k in ks}


def recall_variants(query, q_labels, reference=None, r_labels=None, ks=(1,)) -> dict[str, dict[str, float]]:
    """Every Recall@K variant (module docstring) in percent; `reference` None = leave one out."""
    protocol = LEAVE_ONE_OUT if reference is None else QUERY_GALLERY
    ks = tuple(ks)

    def ours(ties):
        result = recall_at_k(query, q_labels, reference, r_labels, ks=ks, protocol=protocol, ties=ties)
        return {f"recall@{k}": 100.0 * v for k, v in result.recall.items()}

    out = {COSINE: ours("optimistic"), EUCLIDEAN: euclidean_recall(query, q_labels, reference, r_labels, ks),
           PESSIMISTIC: ours("pessimistic")}
    out[DROP_FIRST] = dict(out[COSINE]) if reference is not None else drop_first_recall(query, q_labels, ks)
    return out


def faiss_kmeans_labels(x: np.ndarray, k: int, seed: int | None = None) -> np.ndarray:
    """PML's FaissKMeans(niter=20): faiss.Kmeans(d, k, niter=20[, seed]) trained on x, each point's
    nearest centroid."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    kwargs = {"niter": 20} if seed is None else {"niter": 20, "seed": seed}
    kmeans = faiss.Kmeans(x.shape[1], k, **kwargs)
    kmeans.train(x)
    _, idx = kmeans.index.search(x, 1)
    return idx[:, 0].astype(np.int64)


def nmi_variants(embeddings, labels) -> dict[str, float]:
    """Every NMI variant (module docstring), as a fraction in [0, 1], plus the faiss seed spread."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score as nmi

    x = np.asarray(embeddings.numpy() if isinstance(embeddings, torch.Tensor) else embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    k = len(np.unique(labels))
    unit = _unit(x.astype(np.float64)).astype(np.float32)
    seeds = [nmi(labels, faiss_kmeans_labels(x, k, seed)) for seed in (0, 1, 2)]
    out = {"nmi_faiss": float(nmi(labels, faiss_kmeans_labels(x, k))),
           "nmi_faiss_normalised": float(nmi(labels, faiss_kmeans_labels(unit, k))),
           "nmi_sklearn": None,
           "nmi_faiss_seed_min": float(min(seeds)), "nmi_faiss_seed_max": float(max(seeds)), "num_clusters": k}
    if k <= SKLEARN_MAX_CLUSTERS:
        out["nmi_sklearn"] = float(nmi(labels, KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(unit)))
    else:
        out["nmi_sklearn_skipped"] = f"{k} clusters > {SKLEARN_MAX_CLUSTERS}: sklearn KMeans not run"
    return out
