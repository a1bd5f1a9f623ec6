"""PCB-RPP's induced training (schedule.py; Sun et al. 2018 via 000_6bea8c3e96cdf0f5.txt Sec. 4.2):
in the classifier-only phase everything but the part classifier is a fixed function, every phase
starts with a fresh optimizer, and a run resumed inside a phase still equals an uninterrupted one."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.training import engine
from dmlrepro.training.reid_trainer import reid_parts, train_reid_cell
from dmlrepro.training.schedule import Phase


def rpp_cell(tiny_cell, attention="csalr"):
    """5 epochs: 1 PCB, 2 classifier-only, 2 fine-tuning, so that two phases span two epochs."""
    cell = tiny_cell(model="pcb_rpp", attention=attention)
    cell["training"] = {**cell["training"], "epochs": 5, "pcb_rpp": {"pcb_epochs": 1, "rpp_classifier_epochs": 2}}
    return cell


def run(cell, tmp_path, name="run"):
    return train_reid_cell(cell, seed=0, out_dir=tmp_path / name, checkpoint_dir=tmp_path / f"{name}-ckpt",
                           threads=1, progress=False)


def test_classifier_only_epoch_changes_nothing_but_the_part_classifier(tiny_cell):
    cell = rpp_cell(tiny_cell)
    torch.manual_seed(0)
    parts = reid_parts(cell, torch.device("cpu"), load_pretrained=False)
    model = parts.model
    optimizer = parts.build_optimizer()
    loader = engine.epoch_loader(parts, 0, 0)
    # One PCB epoch first, so that the optimizer holds momentum and BN has moved off its init.
    parts.apply_phase(Phase.PCB.value)
    engine._train_epoch(parts, loader, optimizer, 0, None)
    parts.apply_phase(Phase.RPP_CLASSIFIER.value)
    assert model.training and model.refined_pool.classifier.training
    assert not model.dropout.training and not model.body.training
    assert not any(m.training for m in model.body.modules()) and not any(m.training for m in model.reduce.modules())
    classifier = {f"refined_pool.classifier.{k}" for k in model.refined_pool.classifier.state_dict()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine._train_epoch(parts, loader, optimizer, 1, None)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == classifier, sorted(changed - classifier)[:5]  # BN statistics included
    running = [k for k in before if k.endswith("running_mean") and k.startswith("body.backbone")]
    assert running and all(torch.equal(before[k], after[k]) for k in running)


@pytest.fixture(scope="module")
def uninterrupted_rpp(tmp_path_factory, tiny_scale, tiny_market):
    from dmlrepro.cells import resolve_reid_cell

    cell = resolve_reid_cell({"model": "pcb_rpp", "attention": "none"}, "market1501", tiny_scale, str(tiny_market))
    cell["training"] = {**cell["training"], "epochs": 5, "pcb_rpp": {"pcb_epochs": 1, "rpp_classifier_epochs": 2}}
    tmp = tmp_path_factory.mktemp("rpp")
    seen = []
    real_epoch = engine._train_epoch

    def spy(parts, loader, optimizer, epoch, progress):
        seen.append((epoch, optimizer, len(optimizer.state)))  # the object itself: an id() can be reused
        return real_epoch(parts, loader, optimizer, epoch, progress)

    engine._train_epoch = spy
    try:
        record = run(cell, tmp)
    finally:
        engine._train_epoch = real_epoch
    return cell, record, seen


def test_each_phase_starts_with_a_fresh_optimizer(uninterrupted_rpp):
    cell, record, seen = uninterrupted_rpp
    assert [h["phase"] for h in record["history"]] == ["pcb", "rpp_classifier", "rpp_classifier",
                                                        "rpp_finetune", "rpp_finetune"]
    (_, opt0, _), (_, opt1, state1), (_, opt2, state2), (_, opt3, state3), (_, opt4, state4) = seen
    assert state1 == 0 and state3 == 0  # first epoch of a phase: no momentum buffers carried over
    assert opt1 is opt2 and state2 > 0  # within a phase the optimizer and its momentum carry on
    assert opt3 is opt4 and state4 > 0
    assert opt0 is not opt1 and opt1 is not opt3 and opt0 is not opt3
    assert state2 == 2  # the classifier phase moves only the part classifier (weight and bias)


@pytest.mark.parametrize("crash_epoch", [2, 3, 4])  # mid classifier phase, at a boundary, mid fine-tuning
def test_resume_inside_an_rpp_phase_equals_an_uninterrupted_run(crash_epoch, uninterrupted_rpp, tmp_path, monkeypatch):
    cell, record, _ = uninterrupted_rpp
    real_epoch = engine._train_epoch

    def crash(parts, loader, optimizer, epoch, progress):
        if epoch == crash_epoch:
            raise KeyboardInterrupt("simulated kill")
        return real_epoch(parts, loader, optimizer, epoch, progress)

    monkeypatch.setattr(engine, "_train_epoch", crash)
    with pytest.raises(KeyboardInterrupt):
        run(cell, tmp_path, "resumed")
    monkeypatch.setattr(engine, "_train_epoch", real_epoch)
    resumed = run(cell, tmp_path, "resumed")
    assert resumed["provenance"]["resumed_from_epoch"] == crash_epoch
    assert resumed["history"] == record["history"]
    assert resumed["metrics"] == record["metrics"]
