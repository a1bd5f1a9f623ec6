"""The image-retrieval task's per-epoch evaluation (MHDML Figure 1, 003_72cd4b33cee60b89.txt:
Recall@1 against epochs): `eval_every_epoch` is part of the resolved cell, so a curve's cell has
its own id while table cells keep theirs, and it records the evaluation of every epoch without
changing the training."""

from __future__ import annotations

import pytest

from dmlrepro.tasks import get_task
from dmlrepro.tasks.base import EVAL_EVERY_EPOCH

PAPER_CELL = {"model": "mhdml", "backbone": "resnet50", "attention": "soa", "descriptors": ["global", "local"],
              "attention_heads": "multi", "pooling": "gap+gmp", "embedding_dim": 16,
              "loss": {"ms": 1.0, "proxy_anchor": 0.03}}


@pytest.fixture(scope="module")
def task():
    return get_task("image_retrieval")


@pytest.fixture(scope="module")
def cars(tmp_path_factory):
    from dmlrepro.data.retrieval.synthetic_retrieval import generate_retrieval_dataset

    root = tmp_path_factory.mktemp("cars")
    generate_retrieval_dataset(root, "cars196", seed=0, num_train_classes=4, num_test_classes=4,
                               images_min=4, images_max=4)
    return root


def resolve(task, tiny_scale, root, **extra):
    return task.resolve_cell({**PAPER_CELL, **extra}, "cars196", tiny_scale, str(root), "mhdml")


def test_the_curve_is_part_of_the_cell_and_only_where_asked(task, tiny_scale, tmp_path):
    plain = resolve(task, tiny_scale, tmp_path)
    curve = resolve(task, tiny_scale, tmp_path, **{EVAL_EVERY_EPOCH: True})
    assert EVAL_EVERY_EPOCH not in plain  # table cells keep the ids they had before the key existed
    assert curve == {**plain, EVAL_EVERY_EPOCH: True}
    assert task.cell_id(curve) != task.cell_id(plain)
    assert task.cell_id(curve).startswith(task.cell_id(plain).rsplit("-", 1)[0] + "-curve-")


def test_the_task_reads_the_key_and_refuses_a_false_one(task):
    assert task.cell_problem({**PAPER_CELL, EVAL_EVERY_EPOCH: True}, {}) is None
    problem = task.cell_problem({**PAPER_CELL, EVAL_EVERY_EPOCH: False}, {})
    assert problem is not None and EVAL_EVERY_EPOCH in problem


def test_only_a_curve_cell_evaluates_after_every_epoch(task, tiny_scale, cars):
    import torch

    from dmlrepro.training.retrieval_parts import retrieval_parts

    plain = retrieval_parts(resolve(task, tiny_scale, cars), 0, torch.device("cpu"), False)
    curve = retrieval_parts(resolve(task, tiny_scale, cars, **{EVAL_EVERY_EPOCH: True}), 0, torch.device("cpu"), False)
    assert plain.epoch_evaluate is None
    assert curve.epoch_evaluate is not None
    assert set(curve.epoch_evaluate()) >= {"recall@1", "recall@2", "num_queries"}


def test_the_curve_records_every_epoch_and_changes_no_result(task, tiny_scale, cars, tmp_path):
    """Same seed with and without the curve: the same final metrics and losses; the curve's
    history holds one evaluation per epoch, the last equal to the final evaluation."""
    records = {}
    for name, extra in (("plain", {}), ("curve", {EVAL_EVERY_EPOCH: True})):
        cell = resolve(task, tiny_scale, cars, **extra)
        records[name] = task.train_cell(cell, 0, tmp_path / name / "out", tmp_path / name / "ckpt",
                                        threads=1, progress=False)
    plain, curve = records["plain"], records["curve"]
    assert [line["loss"] for line in curve["history"]] == [line["loss"] for line in plain["history"]]
    assert curve["metrics"] == plain["metrics"]
    assert all("eval" not in line for line in plain["history"])
    assert [line["epoch"] for line in curve["history"]] == list(range(1, tiny_scale_epochs(curve) + 1))
    assert curve["history"][-1]["eval"]["recall@1"] == curve["metrics"]["recall@1"]


def tiny_scale_epochs(record: dict) -> int:
    return record["cell"]["training"]["epochs"]
