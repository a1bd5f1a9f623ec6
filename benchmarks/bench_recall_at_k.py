"""Recall@K at SOP scale: ours, faiss exact search and PML side by side (a script, not a test).

    python benchmarks/bench_recall_at_k.py [--images 60502] [--dim 512] [--threads N] [--seed 0]

Embeddings: random but clustered, the class sizes of Stanford Online Products' test split
(60,502 images in 11,316 classes, 2–12 images each; smaller --images scales the class count),
each image its class centre plus Gaussian noise of a per-class spread, float32. Protocol ``leave_one_out``: every image is a query
and the reference set is all the others (003_72cd4b33cee60b89.txt, Table 2: Recall@{1,10,100,1000}).

The three, on the same embeddings and the same number of threads:
  ours   ``dmlrepro.evaluation.recall_at_k`` (cosine, chunked count, no top-k);
  faiss  ``IndexFlatIP`` exact search on the L2-normalised embeddings, k = max(K) + 1, the query
         removed by index (or the last column where it is not among the k + 1), hits counted;
  PML    ``AccuracyCalculator`` (precision_at_1, and Recall@K computed from its own k-NN labels,
         k = max(K)) on the L2-normalised embeddings with its default FaissKNN (IndexFlatL2).
Times are wall clock from raw embeddings to the Recall@K values (normalisation included).
Reports the values, the number of queries whose first-positive rank disagrees between ours and
faiss, and the time ratio ours / faiss.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import faiss
import numpy as np
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

from dmlrepro.evaluation.recall_at_k import recall_at_k, recall_from_knn_labels

SOP_IMAGES, SOP_CLASSES = 60_502, 11_316


def sop_like(num_images: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    num_classes = max(2, round(num_images * SOP_CLASSES / SOP_IMAGES))
    sizes = np.clip(2 + rng.binomial(10, 0.335, num_classes), 2, 12)  # mean ~5.35, as in SOP
    while (excess := int(sizes.sum()) - num_images) != 0:  # adjust to the exact image count
        i = rng.integers(num_classes)
        step = -1 if excess > 0 else 1
        if 2 <= sizes[i] + step <= 12:
            sizes[i] += step
    labels = rng.permutation(np.repeat(np.arange(num_classes), sizes))
    centres = rng.standard_normal((num_classes, dim), dtype=np.float32)
    spread = rng.uniform(1.4, 3.4, num_classes).astype(np.float32)  # some classes hard, some easy
    x = centres[labels] + spread[labels, None] * rng.standard_normal((num_images, dim),
                                                                     dtype=np.float32)
    return x, labels


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ours(x, labels, ks):
    return recall_at_k(torch.from_numpy(x), torch.from_numpy(labels), ks=ks)


def faiss_recall(x, labels, ks):
    x = x.copy()
    faiss.normalize_L2(x)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, neighbours = index.search(x, max(ks) + 1)
    is_self = neighbours == np.arange(len(x))[:, None]
    is_self[~is_self.any(1), -1] = True  # query not returned: drop the last column instead
    neighbours = neighbours[~is_self].reshape(len(x), -1)
    counts = np.bincount(labels)
    knn_labels = labels[neighbours]
    return recall_from_knn_labels(knn_labels, labels, counts[labels] - 1, ks), knn_labels


class RecallCalculator(AccuracyCalculator):
    """PML's AccuracyCalculator plus Recall@K from its own k-NN labels and lone-query mask."""

    ks: tuple[int, ...] = ()

    def requires_knn(self):
        return super().requires_knn() + ["recall_at_ks"]

    def calculate_recall_at_ks(self, knn_labels, query_labels, not_lone_query_mask, **kwargs):
        knn = knn_labels[not_lone_query_mask].cpu().numpy()
        ql = query_labels[not_lone_query_mask].cpu().numpy()
        return recall_from_knn_labels(knn, ql, np.ones(len(ql)), self.ks)


def pml_recall(x, labels, ks):
    x = torch.nn.functional.normalize(torch.from_numpy(x), dim=1)
    calc = RecallCalculator(include=("precision_at_1", "recall_at_ks"), k=max(ks),
                            device=torch.device("cpu"))
    calc.ks = ks
    return calc.get_accuracy(x, torch.from_numpy(labels))


def rounding_gap(x: np.ndarray, labels: np.ndarray, queries: np.ndarray) -> float:
    """Largest, over ``queries``, of the float64 gap between a query's best positive and the
    negative nearest to it in similarity."""
    u = x.astype(np.float64)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    gaps = []
    for i in queries[:50]:
        s = u @ u[i]
        s[i] = -np.inf
        positive = labels == labels[i]
        positive[i] = False
        gaps.append(np.abs(s[~positive] - s[positive].max()).min())
    return float(max(gaps))


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.platform()}; {model}; os.cpu_count()={os.cpu_count()}; torch "
            f"{torch.__version__}; faiss {faiss.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=SOP_IMAGES)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pml", action="store_true", help="ours and faiss only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    ks = tuple(args.ks)

    print(f"machine: {machine()}")
    print(f"threads: {args.threads}; load average before: {os.getloadavg()}")
    x, labels = sop_like(args.images, args.dim, args.seed)
    print(f"embeddings: {x.shape[0]} x {x.shape[1]} float32, {labels.max() + 1} classes, "
          f"queries = the reference set minus self")

    t_ours, result = timed(lambda: ours(x, labels, ks))
    t_faiss, (faiss_values, knn_labels) = timed(lambda: faiss_recall(x, labels, ks))
    rows = [("ours", t_ours, result.recall), ("faiss IndexFlatIP", t_faiss, faiss_values)]
    pml = None
    if not args.skip_pml:
        t_pml, pml = timed(lambda: pml_recall(x, labels, ks))
        rows.append(("PML AccuracyCalculator", t_pml, pml["recall_at_ks"]))

    header = " ".join(f"{'R@' + str(k):>9}" for k in ks)
    print(f"\n{'':24} {header}   time (s)")
    for name, seconds, values in rows:
        cells = " ".join(f"{100 * values[k]:9.4f}" for k in ks)
        print(f"{name:24} {cells}   {seconds:8.2f}")
    if pml is not None:
        print(f"PML precision_at_1 = {100 * pml['precision_at_1']:.4f}")

    hits = knn_labels == labels[:, None]
    faiss_rank = np.where(hits.any(1), hits.argmax(1) + 1, max(ks) + 1)
    capped = np.minimum(result.first_positive_rank, max(ks) + 1)
    print(f"\nexcluded queries (no positive): {result.num_excluded}")
    differing = np.flatnonzero(capped != faiss_rank)
    print(f"queries whose first-positive rank (capped at {max(ks) + 1}) differs, ours vs faiss: "
          f"{len(differing)}")
    if len(differing):
        print(f"  float64 distance from their best positive to the nearest negative (rounding "
              f"decides the order below ~1e-6): max {rounding_gap(x, labels, differing):.2e}")
    identical = all(values == result.recall for _, _, values in rows)
    if pml is not None:
        identical = identical and pml["precision_at_1"] == result.recall[1]
    print(f"identical values: {identical}")
    print(f"time ours / faiss: {t_ours / t_faiss:.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
