"""Which weights a training job starts from (reid_trainer.plan_start): a finished run is never
silently passed off as a new result, a checkpoint is resumed only by the code that wrote it, and
starting afresh always starts from the cell's pretrained weights."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch

from dmlrepro.training import provenance as provenance_module
from dmlrepro.training import engine, reid_trainer
from dmlrepro.training.provenance import code_version
from dmlrepro.training.reid_trainer import COMPLETED_NAME, train_reid_cell


def run(cell, out, ckpt, **kwargs):
    return train_reid_cell(cell, seed=0, out_dir=out, checkpoint_dir=ckpt, threads=1, progress=False, **kwargs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_scale, tiny_market):
    """One finished run of a tiny PCB cell: its cell, record and checkpoint folder."""
    from dmlrepro.cells import resolve_reid_cell

    cell = resolve_reid_cell({"attention": "none"}, "market1501", tiny_scale, str(tiny_market))
    tmp = tmp_path_factory.mktemp("finished")
    return cell, run(cell, tmp / "out", tmp / "ckpt"), tmp / "ckpt"


@pytest.fixture
def ckpt_copy(finished, tmp_path):
    target = tmp_path / "ckpt"
    shutil.copytree(finished[2], target)
    return target


def other_code(monkeypatch, version="0123456789abcdef"):
    """Pretend the package's source changed since the checkpoint was written."""
    monkeypatch.setattr(engine, "code_version", lambda: version)
    monkeypatch.setattr(provenance_module, "code_version", lambda: version)


def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained although the finished weights were to be reused")

    monkeypatch.setattr(engine, "_train_epoch", refuse)


def test_code_version_is_recorded_in_metrics_checkpoint_and_completion_marker(finished):
    cell, record, ckpt = finished
    assert record["provenance"]["code_version"] == code_version()
    state = torch.load(ckpt / "last.pt", map_location="cpu", weights_only=False)
    assert state["code_version"] == code_version()
    marker = json.loads((ckpt / COMPLETED_NAME).read_text())
    assert marker["code_version"] == code_version() and marker["epoch"] == cell["training"]["epochs"]
    assert marker["commit"] == record["provenance"]["commit"]
    assert record["provenance"]["start"] == "fresh" and record["provenance"]["reused_weights"] is None


def test_a_finished_run_is_retrained_from_scratch(finished, ckpt_copy, tmp_path, caplog):
    # What `snakemake --forcerun train_cell` or a deleted results/cells/... leads to.
    cell, record, _ = finished
    with caplog.at_level(logging.INFO, logger="dmlrepro.train"):
        again = run(cell, tmp_path / "out", ckpt_copy)
    assert "holds a finished run" in caplog.text and "retraining from scratch" in caplog.text
    trained = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(trained) == cell["training"]["epochs"]
    assert again["provenance"]["resumed_from_epoch"] == 0 and again["provenance"]["start"] == "fresh"
    assert again["provenance"]["reused_weights"] is None
    assert again["metrics"] == record["metrics"]  # retrained, deterministically, to the same weights


def test_reuse_weights_evaluates_the_finished_weights_and_says_whose(finished, ckpt_copy, tmp_path, monkeypatch):
    cell, record, _ = finished
    no_training(monkeypatch)
    reused = run(cell, tmp_path / "out", ckpt_copy, reuse_weights=True)
    assert reused["metrics"] == record["metrics"] and reused["history"] == record["history"]
    assert reused["provenance"]["start"] == "reuse"
    assert reused["provenance"]["reused_weights"] == {
        "code_version": code_version(), "commit": record["provenance"]["commit"], "same_code": True}


def test_reuse_after_a_code_change_records_that_the_code_differs(finished, ckpt_copy, tmp_path, monkeypatch):
    cell, record, _ = finished
    other_code(monkeypatch)
    no_training(monkeypatch)
    reused = run(cell, tmp_path / "out", ckpt_copy, reuse_weights=True)
    assert reused["provenance"]["code_version"] == "0123456789abcdef"
    assert reused["provenance"]["reused_weights"]["code_version"] == code_version()
    assert reused["provenance"]["reused_weights"]["same_code"] is False


