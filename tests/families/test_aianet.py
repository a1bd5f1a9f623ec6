"""AiA-Net's family (dmlrepro.families.aianet): per-dataset defaults resolved from the dataset,
keys refused when they do nothing, the plan computing Table 3's accuracy columns."""

from __future__ import annotations

import copy

import pytest
import yaml

from dmlrepro.config import resolve_scale
from dmlrepro.families.aianet import AiANetFamily, dataset_default
from dmlrepro.specs.paper_spec import resolve_cell
from dmlrepro.tasks.registry import _spec_path

FAMILY = AiANetFamily()
SPEC = yaml.safe_load(_spec_path("aianet").read_text())


def _row(table: str, label: str) -> dict:
    return next(r for r in SPEC["tables"][table]["rows"] if r["label"][0] == label)


def _cell(table: str, label: str, dataset: str, scale: str = "paper") -> dict:
    paper_cell = resolve_cell(SPEC, _row(table, label), dataset)
    return FAMILY.resolve_cell(paper_cell, dataset, resolve_scale({"scale": scale}), "unused", "aianet")


def test_the_spec_dataset_defaults_are_the_rule_of_sec_4_4():
    for dataset, values in SPEC["dataset_defaults"].items():
        for key, value in values.items():
            assert dataset_default(dataset, key) == value, (dataset, key)
    assert (dataset_default("cuhk03np", "reduction"), dataset_default("market1501", "reduction")) == (8, 4)
    assert (dataset_default("dukemtmc", "c_prime"), dataset_default("msmt17", "c_prime")) == (960, 480)


def test_table4_sop_row_takes_r_margin_and_lr_from_each_dataset():
    from dmlrepro.training.aianet_parts import base_learning_rate

    cuhk = _cell("table4", "SoP-attention w/ AiA", "cuhk03np")
    market = _cell("table4", "SoP-attention w/ AiA", "market1501")
    assert (cuhk["model"]["reduction"], cuhk["triplet_margin"], base_learning_rate(cuhk["training"], "cuhk03np")) == (8, 1.5, 1e-3)
    assert (market["model"]["reduction"], market["triplet_margin"], base_learning_rate(market["training"], "market1501")) == (4, 1.0, 5e-4)
    # Table 5's r = 4 row on Market-1501 is the same experiment: one cell.
    table5 = SPEC["tables"].get("table5")
    if table5 is not None:
        r4 = next(r for r in table5["rows"] if r["label"][0] == "$r = 4$")
        cell = FAMILY.resolve_cell(resolve_cell(SPEC, r4, "market1501"), "market1501",
                                   resolve_scale({"scale": "paper"}), "unused", "aianet")
        assert FAMILY.cell_id(cell) == FAMILY.cell_id(market)


def test_an_explicit_r_overrides_the_dataset_default_and_cprime_is_dukes_own():
    gau = _cell("table4", "Gau-attention w/ AiA", "cuhk03np")
    assert (gau["model"]["reduction"], gau["model"]["c_prime"]) == (4, 480)
    duke = FAMILY.resolve_cell({"model": "aianet", "attention": "gau", "stages": [2]}, "dukemtmc",
                               resolve_scale({"scale": "paper"}), "unused", "aianet")
    assert (duke["model"]["reduction"], duke["model"]["c_prime"], duke["triplet_margin"]) == (4, 960, 1.0)


def test_inherited_keys_an_attention_does_not_read_are_dropped_and_own_ones_refused():
    lin = _cell("table3", "Lin-attention w/o AiA", "market1501")
    assert "c_prime" not in lin["model"] and lin["model"]["aia"] is False
    fa = _cell("table3", r"$\mathcal{F}_a$", "market1501")
    assert "stages" not in fa["model"] and "reduction" not in fa["model"] and "part_regions" not in fa["model"]
    paper_cell = {"model": "aianet", "attention": "lin", "stages": [2], "c_prime": 480}
    assert "c_prime: 480 does nothing" in FAMILY.cell_problem(paper_cell, {"c_prime": 480})
    assert "samples: 96 does nothing in aianet" in FAMILY.cell_problem({"model": "aianet", "samples": 96}, {})
    assert "needs its positions" in FAMILY.cell_problem({"model": "aianet", "attention": "gau"}, {})


def test_columns_name_boxes_that_match_their_dataset():
    assert FAMILY.column_problem({"dataset": "cuhk03np", "boxes": "detected", "metric": "map"}) is None
    assert "does not match" in FAMILY.column_problem({"dataset": "cuhk03np", "boxes": "labeled", "metric": "map"})
    assert "not computed" in FAMILY.column_problem({"dataset": "market1501", "metric": "rank50"})


def test_the_plan_computes_every_column_of_table3_with_one_cell_per_row_and_dataset():
    from dmlrepro.plan import build_plan

    plan = build_plan({"scale": "smoke", "seeds": [0], "device": "cpu", "pretrained": "auto", "papers": ["aianet"]})
    table = plan.tables[("aianet", "table3")]
    assert len(table.cells) == 10
    for cells in table.cells.values():
        assert set(cells) == {"", "cuhk03np", "market1501"}  # resources and both datasets' training
        for dataset in ("cuhk03np", "market1501"):
            cell = plan.cells[cells[dataset]]
            assert (cell["family"], cell["dataset"], cell["training"]["input_size"]) == ("aianet", dataset, [64, 32])
    ids = {cells["market1501"] for cells in table.cells.values()}
    assert len(ids) == 10


def test_pretrained_none_at_paper_scale_is_not_comparable():
    from dmlrepro.tables.comparability import paper_setting, setting_deviations

    cell = FAMILY.resolve_cell({"model": "aianet"}, "market1501", resolve_scale({"scale": "paper", "pretrained": "none"}),
                               "unused", "aianet")
    assert setting_deviations(cell["training"], paper_setting("aianet", "reid")) == ["backbone from scratch (paper ImageNet)"]
    tv = FAMILY.resolve_cell({"model": "aianet"}, "market1501", resolve_scale({"scale": "paper", "pretrained": "torchvision"}),
                             "unused", "aianet")
    assert tv["training"]["backbone"]["variant"] == "torchvision"
    words = setting_deviations(tv["training"], paper_setting("aianet", "reid"))
    assert any("variant torchvision" in w for w in words)
    paper = FAMILY.resolve_cell({"model": "aianet"}, "market1501", resolve_scale({"scale": "paper"}), "unused", "aianet")
    assert setting_deviations(paper["training"], paper_setting("aianet", "reid")) == []
