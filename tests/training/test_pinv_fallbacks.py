"""metrics.json counts the attention modules' pseudo-inverse fallbacks, for training and for
evaluation separately (the `pinv_fallbacks` counter of dmlrepro.attention.csalr)."""

from __future__ import annotations

import torch

from dmlrepro.training import reid_trainer
from dmlrepro.training.reid_trainer import take_pinv_fallbacks, train_reid_cell


def test_take_sums_the_counters_and_resets_them():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 2)))
    model[0].pinv_fallbacks = 3
    model[1][1].pinv_fallbacks = 4
    assert take_pinv_fallbacks(model) == 7
    assert model[0].pinv_fallbacks == 0 and model[1][1].pinv_fallbacks == 0
    assert take_pinv_fallbacks(model) == 0


def test_metrics_count_train_and_eval_fallbacks_separately(tiny_cell, tmp_path, monkeypatch):
    cell = tiny_cell(attention="none")
    real_build = reid_trainer.build_reid_model

    def build_with_a_counting_module(*args, **kwargs):
        # Stands in for an attention module whose every batch element took the pseudo-inverse.
        model = real_build(*args, **kwargs)
        stem = model.body.backbone.bn1
        stem.pinv_fallbacks = 0

        def count(module, inputs, output):
            module.pinv_fallbacks += inputs[0].shape[0]

        stem.register_forward_hook(count)
        return model

    monkeypatch.setattr(reid_trainer, "build_reid_model", build_with_a_counting_module)
    record = train_reid_cell(cell, seed=0, out_dir=tmp_path / "out", checkpoint_dir=tmp_path / "ckpt",
                             threads=1, progress=False)
    from dmlrepro.data import build_reid_dataset

    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    batch, images = cell["training"]["batch_size"], len(data.train)
    per_epoch = (images // batch) * batch  # drop_last
    assert [h["pinv_fallbacks"] for h in record["history"]] == [per_epoch] * cell["training"]["epochs"]
    assert record["pinv_fallbacks"] == {"train": per_epoch * cell["training"]["epochs"],
                                        "eval": len(data.query) + len(data.gallery)}


def test_without_counters_both_counts_are_zero(tiny_cell, tmp_path):
    record = train_reid_cell(tiny_cell(attention="none"), seed=0, out_dir=tmp_path / "out",
                             checkpoint_dir=tmp_path / "ckpt", threads=1, progress=False)
    assert record["pinv_fallbacks"] == {"train": 0, "eval": 0}
