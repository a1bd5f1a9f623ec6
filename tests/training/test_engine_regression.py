"""The engine refactor changed no number: two tiny re-ID cells (CSALR; PCB-RPP + CSA, whose RPP
phases switch the model and rebuild the optimizer) trained through `dmlrepro.training.engine`
give the metrics and per-epoch losses that the re-ID trainer gave before the engine existed
(commit 3c3db05, the last one before it; values recorded on this project's CPU machine with one
thread, with `/tmp`-independent data from the generator's seed 0).

Any change to the training arithmetic, the batches, the order of random draws or the evaluation
moves these numbers (they are compared to 1e-9, far below the 1e-4 a changed float32 sum gives);
a deliberate change must re-record them and say why in its commit.
"""

from __future__ import annotations

import pytest

from dmlrepro.training.reid_trainer import train_reid_cell

BEFORE_THE_ENGINE = {
    "csalr": {
        "paper_cell": {"attention": "csalr", "samples": 96, "groups": 2, "stages": [1, 2, 3]},
        "metrics": {"rank1": 12.5, "rank5": 25.0, "rank10": 62.5, "map": 21.649252882985987, "num_valid_queries": 16},
        "losses": [18.766528606414795, 18.714539051055908, 18.609795570373535],
    },
    "pcb_rpp_csa": {
        "paper_cell": {"model": "pcb_rpp", "attention": "csa", "bases": 32, "groups": 2, "stages": [1, 2, 3]},
        "metrics": {"rank1": 12.5, "rank5": 25.0, "rank10": 62.5, "map": 16.137296536355283, "num_valid_queries": 16},
        "losses": [18.787288188934326, 12.475812435150146, 18.649420738220215],
    },
}


@pytest.mark.parametrize("name", sorted(BEFORE_THE_ENGINE))
def test_a_tiny_cell_trains_to_the_numbers_recorded_before_the_engine(name, tiny_scale, tiny_market, tmp_path):
    from dmlrepro.cells import resolve_reid_cell

    expected = BEFORE_THE_ENGINE[name]
    cell = resolve_reid_cell(dict(expected["paper_cell"]), "market1501", tiny_scale, str(tiny_market))
    record = train_reid_cell(cell, 0, tmp_path / "out", tmp_path / "ckpt", threads=1, progress=False)
    assert [h["loss"] for h in record["history"]] == pytest.approx(expected["losses"], rel=0, abs=1e-9)
    for key, value in expected["metrics"].items():
        assert record["metrics"][key] == pytest.approx(value, rel=0, abs=1e-9), key
