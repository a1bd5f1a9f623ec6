"""PAPER-SCALE PROBE for every registered model family (of every task): the paper's model at the paper's input size takes
one training step (batch 2, CPU) with the task's own loss and optimizer.  Paper-scale training
needs a GPU and the real data, which are not here; this proves that path builds and runs.  A new
family is probed without anyone adding it here (the test runs over the registry)."""

from __future__ import annotations

import math

import pytest

from dmlrepro.tasks import all_families, get_task, list_tasks


@pytest.mark.parametrize("family", all_families(), ids=lambda f: f"{f.task}-{f.name}")
def test_the_paper_scale_model_of_every_family_takes_one_training_step(family):
    result = family.paper_probe(batch_size=2)
    assert math.isfinite(result["loss"])
    if "expected_input_size" in result:
        # A family whose paper model is small (L2-Net at 32x32) states the paper's values itself.
        assert list(result["input_size"]) == list(result["expected_input_size"])
        assert result["parameters"] >= result["expected_parameters"]
        return
    assert min(result["input_size"]) >= 128  # the paper's size, not a smoke preset's
    assert result["parameters"] > 10_000_000  # a ResNet-50, not the thin smoke backbone


@pytest.mark.parametrize("name", list_tasks())
def test_every_task_has_a_trainable_family_and_its_default_family_exists(name):
    task = get_task(name)
    assert any(f.task == name for f in all_families())
    assert task.family_of_cell({}).task == name
