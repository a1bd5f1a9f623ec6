"""The plan: paper specs → cells.  A cell shared by several tables is one job."""

from __future__ import annotations

import pytest

from dmlrepro.config import ConfigError
from dmlrepro.plan import build_plan

BASE = {"scale": "smoke", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None}


@pytest.fixture(scope="module")
def plan():
    return build_plan(dict(BASE))


def cells_of(plan, table):
    return {cid for by_dataset in plan.tables[("csalr", table)].cells.values() for cid in by_dataset.values()}


def test_table2_has_one_cell_per_sample_num_and_dataset(plan):
    cells = cells_of(plan, "table2")
    assert len(cells) == 4 * 2
    samples = sorted({(plan.cells[c]["dataset"], plan.cells[c]["attention_params"]["samples"]) for c in cells})
    assert samples == [(d, s) for d in ("dukemtmc", "market1501") for s in (24, 48, 96, 192)]


def test_the_default_cell_is_shared_by_tables_1_to_4(plan):
    shared = cells_of(plan, "table1") & cells_of(plan, "table2") & cells_of(plan, "table3") & cells_of(plan, "table4")
    assert len(shared) == 2  # PCB + CSALR 96/2/stages 1-3 on Market and Duke
    for cid in shared:
        cell = plan.cells[cid]
        assert cell["attention_params"] == {"samples": 96, "groups": 2, "group_mode": "partition"}
        assert cell["stages"] == [1, 2, 3]


def test_csalr_trains_forty_distinct_cells(plan):
    """Table 1: 8 rows × 3 datasets; Table 2–4 add 3 + 3 + 2 new rows on 2 datasets."""
    assert len([c for c in plan.cells.values() if c["task"] == "reid"]) == 24 + 6 + 6 + 4


def test_mhdml_trains_one_cell_per_own_row_and_dataset(plan):
    """Table 1: Ours at 64/128/512 on Cars-196 and CUB; Table 2: 3 on SOP; Table 3: 128/512 on In-Shop."""
    retrieval = [c for c in plan.cells.values() if c["task"] == "image_retrieval"]
    assert len(retrieval) == 6 + 3 + 2
    assert {(c["dataset"], c["model"]["embedding_dim"]) for c in retrieval} == {
        (d, e) for d in ("cars196", "cub200", "sop") for e in (64, 128, 512)} | {("inshop", 128), ("inshop", 512)}
    assert all(c["training"]["optimizer"]["proxy_lr"] and c["loss"] == {"ms": 1.0, "proxy_anchor": 0.03} for c in retrieval)


def test_plain_pcb_is_one_cell_whatever_the_defaults_say(plan):
    plain = {cid for cid, c in plan.cells.items() if c["task"] == "reid" and c["attention"] == "none" and c["model"] == "pcb"}
    assert len(plain) == 3  # one per Table 1 dataset; Table 4's "PCB no" reuses two of them
    assert all(plan.cells[c]["attention_params"] == {} for c in plain)


def test_targets_include_tables_papers_and_figures(plan):
    names = plan.target_names()
    for name in ("all", "table1", "table5", "csalr", "csalr_table2", "csalr_fig4"):
        assert name in names


def test_scale_changes_cell_ids(plan, tmp_path):
    paper = build_plan({**BASE, "scale": "paper", "data_root": str(tmp_path)})
    assert not set(paper.cells) & set(plan.cells)
    assert len(paper.cells) == len(plan.cells)


@pytest.mark.parametrize(
    "override, message",
    [
        ({"scale": "huge"}, "scale"),
        ({"seeds": []}, "seeds"),
        ({"device": "tpu"}, "device"),
        ({"papers": ["nope"]}, "papers"),
        ({"unknown_key": 1}, "unknown_key"),
        ({"data_root": "/nonexistent/reid"}, "/nonexistent/reid is not a directory"),
    ],
)
def test_invalid_config_is_rejected_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        build_plan({**BASE, **override})


def test_seeds_given_on_the_command_line_as_strings_are_integers():
    assert build_plan({**BASE, "seeds": ["0", "1", "2"]}).config["seeds"] == [0, 1, 2]
    assert build_plan({**BASE, "seeds": "0,1"}).config["seeds"] == [0, 1]


def test_planning_does_not_load_torch():
    """Every Snakemake job re-parses the workflow and so builds the plan: the measurers' declarations
    (what they measure, which keys they honour) must come without torch and the models."""
    import subprocess
    import sys

    from dmlrepro.resources.peak_memory import child_process_env

    done = subprocess.run([sys.executable, "-c", "import sys, dmlrepro.plan; from dmlrepro.resources.registry import "
                           "list_measurers; print(list_measurers(), 'torch' in sys.modules)"],
                          env=child_process_env(0), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['aianet', 'pcb', 'pcb_rpp'] False"


def test_a_row_no_measurer_can_measure_is_left_out_of_the_plan(tmp_path):
    """A resource row of a model without a measurer is not computed (it shows as such in its
    table) instead of failing in its job."""
    import json as _json

    import yaml

    from dmlrepro.plan import SPEC_DIR

    spec = _json.loads(_json.dumps(yaml.safe_load((SPEC_DIR / "aianet.yaml").read_text())))
    row = spec["tables"]["table8"]["rows"][0]
    row["cell"] = {"model": "mhdml", "attention": "soa"}
    (tmp_path / "aianet.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    plan = build_plan(dict(BASE), spec_dir=tmp_path)
    assert plan.tables[("aianet", "table8")].cells[0] == {}
    assert all(c.get("model") != "mhdml" for c in plan.resource_cells.values())