def test_a_finished_run_of_older_code_is_retrained_without_reuse(finished, ckpt_copy, tmp_path, monkeypatch):
    cell, record, _ = finished
    other_code(monkeypatch)
    again = run(cell, tmp_path / "out", ckpt_copy)
    assert again["provenance"]["resumed_from_epoch"] == 0
    marker = json.loads((ckpt_copy / COMPLETED_NAME).read_text())
    assert marker["code_version"] == "0123456789abcdef"  # the marker now describes the new weights


def test_an_unfinished_checkpoint_of_other_code_is_not_resumed(tiny_cell, tmp_path, monkeypatch, caplog):
    cell = tiny_cell(attention="none")
    real_epoch = engine._train_epoch

    def crash_in_epoch_2(parts, loader, optimizer, epoch, progress):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")
        return real_epoch(parts, loader, optimizer, epoch, progress)

    monkeypatch.setattr(engine, "_train_epoch", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(cell, tmp_path / "out", tmp_path / "ckpt")
    monkeypatch.setattr(engine, "_train_epoch", real_epoch)
    other_code(monkeypatch)
    with caplog.at_level(logging.INFO, logger="dmlrepro.train"):
        rerun = run(cell, tmp_path / "out", tmp_path / "ckpt")
    assert "was written by code version" in caplog.text
    assert rerun["provenance"]["resumed_from_epoch"] == 0


def test_a_killed_run_of_the_same_code_resumes_even_with_reuse_weights(tiny_cell, tmp_path, monkeypatch):
    cell = tiny_cell(attention="none")
    real_epoch = engine._train_epoch

    def crash_in_epoch_2(parts, loader, optimizer, epoch, progress):
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")
        return real_epoch(parts, loader, optimizer, epoch, progress)

    monkeypatch.setattr(engine, "_train_epoch", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(cell, tmp_path / "out", tmp_path / "ckpt")
    assert not (tmp_path / "ckpt" / COMPLETED_NAME).exists()
    monkeypatch.setattr(engine, "_train_epoch", real_epoch)
    resumed = run(cell, tmp_path / "out", tmp_path / "ckpt", reuse_weights=True)
    assert resumed["provenance"]["resumed_from_epoch"] == 1 and resumed["provenance"]["reused_weights"] is None


@pytest.mark.parametrize("found", ["a checkpoint of another configuration", "a finished run"])
def test_starting_afresh_loads_the_cells_pretrained_weights(found, finished, tiny_cell, tmp_path, monkeypatch):
    weights = tmp_path / "resnet50.pth"
    loaded = []
    # The tiny backbone is no ResNet-50, so the loader itself is replaced by one that records
    # what it was asked to load; what matters is that the trainer asks.
    monkeypatch.setattr("dmlrepro.models.build.load_imagenet_weights",
                        lambda backbone, source: loaded.append(source))
    cell = tiny_cell(attention="none")
    cell["training"]["backbone"] = {**cell["training"]["backbone"], "pretrained": str(weights)}
    ckpt = tmp_path / "ckpt"
    if found == "a finished run":
        run(cell, tmp_path / "first", ckpt)
        assert loaded == [str(weights)]
        loaded.clear()
    else:
        shutil.copytree(finished[2], ckpt)  # another cell's checkpoint: a mismatching hash
    record = run(cell, tmp_path / "out", ckpt)
    assert record["provenance"]["resumed_from_epoch"] == 0
    assert loaded == [str(weights)]


def test_reusing_weights_that_no_longer_fit_the_model_is_a_user_error(finished, ckpt_copy, tmp_path, monkeypatch):
    from dmlrepro.errors import UserError

    cell, _, _ = finished
    state = torch.load(ckpt_copy / "last.pt", map_location="cpu", weights_only=False)
    state["model"]["body.backbone.conv1.weight"] = torch.zeros(1)  # as if the code changed the stem
    torch.save(state, ckpt_copy / "last.pt")
    no_training(monkeypatch)
    with pytest.raises(UserError, match="do not fit this code's model.*rerun without reuse_weights"):
        run(cell, tmp_path / "out", ckpt_copy, reuse_weights=True)
