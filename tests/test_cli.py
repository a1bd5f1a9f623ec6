"""The command line's error rule: a UserError (the harness's own checks) is one line and exit 2;
anything else is a bug whose traceback goes to the job's log, with one line naming the log, exit 1."""

from __future__ import annotations

import json
import logging

import pytest

from dmlrepro import cli
from dmlrepro.errors import UserError


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cell_file(tmp_path):
    path = tmp_path / "cell.json"
    path.write_text(json.dumps({"task": "reid"}))
    return path


def train_args(cell_file, tmp_path, *extra):
    return ["train-cell", "--cell", str(cell_file), "--seed", "0", "--out-dir", str(tmp_path / "out"),
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--no-progress", *extra]


def fail_with(monkeypatch, exc: BaseException) -> None:
    def train_reid_cell(*args, **kwargs):
        raise exc

    monkeypatch.setattr("dmlrepro.training.reid_trainer.train_reid_cell", train_reid_cell)


@pytest.mark.parametrize("exc", [KeyError("training"), RuntimeError("shape mismatch"), ValueError("bad value"),
                                 FileNotFoundError(2, "No such file", "/tmp/x"), ZeroDivisionError("division by zero")])
def test_an_unexpected_exception_keeps_its_traceback_in_the_log(exc, monkeypatch, cell_file, tmp_path, capsys):
    fail_with(monkeypatch, exc)
    log = tmp_path / "job.log"
    assert cli.main(train_args(cell_file, tmp_path, "--log", str(log))) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dmlrepro: internal error: {type(exc).__name__}: {cli._one_line(exc)} (traceback in {log})"]
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and f"{type(exc).__name__}" in text
    assert "in train_reid_cell" in text  # the frame that raised


def test_without_a_log_file_the_traceback_goes_to_stderr(monkeypatch, cell_file, tmp_path, capsys):
    fail_with(monkeypatch, KeyError("training"))
    assert cli.main(train_args(cell_file, tmp_path)) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == "dmlrepro: internal error: KeyError: 'training' (traceback in stderr above)"


def test_a_user_error_is_one_line_and_exit_2(monkeypatch, cell_file, tmp_path, capsys):
    fail_with(monkeypatch, UserError("lower optimizer.lr in config/scales.yaml\nsecond line"))
    log = tmp_path / "job.log"
    assert cli.main(train_args(cell_file, tmp_path, "--log", str(log))) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["dmlrepro: error: lower optimizer.lr in config/scales.yaml"]
    assert "UserError: lower optimizer.lr in config/scales.yaml" in log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_missing_cell_file_is_a_user_error(tmp_path, capsys):
    assert cli.main(train_args(tmp_path / "nope.json", tmp_path)) == 2
    assert capsys.readouterr().err.strip() == (
        f"dmlrepro: error: cell file {tmp_path / 'nope.json'} does not exist; pass the cell.json the workflow "
        "wrote (results/cells/<cell>/cell.json)")


def test_reuse_weights_flag_reaches_the_trainer(monkeypatch, cell_file, tmp_path, capsys):
    seen = {}

    def train_reid_cell(*args, **kwargs):
        seen.update(kwargs)
        return {"metrics": {}}

    monkeypatch.setattr("dmlrepro.training.reid_trainer.train_reid_cell", train_reid_cell)
    assert cli.main(train_args(cell_file, tmp_path, "--reuse-weights")) == 0
    assert seen["reuse_weights"] is True
    assert cli.main(train_args(cell_file, tmp_path)) == 0
    assert seen["reuse_weights"] is False


def test_a_user_error_raised_in_a_dataloader_worker_keeps_its_message():
    # DataLoader re-raises a worker's exception as type(exc)("Caught X in DataLoader worker ...").
    from torch._utils import ExceptionWrapper

    from dmlrepro.data import CorruptImageError

    try:
        raise CorruptImageError("cannot decode image /data/x.jpg (truncated); re-extract the dataset archive")
    except CorruptImageError:
        wrapper = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(CorruptImageError) as caught:
        wrapper.reraise()
    assert cli._one_line(caught.value) == "cannot decode image /data/x.jpg (truncated); re-extract the dataset archive"


def test_harness_checks_are_user_errors():
    from dmlrepro.data import CorruptImageError, DatasetLayoutError
    from dmlrepro.data.synthetic import SyntheticTargetExistsError
    from dmlrepro.models.resnet import PretrainedWeightsError
    from dmlrepro.training.reid_trainer import TrainingDiverged

    for error in (CorruptImageError, DatasetLayoutError, SyntheticTargetExistsError, PretrainedWeightsError,
                  TrainingDiverged):
        assert issubclass(error, UserError), error
    assert issubclass(CorruptImageError, OSError) and issubclass(SyntheticTargetExistsError, FileExistsError)


def test_schedule_device_and_dataset_checks_raise_user_errors():
    import torch

    from dmlrepro.data import build_reid_dataset
    from dmlrepro.training.determinism import resolve_device
    from dmlrepro.training.schedule import validate_schedule

    with pytest.raises(UserError, match="pcb_epochs"):
        validate_schedule("pcb_rpp", {"epochs": 3, "pcb_rpp": {"pcb_epochs": 2, "rpp_classifier_epochs": 1}})
    with pytest.raises(UserError, match="valid names"):
        build_reid_dataset("market1502", "/tmp")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="device=auto"):
            resolve_device("cuda")


def test_make_data_with_zero_identities_is_a_user_error_not_the_default(tmp_path, capsys):
    assert cli.main(["make-data", "--variant", "market1501", "--out", str(tmp_path / "d"), "--train-ids", "0"]) == 2
    assert capsys.readouterr().err.strip() == "dmlrepro: error: synthetic num_train_ids must be >= 1, got 0"
    assert not (tmp_path / "d").exists()
