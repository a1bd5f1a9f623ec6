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
    csalr = set().union(*(cells_of(plan, t) for t in ("table1", "table2", "table3", "table4")))
    assert len(csalr) == 24 + 6 + 6 + 4


def mhdml_table_cells(plan, table):
    return {cid for by_dataset in plan.tables[("mhdml", table)].cells.values() for cid in by_dataset.values()}


def test_mhdml_trains_one_cell_per_own_row_and_dataset(plan):
    """Table 1: Ours at 64/128/512 on Cars-196 and CUB; Table 2: 3 on SOP; Table 3: 128/512 on In-Shop."""
    tables = set().union(*(mhdml_table_cells(plan, t) for t in ("table1", "table2", "table3")))
    retrieval = [plan.cells[c] for c in tables]
    assert len(retrieval) == 6 + 3 + 2
    assert {(c["dataset"], c["model"]["embedding_dim"]) for c in retrieval} == {
        (d, e) for d in ("cars196", "cub200", "sop") for e in (64, 128, 512)} | {("inshop", 128), ("inshop", 512)}
    assert all(c["training"]["optimizer"]["proxy_lr"] and c["loss"] == {"ms": 1.0, "proxy_anchor": 0.03} for c in retrieval)


# ---------------------------------------------------------------- MHDML's figures and text result

HYBRID = {"ms": 1.0, "proxy_anchor": 0.03}


def figure_cells(plan, figure):
    """(panel, series label, dataset, x) → the cell of every point of an MHDML figure."""
    figure_plan = plan.figures[("mhdml", figure)]
    out = {}
    for point, cid in figure_plan.points.items():
        plot = next(p for p in figure_plan.plots() if p.get("panel") == point.panel)
        label = None if point.series is None else plot["series"][point.series]["label"]
        out[(point.panel, label, point.dataset, point.x)] = plan.cells[cid] | {"id": cid}
    return out


def table1_d512(plan):
    """Table 1's 'Ours 512' cell per dataset."""
    row = next(i for i, r in enumerate(plan.tables[("mhdml", "table1")].spec["rows"]) if r["source"]["row"] == "Ours 512")
    return plan.tables[("mhdml", "table1")].cells[row]


def test_figure5_needs_local_global_both_and_soa_off_and_shares_the_table1_cell(plan):
    points = figure_cells(plan, "fig5")
    assert len(points) == 5 * 2
    heads = {(panel, label): {(c["model"]["heads"], c["model"]["soa"], c["model"]["embedding_dim"], tuple(c["loss"].items()))}
             for (panel, label, _, _), c in points.items()}
    assert heads[("a", "Global")] == {("global", True, 512, tuple(HYBRID.items()))}
    assert heads[("a", "Local")] == {("local", True, 512, tuple(HYBRID.items()))}
    assert heads[("b", "w/o SOA")] == {("both", False, 512, tuple(HYBRID.items()))}
    shared = table1_d512(plan)
    for dataset in ("cars196", "cub200"):
        assert points[("a", "Global + Local", dataset, None)]["id"] == points[("b", "w/ SOA", dataset, None)]["id"] == shared[dataset]
    assert len(plan.figures[("mhdml", "fig5")].cells) == 8  # the shared model counted once per dataset


def test_figure7_is_the_three_losses_and_its_hybrid_is_table1s(plan):
    points = figure_cells(plan, "fig7")
    assert {label: c["loss"] for (_, label, d, _), c in points.items() if d == "cars196"} == {
        "MS": {"ms": 1.0}, "Proxy-Anchor": {"proxy_anchor": 1.0}, "Hybrid (Ours)": HYBRID}
    assert {d: c["id"] for (_, label, d, _), c in points.items() if label == "Hybrid (Ours)"} == table1_d512(plan)
    assert all(c["model"] == {"heads": "both", "soa": True, "embedding_dim": 512} for c in points.values())


def test_figure8_sweeps_every_embedding_size_and_shares_table1s_rows(plan):
    points = figure_cells(plan, "fig8")
    assert sorted({(d, x) for (_, _, d, x) in points}) == [
        (d, x) for d in ("cars196", "cub200") for x in (64, 128, 256, 512, 1024, 2048)]
    assert all(c["model"]["embedding_dim"] == x for (_, _, _, x), c in points.items())
    table1 = mhdml_table_cells(plan, "table1")
    assert {c["id"] for (_, _, _, x), c in points.items() if x in (64, 128, 512)} == table1
    assert not {c["id"] for (_, _, _, x), c in points.items() if x not in (64, 128, 512)} & table1


def test_figure1_curves_are_cells_of_their_own_that_evaluate_every_epoch(plan):
    points = figure_cells(plan, "fig1")
    assert {label: c["loss"] for (_, label, _, _), c in points.items()} == {
        "Ours (MS + Proxy-Anchor)": HYBRID, "Proxy-Anchor": {"proxy_anchor": 1.0}, "MS": {"ms": 1.0}}
    assert {d for (_, _, d, _) in points} == {"cars196"}
    fig7 = {c["loss"]["proxy_anchor"] if "proxy_anchor" in c["loss"] else "ms": c for c in figure_cells(plan, "fig7").values()
            if c["dataset"] == "cars196"}
    for c in points.values():
        assert c["eval_every_epoch"] is True
        twin = fig7[c["loss"]["proxy_anchor"] if "proxy_anchor" in c["loss"] else "ms"]
        assert {k: v for k, v in c.items() if k not in ("eval_every_epoch", "id")} == {k: v for k, v in twin.items() if k != "id"}
        assert c["id"] != twin["id"]


