"""Numbers a paper prints in its text (layout: text): MHDML Sec. 4.5's single-head attention,
86.6 / 66.6 Recall@1 on Cars-196 / CUB-200-2011 (003_72cd4b33cee60b89.txt), regenerated and
diffed like a table (tableT1) beside the multi-head model it is compared with."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dmlrepro.plan import build_plan
from dmlrepro.tables import collect_table
from dmlrepro.tables.render import diff_to_csv, to_markdown

BASE = {"scale": "smoke", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None}
MEASURED = {"single": {"cars196": 41.0, "cub200": 30.5}, "both": {"cars196": 45.0, "cub200": 33.75}}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    plan = build_plan(dict(BASE))
    table_plan = plan.tables[("mhdml", "tableT1")]
    root = tmp_path_factory.mktemp("cells")
    for by_dataset in table_plan.cells.values():
        for dataset, cid in by_dataset.items():
            cell = plan.cells[cid]
            path = root / cid / "seed0" / "metrics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"cell": cell, "metrics": {"recall@1": MEASURED[cell["model"]["heads"]][dataset]},
                                        "provenance": {"commit": "0123456789abcdef", "device": "cpu"}}))
    return collect_table(table_plan, plan.specs["mhdml"], "smoke", [0],
                         result_path=lambda cid, seed: Path(root) / cid / f"seed{seed}" / "metrics.json")


def test_the_diff_has_the_two_single_head_numbers_against_the_measured_ones(table):
    rows = list(csv.DictReader(io.StringIO(diff_to_csv(table))))
    single = {r["column_id"]: r for r in rows if r["row"] == "single head attention"}
    assert {c: float(r["reported"]) for c, r in single.items()} == {"cars196.recall@1": 86.6, "cub200.recall@1": 66.6}
    assert {c: float(r["measured"]) for c, r in single.items()} == {
        "cars196.recall@1": 41.0, "cub200.recall@1": 30.5}
    assert all(r["table"] == "tableT1" and r["status"] == "computed" for r in rows)
    assert all(r["verdict"].startswith("not comparable: synthetic data") for r in rows)
    multi = {r["column_id"]: float(r["reported"]) for r in rows if r["row"] == "multi-head approach"}
    assert multi == {"cars196.recall@1": 90.1, "cub200.recall@1": 70.6}


def test_the_rendered_text_result_says_where_the_paper_prints_it(table):
    markdown = to_markdown(table)
    first = markdown.splitlines()[0]
    assert first.startswith("Text result T1 of mhdml (003_72cd4b33cee60b89.txt, Sec. 4.5, no table): "
                            "The single head attention obtained 86.6%")
    assert "| single head attention | 41.0 (86.6, Δ -45.6) | 30.5 (66.6, Δ -36.1) |" in markdown
