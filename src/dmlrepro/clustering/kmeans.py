"""k-means for Divide and Conquer's data partition (004_82c542c12fef7e00.txt, §1: "we update the data
partitioning by re-clustering every T epochs using the full embedding space").

Two backends with one contract (``KMEANS_BACKENDS``):

* ``faiss`` (default; SOP's 59,551 training images in seconds): ``faiss.Clustering`` with an exact
  ``IndexFlatL2``, configured as the public code's ``lib/faissext.py`` does: 100 Lloyd iterations, one
  run (its ``nredo=5`` never reaches ``train_kmeans``), no sub-sampling of the training set
  (``max_points_per_centroid = 10^7``), faiss's random initialisation (k distinct training points
  drawn with ``seed``; faiss's default seed 1234, which the code never changes).  The labels are then
  the nearest final centroid of each point (the code's ``compute_cluster_assignment``).
* ``numpy``: plain Lloyd iterations in float64, the slow reference the tests hold ``faiss`` to.  Given
  the same initial centroids the two agree: same labels on separated data, same objective within
  float32 rounding.  Its own random initialisation draws k distinct points with
  ``numpy.random.default_rng(seed)``, which is not faiss's draw.

One Lloyd iteration (both backends): assign every point to its nearest centroid (squared L2; ties to
the lower centroid index), then move every centroid to the mean of its points.  A centroid left
without points is handled as faiss does in spirit, by splitting a large cluster: faiss copies the
centroid of a cluster drawn with probability ∝ its size and perturbs both copies by ±1/1024; the numpy
path moves it onto the point farthest from its centroid (deterministic).  Both count it
(``empty_splits``; faiss reports it only in its verbose log, so ``faiss`` gives -1 there).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from dmlrepro.errors import UserError

KMEANS_BACKENDS: Final[tuple[str, ...]] = ("faiss", "numpy")
#: The public code's k-means settings (lib/clustering.py, lib/faissext.py).
CODE_NITER: Final[int] = 100
FAISS_DEFAULT_SEED: Final[int] = 1234
_NO_SUBSAMPLING: Final[int] = 10_000_000


@dataclass(frozen=True, eq=False)
class KMeansResult:
    """``labels``: int64 cluster of each point; ``centroids``: ``(k, dim)`` float64;
    ``objective``: sum of squared distances of the points to their centroid (float64, from
    ``labels`` and ``centroids``); ``empty_splits``: empty clusters re-seeded during the run (-1 when
    the backend does not report it)."""

    labels: np.ndarray
    centroids: np.ndarray
    objective: float
    backend: str
    niter: int
    seed: int
    empty_splits: int

    def sizes(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.centroids))


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_points(x: Any, k: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise UserError(f"k-means needs a non-empty (points x dimensions) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise UserError(f"k-means needs real-valued features, got {x.dtype}")
    if not np.isfinite(x).all():
        raise UserError("k-means features contain NaN or inf: the model diverged; resume from an earlier checkpoint")
    if x.shape[0] < k:
        raise UserError(f"k-means into {k} clusters needs at least {k} points, got {x.shape[0]}; use fewer learners")
    return x


def squared_distances(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """``(n, k)`` squared L2 distances in float64, as ``‖x‖² + ‖c‖² − 2 x·c`` clipped at 0."""
    x = np.asarray(x, dtype=np.float64)
    c = np.asarray(centroids, dtype=np.float64)
    d = (x * x).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * x @ c.T
    return np.maximum(d, 0.0)


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid of every point (ties to the lower index), int64."""
    return squared_distances(x, centroids).argmin(1).astype(np.int64)


def kmeans_objective(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> float:
    """Sum over points of the squared L2 distance to their centroid, float64."""
    diff = np.asarray(x, dtype=np.float64) - np.asarray(centroids, dtype=np.float64)[labels]
    return float((diff * diff).sum())


def kmeans(
    x: Any,
    k: int,
    *,
    niter: int = CODE_NITER,
    seed: int = FAISS_DEFAULT_SEED,
    init: Any = None,
    backend: str = "faiss",
) -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` clusters (module docstring for the two backends).

    Args:
        x: ``(n, dim)`` features (any real dtype; faiss computes in float32).
        k: number of clusters (the number of learners K).
        niter: Lloyd iterations (100, the code's).
        seed: seed of the random initialisation (faiss's default 1234, as in the code).
        init: optional ``(k, dim)`` initial centroids (then ``seed`` is unused).
        backend: ``faiss`` or ``numpy``.
    """
    k = _check_int(k, "number of clusters k", 1)
    niter = _check_int(niter, "niter", 1)
    seed = _check_int(seed, "k-means seed", 0)
    if backend not in KMEANS_BACKENDS:
        raise UserError(f"unknown k-means backend {backend!r}; valid: {', '.join(KMEANS_BACKENDS)}")
    x = _check_points(x, k)
    if init is not None:
        init = np.asarray(init, dtype=np.float64)
        if init.shape != (k, x.shape[1]) or not np.isfinite(init).all():
            raise UserError(f"initial centroids must be a finite ({k}, {x.shape[1]}) array, got shape {init.shape}")
    if backend == "faiss":
        centroids, splits = _faiss_lloyd(x, k, niter, seed, init)
        labels = _faiss_assign(x, centroids)
    else:
        centroids, splits = _numpy_lloyd(x, k, niter, seed, init)
        labels = assign(x, centroids)
    return KMeansResult(
        labels=labels,
        centroids=centroids,
        objective=kmeans_objective(x, labels, centroids),
        backend=backend,
        niter=niter,
        seed=seed,
        empty_splits=splits,
    )


def _faiss_lloyd(x: np.ndarray, k: int, niter: int, seed: int, init: np.ndarray | None) -> tuple[np.ndarray, int]:
    import faiss

    data = np.ascontiguousarray(x, dtype=np.float32)
    dim = data.shape[1]
    clustering = faiss.Clustering(dim, k)
    clustering.niter = niter
    clustering.nredo = 1
    clustering.seed = seed
    clustering.verbose = False
    clustering.max_points_per_centroid = _NO_SUBSAMPLING
    clustering.min_points_per_centroid = 1  # faiss only warns below 39 points per centroid
    if init is not None:
        faiss.copy_array_to_vector(np.ascontiguousarray(init, dtype=np.float32).ravel(), clustering.centroids)
    index = faiss.IndexFlatL2(dim)
    clustering.train(data, index)
    centroids = faiss.vector_to_array(clustering.centroids).reshape(k, dim).astype(np.float64)
    return centroids, -1


def _faiss_assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    _, labels = index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return labels.ravel().astype(np.int64)


def _numpy_lloyd(x: np.ndarray, k: int, niter: int, seed: int, init: np.ndarray | None) -> tuple[np.ndarray, int]:
    data = np.asarray(x, dtype=np.float64)
    if init is None:
        rng = np.random.default_rng(seed)
        centroids = data[rng.choice(len(data), size=k, replace=False)].copy()
    else:
        centroids = init.copy()
    splits = 0
    for _ in range(niter):
        distances = squared_distances(data, centroids)
        labels = distances.argmin(1)
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, data)
        nonempty = counts > 0
        centroids[nonempty] = sums[nonempty] / counts[nonempty, None]
        for c in np.flatnonzero(~nonempty):
            # Re-seed on the point farthest from its own centroid (a point of a large, spread cluster).
            own = distances[np.arange(len(data)), labels]
            far = int(own.argmax())
            centroids[c] = data[far]
            distances[far] = 0.0
            labels[far] = c
            splits += 1
    return centroids, splits
