"""Deterministic kernels are requested, not assumed: every kernel that ran without a
deterministic implementation under warn_only is recorded in metrics.json."""

from __future__ import annotations

import warnings

import pytest
import torch

from dmlrepro.training import reid_trainer
from dmlrepro.training.determinism import NondeterministicOps
from dmlrepro.training.reid_trainer import train_reid_cell

#: PyTorch's own wording (c10/core/Context alertNotDeterministic), here for a CUDA kernel.
CUDA_ALERT = ("adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation, but you set "
              "'torch.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue at "
              "https://github.com/pytorch/pytorch/issues to help us prioritize adding deterministic support "
              "for this operation.")


@pytest.fixture
def warn_only():
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def nondeterministic_cpu_op() -> None:
    """`put_` without accumulation has no deterministic kernel on CPU either."""
    torch.zeros(4).put_(torch.tensor([1, 1]), torch.tensor([1.0, 2.0]), accumulate=False)


def test_records_each_alert_once_in_the_order_seen(warn_only):
    with NondeterministicOps() as ops:
        for _ in range(3):
            nondeterministic_cpu_op()
        warnings.warn(CUDA_ALERT, UserWarning)
        warnings.warn(CUDA_ALERT, UserWarning)
    assert ops.messages == ["put_ does not have a deterministic implementation",
                            "adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation"]


@pytest.mark.parametrize("outer", ["ignore", "error", "once"])
def test_alerts_are_recorded_whatever_the_warning_filters_say(outer, warn_only):
    # PYTHONWARNINGS=ignore must not hide them, =error must not turn them into a crash.
    with warnings.catch_warnings():
        warnings.simplefilter(outer)
        with NondeterministicOps(seen=["earlier op does not have a deterministic implementation"]) as ops:
            nondeterministic_cpu_op()
    assert ops.messages == ["earlier op does not have a deterministic implementation",
                            "put_ does not have a deterministic implementation"]


def test_other_warnings_still_reach_the_user_and_filters_are_restored(warn_only):
    filters = list(warnings.filters)
    with pytest.warns(DeprecationWarning, match="something else"):
        with NondeterministicOps() as ops:
            warnings.warn("something else", DeprecationWarning)
    assert ops.messages == [] and warnings.filters == filters


def test_deterministic_kernels_record_nothing(warn_only):
    with NondeterministicOps() as ops:
        torch.zeros(4).index_add_(0, torch.tensor([1, 1]), torch.tensor([1.0, 2.0]))
    assert ops.messages == []


def test_metrics_record_the_nondeterministic_kernels_of_training_and_evaluation(tiny_cell, tmp_path, monkeypatch):
    cell = tiny_cell(attention="none")
    plain = train_reid_cell(cell, seed=0, out_dir=tmp_path / "plain", checkpoint_dir=tmp_path / "plain-ckpt",
                            threads=1, progress=False)
    assert plain["provenance"]["nondeterministic_ops"] == []
    real_loss, real_distance = reid_trainer.pcb_loss, reid_trainer.pairwise_distance

    def loss_with_a_nondeterministic_kernel(*args):
        nondeterministic_cpu_op()
        return real_loss(*args)

    def distance_with_a_cuda_alert(*args, **kwargs):
        warnings.warn(CUDA_ALERT, UserWarning)
        return real_distance(*args, **kwargs)

    monkeypatch.setattr(reid_trainer, "pcb_loss", loss_with_a_nondeterministic_kernel)
    monkeypatch.setattr(reid_trainer, "pairwise_distance", distance_with_a_cuda_alert)
    record = train_reid_cell(cell, seed=0, out_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
                             threads=1, progress=False)
    assert record["provenance"]["nondeterministic_ops"] == [
        "put_ does not have a deterministic implementation",
        "adaptive_avg_pool2d_backward_cuda does not have a deterministic implementation"]
    assert record["provenance"]["determinism"]["warn_only"] is True
