"""Market-1501's multi-query protocol (Zheng et al., ICCV 2015; AiA-Net Table 11 "@ MQ"): a
query is represented by the mean of the features of its identity's ``gt_bbox`` images under its
camera (the official evaluation; layumi's ``evaluate_gpu.py``), then ranked against the gallery
exactly as a single query (`dmlrepro.evaluation.reid_metrics.evaluate_market1501`: same-id
same-camera gallery images and junk removed).  ``dmlrepro.data.market1501_gt_bbox`` reads the
images."""

from __future__ import annotations

import numpy as np
import torch


def multi_query_features(query_pids, query_cams, mq_features: torch.Tensor, mq_pids, mq_cams) -> torch.Tensor:
    """Each query's multi-query feature: the mean of the ``mq_features`` rows of its (pid, camera);
    a query whose (pid, camera) has no gt_bbox image is an error naming it."""
    keys = np.asarray(mq_pids, dtype=np.int64) * 1000 + np.asarray(mq_cams, dtype=np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = torch.zeros(len(unique), mq_features.shape[1], dtype=torch.float64)
    sums.index_add_(0, torch.as_tensor(inverse), mq_features.double())
    counts = torch.as_tensor(np.bincount(inverse, minlength=len(unique)), dtype=torch.float64)
    means = sums / counts[:, None]
    wanted = np.asarray(query_pids, dtype=np.int64) * 1000 + np.asarray(query_cams, dtype=np.int64)
    position = np.searchsorted(unique, wanted)
    missing = (position >= len(unique)) | (unique[np.minimum(position, len(unique) - 1)] != wanted)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"query {i} (pid {query_pids[i]}, camera {query_cams[i]}) has no gt_bbox image of its "
                         "identity under its camera; the multi-query protocol needs Market-1501's full gt_bbox/")
    return means[torch.as_tensor(position)].to(mq_features.dtype)


def multi_query_features_reference(query_pids, query_cams, mq_features, mq_pids, mq_cams) -> torch.Tensor:
    """Query by query, as the official code loops (for tests)."""
    out = []
    for pid, cam in zip(query_pids, query_cams):
        rows = [i for i, (p, c) in enumerate(zip(mq_pids, mq_cams)) if p == pid and c == cam]
        out.append(mq_features[rows].double().mean(dim=0))
    return torch.stack(out).to(mq_features.dtype)
