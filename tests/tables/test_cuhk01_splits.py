"""AiA-Net Table 12 (CUHK01, 002_e585b7ac4801a221.txt) as a mean over CUHK01's 485/486 splits
(dmlrepro.tables.splits; torchreid's 20 split ids: 10 identity partitions x 2 query cameras): one
cell per split in the plan, split 0 keeps its id, a cell's `split` selects that split's data."""

from __future__ import annotations

import json
import statistics

import pytest

from dmlrepro.plan import build_plan
from dmlrepro.tables import collect_table, diff_rows
from dmlrepro.tables.splits import planned_split_keys, split_key

TINY = {"scale": "tiny", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None, "papers": ["aianet"]}


def test_table12_plans_max_splits_cells_per_row_and_split_0_is_the_plain_cell():
    plan = build_plan(dict(TINY))
    table = plan.tables[("aianet", "table12")]
    assert table.spec["mean_over_splits"] == 20 and sorted(table.cells) == [4, 5, 6, 7]
    for by_key in table.cells.values():
        assert sorted(by_key) == ["cuhk01", "cuhk01/split1"]  # tiny: max_splits 2
        first, second = dict(plan.cells[by_key["cuhk01"]]), dict(plan.cells[by_key["cuhk01/split1"]])
        assert "split" not in first and second.pop("split") == 1 and first == second
        assert "split" not in by_key["cuhk01"] and by_key["cuhk01/split1"].split("-")[-2] == "split1"


def test_paper_scale_plans_all_20_cuhk01_splits(tmp_path):
    plan = build_plan({**TINY, "scale": "paper", "data_root": str(tmp_path)})
    by_key = plan.tables[("aianet", "table12")].cells[7]
    assert planned_split_keys(by_key, "cuhk01") == [split_key("cuhk01", k) for k in range(20)]
    assert [plan.cells[by_key[split_key("cuhk01", k)]].get("split", 0) for k in range(20)] == list(range(20))


def test_a_cells_split_reads_that_cuhk01_split(tmp_path):
    from dmlrepro.data.reid_extra.synthetic_extra import generate_extra_dataset
    from dmlrepro.tasks.reid import load_cell_data

    generate_extra_dataset(tmp_path, "cuhk01", num_train_ids=6, num_test_ids=6)
    data = [load_cell_data({"dataset": "cuhk01", "data_root": str(tmp_path), **({"split": k} if k else {})})
            for k in range(4)]
    ids = [{pid for _, pid, _ in d.query} for d in data]
    paths = [sorted(p for p, _, _ in d.train) for d in data]
    assert paths[0] == paths[1] and ids[0] == ids[1]  # split 2k+1: the same partition, other camera queries
    assert {c for _, _, c in data[0].query} == {0} and {c for _, _, c in data[1].query} == {1}
    assert paths[2] != paths[0] and {c for _, _, c in data[2].query} == {0}
    assert all(len(i) == 6 and not {p for p, _, _ in d.query} & set(t) for i, d, t in zip(ids, data, paths))


def test_table12_per_seed_is_the_mean_over_its_cuhk01_splits_and_not_comparable(tmp_path):
    plan = build_plan({**TINY, "seeds": [0, 1]})
    table_plan = plan.tables[("aianet", "table12")]
    rank1 = {}
    for row, by_key in table_plan.cells.items():
        for split, key in enumerate(planned_split_keys(by_key, "cuhk01")):
            for seed in (0, 1):
                rank1[(row, split, seed)] = value = 80.0 + row + 2 * split + seed
                path = tmp_path / by_key[key] / f"seed{seed}" / "metrics.json"
                path.parent.mkdir(parents=True)
                path.write_text(json.dumps({"metrics": {m: value for m in ("rank1", "rank5", "rank10", "rank20")}}))
    table = collect_table(table_plan, plan.specs["aianet"], "tiny", [0, 1],
                          lambda cid, seed: tmp_path / cid / f"seed{seed}" / "metrics.json")
    measured = table.cells[(7, "cuhk01.rank1")]
    assert measured.values == pytest.approx([statistics.fmean([rank1[(7, 0, s)], rank1[(7, 1, s)]]) for s in (0, 1)])
    assert measured.splits == (2, 20) and "2 of 20 splits" in measured.deviations
    verdicts = {(r["row"], r["column_id"]): r["verdict"] for r in diff_rows(table)}
    assert any("2 of 20 splits" in v for (row, col), v in verdicts.items() if col == "cuhk01.rank1" and v.startswith("not comparable"))
