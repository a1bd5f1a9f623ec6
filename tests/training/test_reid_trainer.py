"""The training engine on the tiny synthetic dataset: complete results, exact resume, clear failure."""

from __future__ import annotations

import json
import re

import pytest

from dmlrepro.training import engine, reid_trainer
from dmlrepro.training.reid_trainer import TrainingDiverged, train_reid_cell


def run(cell, tmp_path, name="run"):
    return train_reid_cell(cell, seed=0, out_dir=tmp_path / name, checkpoint_dir=tmp_path / f"{name}-ckpt", threads=1, progress=False)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_scale, tiny_market):
    from dmlrepro.cells import resolve_reid_cell

    cell = resolve_reid_cell({"attention": "csalr", "samples": 96, "groups": 2, "stages": [1, 2, 3]},
                             "market1501", tiny_scale, str(tiny_market))
    tmp = tmp_path_factory.mktemp("train")
    return cell, run(cell, tmp), tmp


def test_a_run_writes_complete_metrics_with_provenance(uninterrupted):
    cell, record, tmp = uninterrupted
    on_disk = json.loads((tmp / "run" / "metrics.json").read_text())
    assert on_disk["metrics"] == record["metrics"]
    assert set(on_disk["metrics"]) >= {"rank1", "rank5", "rank10", "map"}
    assert 0 <= on_disk["metrics"]["map"] <= 100
    assert len(on_disk["history"]) == cell["training"]["epochs"]
    provenance = on_disk["provenance"]
    assert provenance["determinism"]["use_deterministic_algorithms"] is True
    assert provenance["packages"]["torch"] and provenance["device"].startswith("cpu")
    assert (tmp / "run" / "model.pt").exists()
    assert not list((tmp / "run").glob(".*.tmp"))  # no temporary files left behind


def test_resume_after_a_crash_gives_identical_metrics(uninterrupted, tmp_path, monkeypatch):
    cell, record, _ = uninterrupted
    real_epoch = engine._train_epoch

    def crash_in_epoch_2(parts, loader, optimizer, epoch, progress):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")
        return real_epoch(parts, loader, optimizer, epoch, progress)

    monkeypatch.setattr(engine, "_train_epoch", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(cell, tmp_path, "resumed")
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    assert (tmp_path / "resumed-ckpt" / "last.pt").exists()
    monkeypatch.setattr(engine, "_train_epoch", real_epoch)
    resumed = run(cell, tmp_path, "resumed")
    assert resumed["provenance"]["resumed_from_epoch"] == 1
    assert resumed["metrics"] == record["metrics"]
    assert resumed["history"] == record["history"]


def test_pcb_rpp_runs_its_two_stage_schedule(tiny_cell, tmp_path):
    record = run(tiny_cell(model="pcb_rpp", attention="none"), tmp_path)
    assert [h["phase"] for h in record["history"]] == ["pcb", "rpp_classifier", "rpp_finetune"]


def test_a_nan_loss_is_recorded_as_the_seeds_result_without_metrics_or_weights(tiny_cell, tmp_path):
    import torch

    from dmlrepro.training.divergence import DivergedRunError, describe, require_weights

    cell = tiny_cell(attention="none")
    cell["training"]["optimizer"] = {**cell["training"]["optimizer"], "lr": 1e30}
    cell["training"]["grad_clip_norm"] = None
    record = run(cell, tmp_path)
    entry = record["diverged"]
    assert entry["epoch"] >= 1 and entry["iteration"] >= 1 and entry["loss"] in ("nan", "inf", "-inf")
    assert re.search(r"at epoch \d+, iteration \d+", entry["message"]) and entry["phase"] == "pcb"
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["metrics"] == {} and on_disk["diverged"] == entry and on_disk["provenance"]["wall_time_s"] > 0
    assert len(on_disk["history"]) == entry["epoch"] - 1  # the epochs that finished
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert "model" not in state and state["diverged"] == entry
    assert not (tmp_path / "run-ckpt" / engine.COMPLETED_NAME).exists()  # no finished weights
    assert describe(on_disk).startswith(f"seed 0 diverged at epoch {entry['epoch']}, iteration {entry['iteration']}")
    with pytest.raises(DivergedRunError, match="has no trained weights"):
        require_weights(state, tmp_path / "run" / "model.pt")
    # Deterministic: the rerun diverges at the same step.
    assert run(cell, tmp_path)["diverged"] == entry


def test_training_diverged_names_epoch_and_iteration():
    error = TrainingDiverged("loss became nan at epoch 3, iteration 2; lower the lr", epoch=3, iteration=2, loss=float("nan"))
    assert (error.epoch, error.iteration) == (3, 2) and "epoch 3, iteration 2" in str(error)
