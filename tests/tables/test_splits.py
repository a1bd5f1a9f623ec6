"""Numbers the paper averages over splits (dmlrepro.tables.splits): one cell per split in the plan,
per seed the mean over the splits in the table, and a mean over fewer splits than the paper's never
judged as the paper's number."""

from __future__ import annotations

import json
import statistics

import pytest
import yaml

from dmlrepro.plan import REPO_ROOT, TablePlan, build_plan
from dmlrepro.specs import PaperSpecError
from dmlrepro.tables import collect_table, diff_rows
from dmlrepro.tables.render import caption
from dmlrepro.tables.splits import planned_split_keys, split_key, splits_of, splits_to_run

TINY = {"scale": "tiny", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None, "papers": ["aianet"]}
PROVENANCE = {"commit": "abcdef1234567", "device": "cpu: test", "host": "node-a"}


# ---------------------------------------------------------------- aggregation on hand-made metrics


def _table(tmp_path, paper_splits: int, planned: int, values, missing=()):
    """A one-row table whose column `v.rank1` averages `paper_splits` splits, `planned` of them
    planned, and a plain column `p.rank1` on the same dataset; `values[k][seed]` is split k's R-1.
    Records name a real (not synthetic) data root and the paper's setting ({}), so the split count
    is the only possible deviation."""
    real = tmp_path / "real"
    real.mkdir(exist_ok=True)
    spec = {"number": 9, "caption": "splits", "kind": "accuracy", "row_header": ["Model"],
            "columns": [{"id": "cuhk03.rank1", "dataset": "cuhk03", "metric": "rank1", "label": "R-1",
                         "mean_over_splits": paper_splits},
                        {"id": "cuhk03.plain.rank1", "dataset": "cuhk03", "metric": "rank1", "label": "split 0 R-1"}],
            "rows": [{"label": ["A"], "cell": {}, "reported": {"cuhk03.rank1": 90.0, "cuhk03.plain.rank1": 90.0},
                      "source": {"table": 9, "row": "A"}}]}
    by_key = {split_key("cuhk03", k): f"cell-s{k}" for k in range(planned)}
    for k in range(planned):
        for seed, value in enumerate(values[k]):
            if (k, seed) in missing:
                continue
            path = tmp_path / f"cell-s{k}" / f"seed{seed}" / "metrics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            cell = {"task": "reid", "family": "aianet", "dataset": "cuhk03", "data_root": str(real), "training": {}}
            path.write_text(json.dumps({"metrics": {"rank1": value}, "cell": cell, "provenance": PROVENANCE}))
    plan = TablePlan("aianet", "table9", spec, {0: by_key})
    seeds = list(range(len(values[0])))
    return collect_table(plan, {"paper": "AiA-Net", "source": "x.txt", "task": "reid"}, "test", seeds,
                         result_path=lambda cid, seed: tmp_path / cid / f"seed{seed}" / "metrics.json",
                         paper_setting={}, spec_path=tmp_path / "none.yaml")


def test_each_seed_is_the_mean_over_its_splits_and_all_n_are_comparable(tmp_path):
    values = [[91.0, 88.0, 90.5], [89.0, 90.0, 92.5], [90.0, 95.0, 89.0]]  # split k, seed s
    table = _table(tmp_path, 3, 3, values)
    measured = table.cells[(0, "cuhk03.rank1")]
    expected = [statistics.fmean(values[k][s] for k in range(3)) for s in range(3)]
    assert measured.values == pytest.approx(expected) and measured.n == 3  # n counts seeds, not splits
    assert measured.splits == (3, 3) and measured.deviations == []
    assert table.cells[(0, "cuhk03.plain.rank1")].values == values[0]  # a plain column reads split 0
    verdicts = {r["column_id"]: r for r in diff_rows(table)}
    assert not verdicts["cuhk03.rank1"]["verdict"].startswith("not comparable")
    assert verdicts["cuhk03.rank1"]["measured"] == pytest.approx(statistics.fmean(expected), abs=1e-4)
    assert "3 of the paper's 3 splits ran" in caption(table)


def test_fewer_splits_than_the_paper_are_not_comparable(tmp_path):
    table = _table(tmp_path, 20, 2, [[90.0, 91.0], [92.0, 93.0]])
    measured = table.cells[(0, "cuhk03.rank1")]
    assert measured.values == [91.0, 92.0] and measured.splits == (2, 20)
    verdict = {r["column_id"]: r["verdict"] for r in diff_rows(table)}["cuhk03.rank1"]
    assert verdict == "not comparable: 2 of 20 splits"
    assert "2 of the paper's 20 splits ran" in caption(table) and "2 of 20 splits" in caption(table)


def test_a_split_missing_for_one_seed_is_left_out_for_every_seed_and_flagged(tmp_path):
    values = [[90.0, 80.0], [92.0, 82.0], [10.0, 20.0]]
    table = _table(tmp_path, 3, 3, values, missing={(2, 1)})
    measured = table.cells[(0, "cuhk03.rank1")]
    assert measured.values == [91.0, 81.0]  # splits 0 and 1, paired by seed
    assert measured.splits == (2, 3) and measured.deviations == ["2 of 3 splits"]


