"""AiA-Net's engine parts (dmlrepro.training.aianet_parts): the lr schedule, the four-term loss,
random erasing switched on by a callback, and one tiny cell through the engine."""

from __future__ import annotations

import json

import pytest
import torch
from torch.nn import functional as F

from dmlrepro.config import resolve_scale
from dmlrepro.families.aianet import AiANetFamily
from dmlrepro.losses.hard_triplet_loss import HardTripletLoss
from dmlrepro.models.aianet import AiANetOutput
from dmlrepro.training.aianet_parts import AiANetLoss, aianet_parts, learning_rate

FAMILY = AiANetFamily()


@pytest.fixture
def tiny_market(tiny_market):
    """The shared tiny Market-1501 with its gt_bbox (the multi-query protocol's images)."""
    from dmlrepro.data import build_reid_dataset
    from dmlrepro.data.market1501_gt_bbox import write_synthetic_gt_bbox

    data = build_reid_dataset("market1501", tiny_market)
    write_synthetic_gt_bbox(data.root, data.query, data.gallery)
    return tiny_market


def _cell(root, scale="tiny", **paper_cell) -> dict:
    paper_cell = {"model": "aianet", "attention": "lin", "stages": [2], **paper_cell}
    return FAMILY.resolve_cell(paper_cell, "market1501", resolve_scale({"scale": scale}), str(root), "aianet")


def test_the_lr_is_the_datasets_and_decays_by_ten_at_150_200_250():
    training = _cell("unused", scale="paper")["training"]
    assert [learning_rate(e, training, "cuhk03np") for e in (0, 149)] == [1e-3, 1e-3]
    assert learning_rate(150, training, "market1501") == pytest.approx(5e-5)
    assert learning_rate(200, training, "cuhk01") == pytest.approx(1e-5)
    assert learning_rate(249, training, "msmt17") == pytest.approx(5e-6)


def test_the_loss_is_cross_entropy_plus_triplet_on_both_branches():
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    output = AiANetOutput(logits=[torch.randn(8, 4), torch.randn(8, 4)],
                          embeddings=[torch.randn(8, 6), torch.randn(8, 6)])
    loss_fn = AiANetLoss({"triplet": 1.0, "cross_entropy": 0.5}, 1.5, {"mining": "paper", "num_negatives": 5,
                                                                        "reduction": "mean"})
    triplet = HardTripletLoss(margin=1.5)
    expected = sum(0.5 * F.cross_entropy(lg, labels) + triplet(e, labels)
                   for lg, e in zip(output.logits, output.embeddings))
    assert loss_fn(output, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss_fn.last["triplets"] == 2 * 8 * 5  # 5 triplets per anchor, both branches


def test_random_erasing_is_switched_on_from_its_epoch(tiny_market):
    cell = _cell(tiny_market)
    parts = aianet_parts(cell, torch.device("cpu"), load_pretrained=False)
    start = cell["training"]["random_erasing_from_epoch"]
    names = []
    for epoch in (start - 1, start):
        parts.callbacks[0](epoch)
        names.append([type(t).__name__ for t in parts.train_set.transform.transforms])
    assert "RandomErasing" not in names[0] and names[1][-1] == "RandomErasing"
    assert "RandomHorizontalFlip" in names[0]


def test_a_tiny_cell_trains_through_the_engine_and_records_p_and_k(tiny_market, tmp_path):
    cell = _cell(tiny_market)
    record = FAMILY.train_cell(cell, 0, tmp_path / "out", tmp_path / "ck", threads=1, progress=False)
    training = cell["training"]
    assert len(record["history"]) == training["epochs"]
    assert {"ce_a", "ce_p", "triplet_a", "triplet_p"} <= set(record["history"][0])
    assert record["sampler"] == {"P": 4, "K": 4, "mode": "identity"}
    assert set(record["metrics"]) >= {"rank1", "rank5", "rank10", "rank20", "map"}
    protocols = record["metrics"]["protocols"]
    assert protocols["single_query"]["map"] == record["metrics"]["map"]
    assert set(protocols["multi_query"]) >= {"rank1", "map"} and protocols["multi_query"]["gt_bbox_images"] > 0
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["cell"]["family"] == "aianet"
