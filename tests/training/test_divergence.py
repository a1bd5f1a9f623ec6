"""A diverged run recorded as a result (dmlrepro.training.divergence): the table cell says which seed
diverged where and is never the survivors' mean, claims that need it are not computed with the
reason, the report counts it, and whatever needs its weights refuses in one line."""

from __future__ import annotations

import json

import pytest
import torch

from dmlrepro.claims.evaluate import NOT_COMPUTED, evaluate_claim
from dmlrepro.plan import TablePlan
from dmlrepro.report.reembed import embed_cell
from dmlrepro.tables import collect_table, diff_rows
from dmlrepro.tables.render import caption, grid, to_csv
from dmlrepro.training.divergence import DivergedRunError, describe, divergence_of, require_weights

PROVENANCE = {"commit": "abcdef1234567", "device": "cpu: test", "host": "node-a"}
ENTRY = {"epoch": 8, "iteration": 5, "loss": "nan", "phase": "rpp_classifier", "seed": 1,
         "message": "loss became nan at epoch 8, iteration 5; lower the learning rate"}


def _write(tmp_path, cell_id, seed, rank1=None, diverged=False):
    path = tmp_path / cell_id / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = {"task": "reid", "family": "pcb", "dataset": "m", "data_root": str(tmp_path), "training": {}}
    record = {"cell": cell, "seed": seed, "provenance": PROVENANCE, "metrics": {} if diverged else {"rank1": rank1}}
    if diverged:
        record["diverged"] = {**ENTRY, "seed": seed}
    path.write_text(json.dumps(record))
    return path


def _collect(tmp_path):
    spec = {"number": 1, "caption": "t", "kind": "accuracy", "row_header": ["Model"],
            "columns": [{"id": "m.rank1", "dataset": "m", "metric": "rank1", "label": "R-1"}],
            "rows": [{"label": ["A"], "cell": {}, "reported": {"m.rank1": 90.0}, "source": {"table": 1, "row": "A"}},
                     {"label": ["B"], "cell": {}, "reported": {"m.rank1": 80.0}, "source": {"table": 1, "row": "B"}}]}
    for seed, value in enumerate([91.0, 92.0, 93.0]):
        _write(tmp_path, "cell-a", seed, value)
        _write(tmp_path, "cell-b", seed, value - 10, diverged=seed == 1)
    plan = TablePlan("csalr", "table1", spec, {0: {"m": "cell-a"}, 1: {"m": "cell-b"}})
    return collect_table(plan, {"paper": "p", "source": "x.txt", "task": "reid"}, "test", [0, 1, 2],
                         result_path=lambda cid, seed: tmp_path / cid / f"seed{seed}" / "metrics.json",
                         paper_setting={}, spec_path=tmp_path / "none.yaml")


def test_a_diverged_seed_makes_the_cell_not_computed_naming_seed_epoch_and_iteration(tmp_path):
    table = _collect(tmp_path)
    assert (1, "m.rank1") not in table.cells  # not the mean of seeds 0 and 2
    assert table.cells[(0, "m.rank1")].values == [91.0, 92.0, 93.0]
    lines = {line["row"]: line for line in diff_rows(table)}
    assert lines["B"]["status"] == "diverged" and lines["B"]["measured"] is None
    assert lines["B"]["verdict"] == ("not computed: cell-b: seed 1 diverged at epoch 8, iteration 5 "
                                     "(loss nan, phase rpp_classifier)")
    assert lines["A"]["status"] == "computed"
    _, body = grid(table)
    assert body[1][1] == "diverged (80.0)" and "diverged: not computed" in caption(table)
    assert "cell-b: seed 1 diverged at epoch 8" in caption(table)
    assert to_csv(table).splitlines()[2].startswith("B,False,,,,80.0")


def test_a_claim_on_a_diverged_cell_is_not_computed_with_the_reason(tmp_path):
    table = _collect(tmp_path)
    claim = {"id": "c", "quote": "A beats B", "table": "table1", "kind": "compare", "row": "A", "than": ["B"],
             "direction": "higher", "columns": ["m.rank1"]}
    result = evaluate_claim(claim, table)
    assert result.verdict == NOT_COMPUTED
    assert result.comparisons[0].verdict.startswith("not computed (a run diverged: cell-b: seed 1 diverged at epoch 8")


def test_describe_reads_a_record_or_a_model_state():
    assert describe({"seed": 0, "diverged": ENTRY}).startswith("seed 0 diverged at epoch 8, iteration 5")
    assert describe({"cell": {}, "diverged": ENTRY}).startswith("seed 1 diverged")  # model.pt: seed in the entry
    assert divergence_of({"metrics": {"rank1": 1.0}}) is None and divergence_of({"diverged": "x"}) is None


def test_weights_of_a_diverged_run_are_refused_in_one_line(tmp_path):
    path = tmp_path / "cell-b" / "seed1" / "model.pt"
    path.parent.mkdir(parents=True)
    torch.save({"cell": {"task": "reid", "model": "pcb_rpp"}, "diverged": ENTRY}, path)
    state = torch.load(path, weights_only=False)
    with pytest.raises(DivergedRunError, match=r"cell cell-b seed 1 diverged at epoch 8, iteration 5 .* no trained weights"):
        require_weights(state, path)
    require_weights({"cell": {}, "model": {}}, path)  # a trained run passes
    embedding, why = embed_cell(path)
    assert embedding is None and why.startswith("the run seed 1 diverged at epoch 8") and "no weights" in why
