"""A training job killed with SIGKILL at any point is rerun and continues from its last
checkpoint; its final metrics equal an uninterrupted run's, and no partial result is left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmlrepro.cells import resolve_reid_cell

pytestmark = pytest.mark.slow


def start(cell_json: Path, out: Path, ckpt: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "dmlrepro.cli", "train-cell", "--cell", str(cell_json), "--seed", "0",
            "--out-dir", str(out), "--checkpoint-dir", str(ckpt), "--threads", "1", "--no-progress"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert process.poll() is None, "the job ended before the kill point"
        assert time.time() < deadline, "kill point never reached"
        time.sleep(0.02)


def checkpoint_epoch(ckpt: Path) -> int:
    import torch

    try:
        return torch.load(ckpt / "last.pt", map_location="cpu", weights_only=False)["epoch"]
    except (OSError, EOFError, RuntimeError, KeyError):
        return 0


@pytest.fixture(scope="module")
def cell_file(tmp_path_factory, tiny_scale, tiny_market) -> Path:
    cell = resolve_reid_cell({"attention": "csalr", "samples": 96, "groups": 2, "stages": [1, 2, 3]},
                             "market1501", tiny_scale, str(tiny_market))
    cell["training"] = {**cell["training"], "epochs": 4, "lr_schedule": {"step": 3, "gamma": 0.1}}
    path = tmp_path_factory.mktemp("cell") / "cell.json"
    path.write_text(json.dumps(cell))
    return path


@pytest.fixture(scope="module")
def reference(cell_file, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("reference")
    assert start(cell_file, tmp / "out", tmp / "ckpt").wait(timeout=600) == 0
    return json.loads((tmp / "out" / "metrics.json").read_text())


KILL_POINTS = {
    # as soon as the process runs: before any checkpoint exists
    "at start-up": lambda out, ckpt: True,
    # mid-epoch: epoch 1's checkpoint is on disk, epoch 2 is training
    "mid-epoch 2": lambda out, ckpt: checkpoint_epoch(ckpt) >= 1,
    # after the last epoch's checkpoint: evaluating or writing model.pt / metrics.json
    "in evaluation or writing": lambda out, ckpt: checkpoint_epoch(ckpt) >= 4,
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_equals_uninterrupted(point, cell_file, reference, tmp_path):
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    process = start(cell_file, out, ckpt)
    wait_for(lambda: KILL_POINTS[point](out, ckpt), process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    metrics_file = out / "metrics.json"
    if metrics_file.exists():  # the kill came after the atomic rename: the result is complete
        json.loads(metrics_file.read_text())
    else:
        assert not list(out.glob("metrics.json*")), "a partial metrics file was left behind"
    assert start(cell_file, out, ckpt).wait(timeout=600) == 0
    rerun = json.loads(metrics_file.read_text())
    assert rerun["metrics"] == reference["metrics"]
    assert rerun["history"] == reference["history"]
