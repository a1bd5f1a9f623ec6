"""Sec. 5.6's t-test of AiA-Net w/ Gau against MuDeep (dmlrepro.evaluation.aianet_significance):
per seed the Table 9 column's value, the mean R-1 over the CUHK03-vanilla splits that ran."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from scipy import stats

from dmlrepro.evaluation.aianet_significance import one_sample_t_test, significance


@pytest.fixture(scope="module")
def plan():
    from dmlrepro.plan import build_plan

    return build_plan({"scale": "smoke", "seeds": [0, 1, 2], "device": "cpu", "pretrained": "auto", "papers": ["aianet"]})


def write(root, cid, seed, record):
    path = root / "cells" / cid / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def test_one_sample_t_test_is_scipys_and_one_sided_halves_a_positive_t():
    values = [96.2, 96.9, 96.5, 96.8]
    result = one_sample_t_test(values, 95.8)
    assert result["p_two_sided"] == pytest.approx(stats.ttest_1samp(values, 95.8).pvalue)
    assert result["t"] > 0 and result["p_one_sided"] == pytest.approx(result["p_two_sided"] / 2)
    assert math.isnan(one_sample_t_test([96.0], 95.8)["p_one_sided"])


def test_inputs_are_the_per_seed_means_over_the_splits_that_ran(plan, tmp_path):
    empty = significance(plan, tmp_path, [0, 1, 2])
    assert [t["missing_seeds"] for t in empty] == [[0, 1, 2]] * 2
    assert all(t["status"].startswith("not computed") for t in empty)
    labeled = empty[0]
    cells = labeled["split_cells"]
    assert len(cells) == 2 and cells[0] == labeled["cell"] and "split1" in cells[1]  # smoke: max_splits 2
    rank1 = {(0, 0): 97.0, (0, 1): 95.0, (1, 0): 96.5, (1, 1): 96.1, (2, 0): 98.0, (2, 1): 96.6}
    for (seed, split), value in rank1.items():
        write(tmp_path, cells[split], seed, {"metrics": {"rank1": value, "map": 0.0}})
    first = significance(plan, tmp_path, [0, 1, 2])[0]
    means = [statistics.fmean([rank1[(s, 0)], rank1[(s, 1)]]) for s in (0, 1, 2)]
    assert (first["column"], first["seeds"], first["missing_seeds"]) == ("cuhk03_labeled.rank1", [0, 1, 2], [])
    assert first["values"] == pytest.approx(means) and first["values"] != [rank1[(s, 0)] for s in (0, 1, 2)]
    assert first["p_two_sided"] == pytest.approx(stats.ttest_1samp(means, 95.8).pvalue)
    assert first["p_one_sided"] == pytest.approx(stats.ttest_1samp(means, 95.8, alternative="greater").pvalue)
    assert (first["splits_ran"], first["paper_splits"], first["splits"]) == (2, 20, "2 of 20 splits")
    assert first["verdict"].startswith("not comparable: ") and "2 of 20 splits" in first["verdict"]
    # the same numbers as the Table 9 column collected over all its rows' Gau cell
    from dmlrepro.tables.aggregate import collect_table

    table_plan = plan.tables[("aianet", "table9")]
    index = next(i for i, row in enumerate(table_plan.spec["rows"]) if row["label"][0] == "AiA-Net w/ Gau-attention")
    from dataclasses import replace

    gau_only = replace(table_plan, cells={index: table_plan.cells[index]},
                       spec={**table_plan.spec, "columns": [c for c in table_plan.spec["columns"] if c["id"].startswith("cuhk03_labeled")]})
    table = collect_table(gau_only, plan.specs["aianet"], "smoke", [0, 1, 2],
                          lambda cid, seed: tmp_path / "cells" / cid / f"seed{seed}" / "metrics.json")
    assert table.cells[(index, "cuhk03_labeled.rank1")].values == first["values"]


def test_a_missing_seed_is_listed_and_a_missing_split_is_left_out_for_every_seed(plan, tmp_path):
    cells = significance(plan, tmp_path, [0])[0]["split_cells"]
    for seed, values in ((0, (97.0, 95.0)), (1, (96.0,))):
        for split, value in enumerate(values):
            write(tmp_path, cells[split], seed, {"metrics": {"rank1": value}})
    first = significance(plan, tmp_path, [0, 1, 2])[0]
    assert (first["seeds"], first["missing_seeds"]) == ([0, 1], [2])
    assert first["values"] == [97.0, 96.0] and first["splits"] == "1 of 20 splits"  # split 1 lacks seed 1


def test_a_diverged_seed_makes_the_test_not_computed_naming_it(plan, tmp_path):
    cells = significance(plan, tmp_path, [0])[0]["split_cells"]
    for seed in (0, 1):
        for split, cid in enumerate(cells):
            write(tmp_path, cid, seed, {"metrics": {"rank1": 96.0 + seed + split}})
    write(tmp_path, cells[1], 1, {"metrics": {}, "seed": 1,
                                  "diverged": {"epoch": 3, "iteration": 2, "loss": "nan", "phase": "train"}})
    first = significance(plan, tmp_path, [0, 1])[0]
    assert first["status"].startswith("not computed: ") and cells[1] in first["status"]
    assert "seed 1 diverged at epoch 3, iteration 2" in first["status"]
    assert math.isnan(first["p_two_sided"]) and "values" not in first
