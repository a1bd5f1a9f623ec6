"""Bad input ends with one line that names the fix, a non-zero exit, and no result marked complete.
(Config values, unknown targets and a missing data_root: tests/test_plan.py and
tests/workflow/test_workflow.py.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dmlrepro.cells import resolve_reid_cell


def train_cli(cell: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    cell_json = tmp_path / "cell.json"
    cell_json.write_text(json.dumps(cell))
    args = [sys.executable, "-m", "dmlrepro.cli", "train-cell", "--cell", str(cell_json), "--seed", "0",
            "--out-dir", str(tmp_path / "out"), "--checkpoint-dir", str(tmp_path / "ckpt"),
            "--threads", "1", "--no-progress", "--log", str(tmp_path / "cell.log")]
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("dmlrepro: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def market_copy(tiny_market, tmp_path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(tiny_market, root)
    return root


def cell_for(root: Path, tiny_scale, **overrides) -> dict:
    cell = resolve_reid_cell({"attention": "none"}, "market1501", tiny_scale, str(root))
    cell["training"] = {**cell["training"], **overrides}
    return cell


def test_truncated_image_names_the_file(market_copy, tiny_scale, tmp_path):
    victim = sorted((market_copy / "market1501").rglob("bounding_box_train/*.jpg"))[0]
    victim.write_bytes(victim.read_bytes()[:200])
    line = one_error_line(train_cli(cell_for(market_copy, tiny_scale), tmp_path))
    assert victim.name in line
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_empty_query_split_names_the_folder(market_copy, tiny_scale, tmp_path):
    for image in (market_copy / "market1501").rglob("query/*.jpg"):
        image.unlink()
    line = one_error_line(train_cli(cell_for(market_copy, tiny_scale), tmp_path))
    assert "query" in line
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_wrong_layout_names_path_and_expected_layout(tmp_path, tiny_scale):
    (tmp_path / "data" / "market1501" / "images").mkdir(parents=True)
    line = one_error_line(train_cli(cell_for(tmp_path / "data", tiny_scale), tmp_path))
    assert str(tmp_path / "data") in line and "bounding_box_train" in line


def test_nan_loss_is_recorded_as_the_seeds_result_naming_epoch_and_iteration(market_copy, tiny_scale, tmp_path):
    """Not bad input: a deterministic run that diverges diverges again, so the job records it
    (training/divergence.py), says so in one line on stdout and succeeds; the tables show it."""
    cell = cell_for(market_copy, tiny_scale, grad_clip_norm=None)
    cell["training"]["optimizer"] = {**cell["training"]["optimizer"], "lr": 1e30}
    result = train_cli(cell, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert re.match(r"not computed: loss became (nan|-?inf) at epoch 1, iteration \d+", line) and "metrics.json" in line
    record = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert record["metrics"] == {} and record["diverged"]["epoch"] == 1
    assert not (tmp_path / "ckpt" / "completed.json").exists()


def test_missing_pretrained_weights_file_says_how_to_provide_them(tmp_path):
    args = [sys.executable, "-m", "dmlrepro.cli", "check-weights", "--source", str(tmp_path / "r50.pth"),
            "--out", str(tmp_path / "ok.json")]
    line = one_error_line(subprocess.run(args, capture_output=True, text=True, timeout=300))
    assert "r50.pth does not exist" in line and "state dict" in line
    assert not (tmp_path / "ok.json").exists()


def test_pretrained_weights_file_that_is_no_state_dict_says_so(tmp_path):
    weights = tmp_path / "r50.pth"
    weights.write_text("<html>a login page, not weights</html>")
    args = [sys.executable, "-m", "dmlrepro.cli", "check-weights", "--source", str(weights),
            "--out", str(tmp_path / "ok.json")]
    line = one_error_line(subprocess.run(args, capture_output=True, text=True, timeout=300))
    assert "cannot be read as a state dict" in line and "r50.pth" in line
    assert not (tmp_path / "ok.json").exists()


def test_make_data_refuses_to_replace_a_foreign_folder(tmp_path):
    foreign = tmp_path / "market1501" / "Market-1501-v15.09.15"  # where the generator would write
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("someone's data")
    args = [sys.executable, "-m", "dmlrepro.cli", "make-data", "--variant", "market1501", "--out", str(tmp_path),
            "--train-ids", "2", "--test-ids", "2"]
    line = one_error_line(subprocess.run(args, capture_output=True, text=True, timeout=300))
    assert "refusing to replace" in line and "choose another --out" in line
    assert (foreign / "mine.txt").exists()
