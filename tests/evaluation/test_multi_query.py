"""Market-1501 multi-query features (dmlrepro.evaluation.multi_query): the mean of the query
identity's same-camera gt_bbox features, equal to the per-query loop."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.evaluation.multi_query import multi_query_features, multi_query_features_reference


def test_equals_the_per_query_reference():
    g = torch.Generator().manual_seed(0)
    mq_pids = torch.randint(1, 6, (40,), generator=g).tolist()
    mq_cams = torch.randint(0, 3, (40,), generator=g).tolist()
    features = torch.randn(40, 8, generator=g)
    pairs = sorted(set(zip(mq_pids, mq_cams)))
    q_pids, q_cams = [p for p, _ in pairs] * 2, [c for _, c in pairs] * 2
    fast = multi_query_features(q_pids, q_cams, features, mq_pids, mq_cams)
    slow = multi_query_features_reference(q_pids, q_cams, features, mq_pids, mq_cams)
    torch.testing.assert_close(fast, slow)
    # a pid with one image under that camera is that image
    single = next((p, c) for p, c in pairs if sum(1 for x in zip(mq_pids, mq_cams) if x == (p, c)) == 1)
    row = next(i for i, x in enumerate(zip(mq_pids, mq_cams)) if x == single)
    torch.testing.assert_close(multi_query_features([single[0]], [single[1]], features, mq_pids, mq_cams)[0], features[row])


def test_a_query_without_gt_bbox_images_is_named():
    with pytest.raises(ValueError, match="query 0 .pid 9, camera 1. has no gt_bbox image"):
        multi_query_features([9], [1], torch.zeros(2, 3), [1, 2], [1, 1])
