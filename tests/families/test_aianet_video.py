"""AiA-Net-V (dmlrepro.families.aianet_video): MARS cells of the video task, frame-level
training through the engine, tracklet evaluation in both gallery variants."""

from __future__ import annotations

import pytest

from dmlrepro.config import resolve_scale
from dmlrepro.families.aianet_video import AiANetVideoFamily
from dmlrepro.tasks import get_task

FAMILY = AiANetVideoFamily()


def test_a_mars_cell_is_a_video_cell_of_frame_level_aianet():
    cell = FAMILY.resolve_cell({"model": "aianet_v", "attention": "gau", "stages": [2]}, "mars",
                               resolve_scale({"scale": "tiny"}), "unused", "aianet")
    assert (cell["task"], cell["family"], cell["model"]["model"]) == ("video_reid", "aianet_v", "aianet")
    assert (cell["model"]["reduction"], cell["model"]["c_prime"], cell["triplet_margin"]) == (4, 480, 1.0)
    assert FAMILY.cell_id(cell).startswith("mars-aianetv-gau-")
    assert "protocol 'gallery@x'" in FAMILY.column_problem({"dataset": "mars", "metric": "map", "protocol": "gallery@x"})


def test_a_tiny_mars_cell_trains_and_evaluates_both_galleries(tmp_path):
    task = get_task("video_reid")
    task.make_data("mars", tmp_path / "data", 0, {"train_ids": 4, "test_ids": 4})
    cell = FAMILY.resolve_cell({"model": "aianet_v", "attention": "lin", "stages": [2]}, "mars",
                               resolve_scale({"scale": "tiny"}), str(tmp_path / "data"), "aianet")
    record = FAMILY.train_cell(cell, 0, tmp_path / "out", tmp_path / "ck", threads=1, progress=False)
    metrics = record["metrics"]
    assert set(metrics["protocols"]) == {"gallery@torchreid", "pooling@max"}
    # the official gallery keeps the other queries: never fewer valid queries than torchreid's
    assert metrics["num_valid_queries"] >= metrics["protocols"]["gallery@torchreid"]["num_valid_queries"]
    assert 0 <= metrics["map"] <= 100