def test_qualitative_figures_draw_the_512d_cells_of_the_tables(plan):
    shared = {**table1_d512(plan)}
    for table, dataset in (("table2", "sop"), ("table3", "inshop")):
        shared[dataset] = next(by[dataset] for i, by in plan.tables[("mhdml", table)].cells.items()
                               if plan.tables[("mhdml", table)].spec["rows"][i]["source"]["row"] == "Ours 512")
    fig4 = plan.figures[("mhdml", "fig4")]
    assert fig4.renderer == "ranking_examples"
    assert {p.dataset: cid for p, cid in fig4.points.items()} == shared
    fig6 = plan.figures[("mhdml", "fig6")]
    assert fig6.renderer == "soa_maps"
    assert {p.dataset: cid for p, cid in fig6.points.items()} == table1_d512(plan)
    assert plan.figures[("csalr", "fig4")].renderer == "attention_maps"
    assert plan.figures[("csalr", "fig4")].cell in cells_of(plan, "table1")


def test_the_single_head_text_result_trains_single_and_reuses_table1(plan):
    table = plan.tables[("mhdml", "tableT1")]
    single, multi = table.cells[0], table.cells[1]
    assert {plan.cells[c]["model"]["heads"] for c in single.values()} == {"single"}
    assert {plan.cells[c]["model"]["embedding_dim"] for c in single.values()} == {512}
    assert multi == table1_d512(plan)


def test_every_mhdml_cell_is_needed_by_a_table_or_a_figure_and_counted_once(plan):
    """11 table cells, 2 single-head cells, and the figures' own: 4 (Fig. 5a) + 2 (5b) + 4 (7) +
    6 (8) + 3 (1)."""
    needed = set().union(*(mhdml_table_cells(plan, t) for t in ("table1", "table2", "table3", "tableT1")),
                         *(f.cells for (p, _), f in plan.figures.items() if p == "mhdml"))
    retrieval = {cid for cid, c in plan.cells.items() if c["task"] == "image_retrieval" and c["paper"] == "mhdml"}
    assert needed == retrieval
    assert len(retrieval) == 11 + 2 + 4 + 2 + 4 + 6 + 3


def test_mhdml_figure_and_text_targets_come_from_the_plan(plan):
    names = plan.target_names()
    for name in ("mhdml_fig1", "mhdml_fig4", "mhdml_fig5", "mhdml_fig6", "mhdml_fig7", "mhdml_fig8", "mhdml_tableT1"):
        assert name in names


def _mhdml_spec():
    import json as _json

    import yaml

    from dmlrepro.plan import SPEC_DIR

    return _json.loads(_json.dumps(yaml.safe_load((SPEC_DIR / "mhdml.yaml").read_text())))


def test_a_figure_of_models_without_a_trainer_waits_and_a_mixed_one_is_refused(tmp_path):
    from dmlrepro.specs import PaperSpecError

    spec = _mhdml_spec()
    spec.pop("claims", None)  # they name fig7's series, which this test replaces
    spec["figures"]["fig7"]["series"] = [{"label": "AiA-Net-V", "cell": {"model": "aianet_v"}}]  # no retrieval trainer
    (tmp_path / "mhdml.yaml").write_text(__import__("yaml").safe_dump(spec, sort_keys=False))
    assert ("mhdml", "fig7") not in build_plan(dict(BASE), spec_dir=tmp_path).figures
    spec["figures"]["fig7"]["series"].append({"label": "Ours", "cell": {}})
    (tmp_path / "mhdml.yaml").write_text(__import__("yaml").safe_dump(spec, sort_keys=False))
    with pytest.raises(PaperSpecError, match="fig7 series 'AiA-Net-V' on cars196: task 'image_retrieval' has no trainer"):
        build_plan(dict(BASE), spec_dir=tmp_path)


def test_plain_pcb_is_one_cell_whatever_the_defaults_say(plan):
    plain = {cid for cid, c in plan.cells.items() if c["task"] == "reid" and "family" not in c
             and c["attention"] == "none" and c["model"] == "pcb"}
    assert len(plain) == 3  # one per Table 1 dataset; Table 4's "PCB no" reuses two of them
    assert all(plan.cells[c]["attention_params"] == {} for c in plain)


def test_targets_include_tables_papers_and_figures(plan):
    names = plan.target_names()
    for name in ("all", "table1", "table5", "tableT1", "csalr", "csalr_table2", "csalr_fig4"):
        assert name in names


def test_scale_changes_cell_ids(plan, tmp_path):
    paper = build_plan({**BASE, "scale": "paper", "data_root": str(tmp_path)})
    assert not set(paper.cells) & set(plan.cells)
    # smoke runs the first max_splits of a column averaged over splits (AiA-Net Table 9), paper all
    cap = plan.scale["max_splits"]
    assert len([c for c in paper.cells.values() if c.get("split", 0) < cap]) == len(plan.cells)


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
