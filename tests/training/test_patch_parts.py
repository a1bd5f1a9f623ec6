"""The local-descriptor training parts on the engine (CSA Tables 7-8, 001_5fbd5da13318fd56.txt,
"Local Descriptor Learning", Implementation Details): one tiny cell trained once is evaluated on
both other Brown subsets and on HPatches from the same weights; HardNet's per-step linear decay;
the pairs of an epoch depend on (seed, epoch) alone; Table 7's Mean is formed per seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlrepro.tasks import get_task
from dmlrepro.training.patch_parts import EpochPairs, step_learning_rate, steps_per_epoch

TINY = {"train_ids": 8, "test_ids": 8}
ROW = {"model": "hardnet", "backbone": "l2net", "attention": "csa", "groups": 1, "layers": [3],
       "deep_supervision": False, "loss": {"hardnet": 1.0}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    task = get_task("patch_descriptor")
    root = tmp_path_factory.mktemp("patches")
    for dataset in task.datasets:
        task.make_data(dataset, root, 0, TINY)
    return root


@pytest.fixture(scope="module")
def trained(data, tiny_scale, tmp_path_factory):
    task = get_task("patch_descriptor")
    cell = task.resolve_cell(ROW, "brown_liberty", tiny_scale, str(data), "csa")
    task.validate_cell(cell)
    out = tmp_path_factory.mktemp("run")
    record = task.train_cell(cell, 0, out / "seed0", out / "ck", threads=1, device_name="cpu", progress=False)
    return task, cell, out, record


def test_one_cell_is_evaluated_on_both_other_subsets_and_hpatches(trained):
    task, cell, _, record = trained
    protocols = record["metrics"]["protocols"]
    assert set(protocols) == {"test@brown_notredame", "test@brown_yosemite", "hpatches"}
    assert len(record["history"]) == cell["training"]["epochs"]  # trained once
    for name in ("test@brown_notredame", "test@brown_yosemite"):
        column = {"protocol": name, "metric": "fpr95"}
        assert 0.0 <= task.metric(record, column) <= 100.0
    assert protocols["test@brown_notredame"]["fpr95"] != protocols["test@brown_yosemite"]["fpr95"]
    for metric in ("verification_map", "matching_map", "retrieval_map"):
        assert 0.0 < task.metric(record, {"protocol": "hpatches", "metric": metric}) <= 100.0


def test_the_protocols_are_those_of_the_saved_weights(trained, data):
    """FPR95 recomputed here from model.pt, by the slow float64 definition, is the record's."""
    from dmlrepro.data.patches.phototour import read_phototour
    from dmlrepro.training.patch_parts import build_l2net

    _, cell, out, record = trained
    saved = torch.load(out / "seed0" / "model.pt", map_location="cpu", weights_only=False)
    model = build_l2net(cell["model"], cell["training"]["dropout"])
    model.load_state_dict(saved["model"])
    model.eval()
    for name in ("notredame", "yosemite"):
        subset = read_phototour(data, name, size=32)
        with torch.no_grad():
            x = torch.from_numpy(subset.patches).float()[:, None] / 255.0
            d = model(x).double()
        a, b, y = subset.matches[:, 0], subset.matches[:, 1], subset.matches[:, 2].astype(bool)
        dist = (d[a] - d[b]).norm(dim=1).numpy()
        threshold = np.sort(dist[y])[int(np.ceil(0.95 * y.sum())) - 1]
        expected = 100.0 * np.mean(dist[~y] <= threshold)
        assert record["metrics"]["protocols"][f"test@brown_{name}"]["fpr95"] == pytest.approx(expected, abs=1e-9)


def test_reusing_the_weights_evaluates_without_retraining(trained):
    task, cell, out, record = trained
    again = task.train_cell(cell, 0, out / "again", out / "ck", threads=1, device_name="cpu", progress=False,
                            reuse_weights=True)
    assert again["provenance"]["start"] == "reuse"
    assert again["history"] == record["history"]
    assert again["metrics"]["protocols"] == record["metrics"]["protocols"]


def test_hardnets_linear_decay_per_step():
    # lr_k = lr (1 - k B / (P E)): 10 -> 0 over the run, the first step at the full rate.
    assert step_learning_rate(10.0, 0, 1024, 5_000_000, 10) == 10.0
    assert step_learning_rate(10.0, 24414, 1024, 5_000_000, 10) == pytest.approx(10.0 * (1 - 24414 * 1024 / 5e7))
    assert step_learning_rate(10.0, 10**6, 1024, 5_000_000, 10) == 0.0
    assert steps_per_epoch(5_000_000, 1024) == 4883 and steps_per_epoch(1025, 1024) == 1


def test_an_epochs_pairs_depend_on_seed_and_epoch_only():
    labels = np.repeat(np.arange(40), 3)
    first = [list(b) for b in EpochPairs(labels, 100, 16, seed=0, epoch=2)]
    assert first == [list(b) for b in EpochPairs(labels, 100, 16, seed=0, epoch=2)]
    assert first != [list(b) for b in EpochPairs(labels, 100, 16, seed=0, epoch=3)]
    assert [len(b) for b in first] == [16] * 6 + [4]
    for batch in first:
        points = [labels[a] for a, _ in batch]
        assert len(set(points)) == len(points)  # no 3-D point twice in a batch
        assert all(labels[a] == labels[p] and a != p for a, p in batch)


def test_the_mean_column_is_the_per_seed_mean_of_its_columns():
    from dmlrepro.tables.aggregate import Measurement, MeasuredTable, _mean_columns

    spec = {"columns": [{"id": "a"}, {"id": "b"}, {"id": "m", "mean_of": ["a", "b"]}], "rows": [{}]}
    table = MeasuredTable("csa", "table7", spec, {}, "tiny", [0, 1])
    table.cells[(0, "a")] = Measurement([1.0, 3.0], deviations=["synthetic data"])
    table.cells[(0, "b")] = Measurement([2.0, 7.0], deviations=["synthetic data", "2 epochs (paper 10)"])
    _mean_columns(table, 0)
    mean = table.cells[(0, "m")]
    assert mean.values == [1.5, 5.0]
    assert mean.deviations == ["synthetic data", "2 epochs (paper 10)"]
    del table.cells[(0, "m")], table.cells[(0, "b")]
    _mean_columns(table, 0)
    assert (0, "m") not in table.cells  # a part missing: no mean