def test_no_split_result_at_all_names_the_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cell-s0/seed0/metrics.json is missing"):
        _table(tmp_path, 3, 2, [[90.0], [91.0]], missing={(0, 0), (1, 0)})


def test_split_keys_counts_and_the_table_default():
    assert planned_split_keys({"cuhk03/split2": "c", "cuhk03": "a", "cuhk03/split10": "d", "cuhk03_labeled": "x",
                               "cuhk03/split1": "b"}, "cuhk03") == ["cuhk03", "cuhk03/split1", "cuhk03/split2", "cuhk03/split10"]
    assert splits_to_run(20, {"max_splits": 2}) == 2 and splits_to_run(20, {}) == 20 and splits_to_run(3, {"max_splits": 5}) == 3
    table = {"mean_over_splits": 20}
    assert splits_of(table, {"metric": "rank1"}) == 20 and splits_of(table, {"metric": "rank1", "mean_over_splits": 5}) == 5
    assert splits_of(table, {"metric": "params"}) is None and splits_of({}, {"metric": "rank1"}) is None


# ---------------------------------------------------------------------------------- the plan


def test_table9_plans_one_cell_per_split_and_keeps_split_0s_id():
    plan = build_plan(dict(TINY))
    table = plan.tables[("aianet", "table9")]
    assert table.spec["mean_over_splits"] == 20
    for by_key in table.cells.values():
        assert sorted(by_key) == ["cuhk03", "cuhk03/split1", "cuhk03_labeled", "cuhk03_labeled/split1"]  # tiny: 2
        assert "split" not in plan.cells[by_key["cuhk03"]] and plan.cells[by_key["cuhk03/split1"]]["split"] == 1
        assert by_key["cuhk03/split1"].split("-")[-2] == "split1"
        first, second = dict(plan.cells[by_key["cuhk03"]]), dict(plan.cells[by_key["cuhk03/split1"]])
        second.pop("split")
        assert first == second  # the split is all that differs


def test_paper_scale_plans_all_20_splits(tmp_path):
    plan = build_plan({**TINY, "scale": "paper", "data_root": str(tmp_path)})
    by_key = plan.tables[("aianet", "table9")].cells[7]
    assert planned_split_keys(by_key, "cuhk03") == [split_key("cuhk03", k) for k in range(20)]
    assert [plan.cells[by_key[split_key("cuhk03", k)]].get("split", 0) for k in range(20)] == list(range(20))
    assert len({by_key[k] for k in by_key}) == 40


def _spec_dir(tmp_path, edit):
    spec = yaml.safe_load((REPO_ROOT / "paper_tables" / "aianet.yaml").read_text())
    spec.pop("claims", None)
    spec.pop("figures", None)
    edit(spec)
    (tmp_path / "aianet.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return tmp_path


def _gau_row(spec, table):
    return next(r for r in spec["tables"][table]["rows"] if "cell" in r and r["cell"].get("attention") == "gau")


def test_a_row_may_fix_its_split_on_cuhk03_vanilla(tmp_path):
    def edit(spec):
        del spec["tables"]["table9"]["mean_over_splits"]
        _gau_row(spec, "table9")["cell"]["split"] = 5

    plan = build_plan(dict(TINY), spec_dir=_spec_dir(tmp_path, edit))
    by_key = plan.tables[("aianet", "table9")].cells[7]
    assert sorted(by_key) == ["cuhk03", "cuhk03_labeled"]
    assert plan.cells[by_key["cuhk03"]]["split"] == 5 and "split5" in by_key["cuhk03"]


@pytest.mark.parametrize("edit, expected", [
    (lambda s: s["tables"]["table3"].update(mean_over_splits=20),
     "table3 row 1 '$\\mathcal{F}_a$': mean_over_splits: dataset cuhk03np has no splits"),
    (lambda s: _gau_row(s, "table10")["cell"].update(split=3),
     "split: 3 does nothing on dataset cuhk03np (datasets with splits: cuhk01, cuhk03, cuhk03_labeled); remove it"),
    (lambda s: _gau_row(s, "table9")["cell"].update(split=2),
     "split: 2 fixes one split, but the table averages over 20; remove split from the row"),
    (lambda s: s["tables"]["table9"].update(mean_over_splits=21),
     "mean_over_splits: 21 is more than the 20 splits of cuhk03"),
    (lambda s: s["tables"]["table9"]["columns"][0].update(mean_over_splits=5),
     "mean_over_splits: the columns on cuhk03_labeled ask for [5, 20] splits"),
])
def test_a_split_where_there_is_none_is_refused_in_one_line(tmp_path, edit, expected):
    with pytest.raises(PaperSpecError) as error:
        build_plan(dict(TINY), spec_dir=_spec_dir(tmp_path, edit))
    assert "\n" not in str(error.value) and "aianet.yaml" in str(error.value)
    assert expected in str(error.value)
