"""Video re-ID evaluation on MARS: tracklet features pooled from frame features, ranked under
the Market-1501 rules (002_e585b7ac4801a221.txt, Sec. 5.5, Table 13; Zheng et al., "MARS: A Video
Benchmark for Large-Scale Person Re-identification", ECCV 2016).

The paper's AiA-Net-V "only considers the spatial information in each frame ... it doesn't take
into account the modeling of the temporal attention to fuse the frame features" (Sec. 5.5; the
architecture is in the unavailable supplement). Read here as the image AiA-Net applied to every
frame, with a tracklet's feature the **mean** of its frames' features (``pooling="mean"``, what
torchreid's video engine does); ``"max"`` (element-wise maximum, the official MARS MATLAB code's
pooling) is a named variant. Which frames are pooled is the caller's choice: all of them by
default (the loader yields every frame), torchreid samples some.

Query and gallery (``MARS_GALLERIES``), both with MARS's ``query_IDX`` queries:

``official`` (default): the official evaluation ranks every query against *all* test tracklets,
    the queries included (gallery = the torchreid gallery followed by the query tracklets); the
    query itself, like every same-identity same-camera tracklet, is then removed by the
    Market-1501 rule, and the other queries of its identity in other cameras count as matches.
``torchreid``: torchreid's ``Mars`` removes the queries from the gallery (12,180 - 1,980 = 9,330
    gallery tracklets before junk removal), which drops correct matches and leaves some queries
    without any (skipped).

Ranking, same-pid-same-camera removal, junk (pid -1) and CMC/mAP are
:func:`dmlrepro.evaluation.evaluate_market1501`'s (torchreid's non-interpolated AP; the official
MATLAB code's trapezoid AP differs slightly, shared/notes/data-and-metrics.md). Distances are
:func:`dmlrepro.evaluation.pairwise_distance` (default squared Euclidean, torchreid's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import torch
from torch import Tensor

from dmlrepro.errors import UserError
from dmlrepro.evaluation.distance import pairwise_distance
from dmlrepro.evaluation.reid_metrics import ReIDMetrics, evaluate_market1501

TRACKLET_POOLINGS: Final[tuple[str, ...]] = ("mean", "max")
MARS_GALLERIES: Final[tuple[str, ...]] = ("official", "torchreid")


def flatten_tracklets(tracklets: Sequence[tuple]) -> tuple[list[str], Tensor]:
    """Every frame path of ``(frame_paths, pid, camid)`` tracklets, in order, and the index of
    each frame's tracklet (the ``frame_tracklet`` argument of :func:`pool_tracklets`)."""
    frames: list[str] = []
    owner: list[int] = []
    for index, (paths, _, _) in enumerate(tracklets):
        if isinstance(paths, str) or len(paths) == 0:
            raise UserError(f"tracklet {index} must be a non-empty sequence of frame paths, got {paths!r}")
        frames.extend(paths)
        owner.extend([index] * len(paths))
    return frames, torch.tensor(owner, dtype=torch.long)


def pool_tracklets(frame_features: Tensor, frame_tracklet: Any, num_tracklets: int,
                   pooling: str = "mean") -> Tensor:
    """(num_tracklets, dim) tracklet features: the mean (or element-wise max) of the rows of
    ``frame_features`` whose ``frame_tracklet`` entry is the tracklet's index. Every tracklet
    needs at least one frame."""
    if pooling not in TRACKLET_POOLINGS:
        raise UserError(f"unknown tracklet pooling {pooling!r}; valid: {', '.join(TRACKLET_POOLINGS)}")
    if not isinstance(frame_features, Tensor) or frame_features.ndim != 2 or \
            not frame_features.is_floating_point():
        raise UserError("frame_features must be a (num_frames, dim) float tensor")
    owner = torch.as_tensor(frame_tracklet, device=frame_features.device)
    if owner.shape != (frame_features.shape[0],) or owner.is_floating_point() or owner.dtype == torch.bool:
        raise UserError(f"frame_tracklet must be one integer tracklet index per frame "
                        f"({frame_features.shape[0]} frames), got shape {tuple(owner.shape)}")
    owner = owner.long()
    if len(owner) and (int(owner.min()) < 0 or int(owner.max()) >= num_tracklets):
        raise UserError(f"frame_tracklet holds indices {int(owner.min())}..{int(owner.max())}, "
                        f"outside 0..{num_tracklets - 1}")
    counts = torch.bincount(owner, minlength=num_tracklets)
    if num_tracklets < 1 or bool((counts == 0).any()):
        empty = int((counts == 0).nonzero()[0]) if num_tracklets >= 1 else 0
        raise UserError(f"tracklet {empty} has no frame features; every tracklet needs one or more")
    dim = frame_features.shape[1]
    if pooling == "mean":
        sums = frame_features.new_zeros(num_tracklets, dim).index_add_(0, owner, frame_features)
        return sums / counts.to(frame_features.dtype)[:, None]
    out = frame_features.new_full((num_tracklets, dim), float("-inf"))
    return out.scatter_reduce_(0, owner[:, None].expand(-1, dim), frame_features, reduce="amax")


def evaluate_video_reid(
    query_frames: Tensor,
    query_frame_tracklet: Any,
    q_pids: Any,
    q_camids: Any,
    gallery_frames: Tensor,
    gallery_frame_tracklet: Any,
    g_pids: Any,
    g_camids: Any,
    *,
    gallery: str = "official",
    pooling: str = "mean",
    metric: str = "sqeuclidean",
    max_rank: int = 50,
) -> ReIDMetrics:
    """CMC and mAP of query tracklets against gallery tracklets from their frame features.

    Args:
        query_frames, gallery_frames: (frames, dim) features of every frame used.
        query_frame_tracklet, gallery_frame_tracklet: per frame, the index of its tracklet in
            ``q_pids``/``g_pids`` (:func:`flatten_tracklets` gives it).
        q_pids, q_camids, g_pids, g_camids: one entry per tracklet.
        gallery: ``official`` (queries also in the gallery) or ``torchreid`` (module docstring).
        pooling: ``mean`` or ``max``.
        metric: a :data:`dmlrepro.evaluation.DISTANCE_METRICS` name.
        max_rank: length of the CMC curve.
    """
    if gallery not in MARS_GALLERIES:
        raise UserError(f"unknown MARS gallery protocol {gallery!r}; valid: {', '.join(MARS_GALLERIES)}")
    q_pids, q_camids = _ids(q_pids, "q_pids"), _ids(q_camids, "q_camids")
    g_pids, g_camids = _ids(g_pids, "g_pids"), _ids(g_camids, "g_camids")
    if len(q_pids) != len(q_camids) or len(g_pids) != len(g_camids):
        raise UserError("every tracklet needs one pid and one camid")
    query = pool_tracklets(query_frames, query_frame_tracklet, len(q_pids), pooling)
    ranked = pool_tracklets(gallery_frames, gallery_frame_tracklet, len(g_pids), pooling)
    if gallery == "official":
        ranked = torch.cat([ranked, query.to(ranked.dtype)])
        g_pids, g_camids = torch.cat([g_pids, q_pids]), torch.cat([g_camids, q_camids])
    distmat = pairwise_distance(query, ranked.to(query.device), metric)
    return evaluate_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)


def _ids(values: Any, name: str) -> Tensor:
    ids = torch.as_tensor(values)
    if ids.ndim != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
        raise UserError(f"{name} must be a 1-D sequence of integers")
    return ids.long().cpu()
