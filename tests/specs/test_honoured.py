"""Spec keys that would do nothing (issue 8, defect 10): on a cell the harness computes, every key
changes the computation or is refused by the plan with one line naming the file, the place and
the key; on rows nothing computes, the same keys stay descriptive.  And every key the re-ID
trainer is said to read does change the cell it trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dmlrepro.cells import cell_id, resolve_reid_cell
from dmlrepro.plan import build_plan
from dmlrepro.specs import PaperSpecError
from dmlrepro.specs.honoured import REID_READ_KEYS

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "paper_tables"
BASE = {"scale": "smoke", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None}


def _raw(paper: str) -> dict:
    return json.loads(json.dumps(yaml.safe_load((SPECS / f"{paper}.yaml").read_text())))


def _row(spec: dict, table: str, source_row: str) -> dict:
    return next(r for r in spec["tables"][table]["rows"] if r["source"]["row"] == source_row)


def _column(spec: dict, table: str, column_id: str) -> dict:
    return next(c for c in spec["tables"][table]["columns"] if c["id"] == column_id)


def _plan(tmp_path: Path, paper: str, spec: dict):
    # These tests change a table or figure to show the refusal of one key; the paper's claims,
    # which name that table's rows and columns, would be refused first, so they are left out.
    spec.pop("claims", None)
    (tmp_path / f"{paper}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    return build_plan(dict(BASE), spec_dir=tmp_path)


def _add_column(spec: dict, table: str, column: dict, value: float) -> None:
    spec["tables"][table]["columns"].append(column)
    for row in spec["tables"][table]["rows"]:
        row["reported"][column["id"]] = value


def _rename_column(spec: dict, table: str, old: str, new: dict) -> None:
    columns = spec["tables"][table]["columns"]
    index = next(i for i, c in enumerate(columns) if c["id"] == old)
    columns[index] = new
    for row in spec["tables"][table]["rows"]:
        row["reported"][new["id"]] = row["reported"].pop(old)


def _replace(item: dict, keys: dict, drop: tuple[str, ...] = ()) -> None:
    for key in drop:
        del item[key]
    item.update(keys)


PCB = "PCB [Sun et al., 2018]"

# (id, paper, mutation, the place and the words the one-line message must contain)
REFUSED = [
    ("task-of-the-paper", "csalr", lambda d: d.update(task="image_retrieval"),
     ["table1 row 4 'PCB [Sun et al., 2018]'", "task 'image_retrieval' does not train model 'pcb'"]),
    ("task-of-a-table", "csalr", lambda d: d["tables"]["table2"].update(task="patch_descriptor"),
     ["table2 row 1 'PCB + CSALR | 24'", "task 'patch_descriptor' does not train model 'pcb'"]),
    ("loss-on-pcb", "csalr", lambda d: _row(d, "table1", PCB)["cell"].update(loss={"triplet": 1.0}),
     [f"row 4 '{PCB}'", "loss {triplet: 1.0} does nothing", "{cross_entropy: 1.0}"]),
    ("loss-weight-on-pcb", "csalr", lambda d: d["defaults"].update(loss={"cross_entropy": 0.5}),
     ["table1 row 4", "loss {cross_entropy: 0.5} does nothing"]),
    ("backbone-on-pcb", "csalr", lambda d: _row(d, "table1", PCB)["cell"].update(backbone="googlenet"),
     [f"row 4 '{PCB}'", "backbone 'googlenet' does nothing", "resnet50"]),
    ("key-pcb-never-reads", "csalr", lambda d: d["defaults"].update(embedding_dim=512),
     ["table1 row 4", "embedding_dim: 512 does nothing in pcb"]),
    ("groups-on-sa", "csalr", lambda d: _row(d, "table1", "PCB + SA")["cell"].update(groups=2),
     ["table1 row 5 'PCB + SA'", "groups: 2 does nothing: attention 'sa' does not read it (groups is 1 there)"]),
    ("samples-without-attention", "csalr", lambda d: _row(d, "table4", "PCB | no")["cell"].update(samples=48),
     ["table4 row 1 'PCB | no'", "samples: 48 does nothing: attention 'none' does not read it"]),
    ("ds-lambda-without-deep-supervision", "csalr",
     lambda d: _row(d, "table2", "PCB + CSALR | 24")["cell"].update(deep_supervision=False, ds_lambda=0.5),
     ["table2 row 1 'PCB + CSALR | 24'", "ds_lambda: 0.5 does nothing: deep_supervision is off"]),
    ("ds-branch-without-attention", "csa",
     lambda d: _row(d, "table6", "PCB | —")["cell"].update(ds_branch="input_times_response"),
     ["table6 row 1 'PCB | —'", "ds_branch: 'input_times_response' does nothing"]),
    ("labeled-boxes", "csalr", lambda d: _column(d, "table1", "cuhk03np.rank1").update(boxes="labeled"),
     ["table1 row 4", "column 'cuhk03np.rank1'", "boxes: labeled cannot be honoured", "detected boxes only"]),
    ("multi-query", "csalr", lambda d: _column(d, "table2", "market1501.map").update(query_mode="multi_query"),
     ["table2 row 1", "column 'market1501.map'", "query_mode: multi_query cannot be honoured"]),
    ("train-dataset", "csalr", lambda d: _column(d, "table2", "dukemtmc.rank1").update(train_dataset="market1501"),
     ["column 'dukemtmc.rank1'", "train_dataset: market1501 cannot be honoured", "trains on the column's dataset (dukemtmc)"]),
    ("eval-dims", "csalr", lambda d: _column(d, "table3", "market1501.rank1").update(eval_dims=[1, 16]),
     ["table3 row 1", "eval_dims cannot be honoured"]),
    ("mean-of", "csalr",
     lambda d: _add_column(d, "table4", {"id": "mean.rank1", "metric": "rank1", "label": "Mean R-1",
                                         "mean_of": ["market1501.rank1", "dukemtmc.rank1"]}, 80.0),
     ["table4 row 1", "column 'mean.rank1'", "mean_of cannot be honoured"]),
    ("metric-the-evaluation-does-not-write", "csalr",
     lambda d: _rename_column(d, "table2", "market1501.rank1",
                              {"id": "market1501.rank20", "dataset": "market1501", "metric": "rank20", "label": "R-20"}),
     ["column 'market1501.rank20'", "metric 'rank20' is not computed by the re-ID evaluation"]),
    ("scope-on-an-accuracy-column", "csalr", lambda d: _column(d, "table2", "market1501.map").update(scope="network"),
     ["column 'market1501.map'", "scope applies to resource columns only"]),
    ("dataset-on-a-resource-column", "csalr",
     lambda d: _rename_column(d, "table5", "memory_mb",
                              {"id": "market1501.memory_mb", "dataset": "market1501", "metric": "memory_mb", "label": "Memory"}),
     ["table5 row 1 'PCB | —'", "column 'market1501.memory_mb'", "dataset does nothing on a resource column"]),
    ("scope-pcb-does-not-report", "csalr", lambda d: _column(d, "table5", "fps").update(scope="attention_module"),
     ["table5 row 1", "column 'fps'", "scope 'attention_module' is not reported for pcb rows"]),
    ("learner-examples-of-another-model", "csalr", lambda d: d["figures"]["fig4"].update(kind="learner_examples"),
     ["fig4 on market1501: model 'pcb'", "a figure of kind 'learner_examples' shows the queries of each of several "
      "Divide and Conquer learners"]),
    ("bar-chart-of-one-model", "csalr", lambda d: d["figures"]["fig4"].update(kind="bar_chart"),
     ["fig4: cell does nothing for a figure of kind 'bar_chart'"]),
    ("bar-chart-without-series", "csalr",
     lambda d: _replace(d["figures"]["fig4"], {"kind": "bar_chart", "metric": "rank1"}, drop=("cell",)),
     ["fig4: a figure of kind 'bar_chart' needs `series`"]),
    ("figure-of-another-attention", "csalr", lambda d: d["figures"]["fig4"].update(cell={"attention": "sa", "groups": 1}),
     ["fig4 on market1501: attention 'sa': a figure of kind 'attention_maps' draws csalr, csa, soa"]),
    ("training-curve-of-a-reid-model", "csalr",
     lambda d: d["figures"].update(fig4={"number": 4, "caption": "c", "kind": "training_curve", "dataset": "market1501",
                                         "metric": "rank1", "series": [{"label": "PCB", "cell": {}}]}),
     ["fig4 series 'PCB' on market1501: task 'reid' records no evaluation per epoch"]),
    ("soa-maps-without-soa", "mhdml", lambda d: d["figures"]["fig6"].update(cell={"attention": "none"}),
     ["fig6 on cars196: attention 'none': a figure of kind 'attention_maps' draws csalr, csa, soa"]),
    ("rankings-with-series", "mhdml", lambda d: d["figures"]["fig4"].update(series=[{"label": "x", "cell": {}}]),
     ["fig4: series does nothing for a figure of kind 'ranking_examples'"]),
    ("training-curve-with-x", "mhdml", lambda d: d["figures"]["fig1"].update(x={"key": "epoch", "values": [1, 20]}),
     ["fig1: x does nothing for a figure of kind 'training_curve'"]),
    ("sweep-without-x", "mhdml", lambda d: d["figures"]["fig8"].pop("x"),
     ["fig8: a sweep_curve needs `x`"]),
    ("sweep-over-embedding-slices", "mhdml",
     lambda d: d["figures"]["fig8"].update(x={"key": "eval_dims_first", "values": [16, 32]}),
     ["fig8 series 'Ours' on cars196 at eval_dims_first = 16: eval_dims_first: 16 does nothing in the multi-head trainer"]),
    ("figure-metric-the-evaluation-does-not-write", "mhdml", lambda d: d["figures"]["fig7"].update(metric="map"),
     ["fig7: metric 'map' is not computed by the"]),
    ("figure-series-key-the-model-ignores", "mhdml",
     lambda d: d["figures"]["fig5"]["panels"][0]["series"][0]["cell"].update(pooling="gap"),
     ["fig5 panel a series 'Global' on cars196: pooling 'gap'"]),
    ("figure-panel-key-its-kind-ignores", "mhdml",
     lambda d: _replace(d["figures"]["fig1"], {"panels": [{"panel": "a", "dataset": "cars196", "metric": "recall@1",
                                                           "x": {"key": "embedding_dim", "values": [64]},
                                                           "series": [{"label": "Ours", "cell": {}}]}]},
                        drop=("dataset", "metric", "series")),
     ["fig1: panel a: x does nothing for a figure of kind 'training_curve'"]),
    ("figure-key-the-renderer-ignores", "csalr", lambda d: d["figures"]["fig4"].update(metric="rank1"),
     ["fig4: metric does nothing for a figure of kind 'attention_maps'"]),
    ("aianet-key-its-attention-does-not-read", "aianet",
     lambda d: _row(d, "table8", "Lin-attention")["cell"].update(c_prime=960),
     ["table8 row 1 'Lin-attention'", "c_prime: 960 does nothing: attention 'lin' does not read it"]),
    ("aianet-key-it-never-reads", "aianet", lambda d: _row(d, "table8", "SoP-attention")["cell"].update(samples=96),
     ["table8 row 2 'SoP-attention'", "samples: 96 does nothing in aianet"]),
]


@pytest.mark.parametrize("paper,mutate,expected", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_key_a_computed_cell_cannot_honour_is_refused_in_one_line(tmp_path, paper, mutate, expected):
    spec = _raw(paper)
    mutate(spec)
    with pytest.raises(PaperSpecError) as info:
        _plan(tmp_path, paper, spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / f"{paper}.yaml") + ": ")
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_the_papers_specs_plan_without_a_refusal():
    plan = build_plan(dict(BASE))
    assert {paper for paper, _ in plan.tables} >= {"csalr", "csa", "aianet"}


def test_keys_stay_descriptive_where_nothing_computes_them(tmp_path):
    """Reported-only rows and rows of a model without a trainer may describe the paper's setting:
    labeled boxes, multi-query, another task."""
    spec = _raw("csalr")
    table = spec["tables"]["table1"]
    for column in table["columns"]:
        if column["dataset"] == "cuhk03np":
            column["boxes"] = "labeled"
        if column["dataset"] == "market1501":
            column["query_mode"] = "multi_query"
    table["task"] = "image_retrieval"
    for row in table["rows"]:
        if "cell" in row:
            row["reported_only"] = "quoted"
            del row["cell"]
    plan = _plan(tmp_path, "csalr", spec)
    assert all(not cells for cells in plan.tables[("csalr", "table1")].cells.values())

    aianet = _raw("aianet")  # reported-only rows: their accuracy columns are not computed
    table = aianet["tables"]["table2"]
    for row in table["rows"]:
        row["reported_only"] = "quoted"
        del row["cell"]
    for column in table["columns"]:
        if "boxes" in column:
            column["boxes"] = "labeled"
    plan = build_plan(dict(BASE), spec_dir=_only(tmp_path, aianet))
    assert all(set(cells) <= {""} for cells in plan.tables[("aianet", "table2")].cells.values())


def _only(tmp_path: Path, aianet: dict) -> Path:
    directory = tmp_path / "aianet_only"
    directory.mkdir()
    (directory / "aianet.yaml").write_text(yaml.safe_dump(aianet, allow_unicode=True, sort_keys=False))
    return directory


def test_csa_rows_use_the_csa_papers_deep_supervision_branch():
    """CSA Eq. 8 (001): GAP + FC of the module's output; CSALR's rows keep GAP(x ⊙ y) (Eq. 18)."""
    plan = build_plan(dict(BASE))
    csa = [plan.resource_cells[cells[""]] for cells in plan.tables[("csa", "table6")].cells.values()]
    assert {c.get("ds_branch") for c in csa} == {"response"}
    csalr = [plan.cells[cid] for cells in plan.tables[("csalr", "table1")].cells.values() for cid in cells.values()]
    assert {c.get("ds_branch") for c in csalr if c["deep_supervision"]} == {"input_times_response"}


# Values that differ from the papers' defaults, per key the re-ID trainer reads (model, backbone
# and loss have one computable value or are covered by the model's own tests).
_CHANGED = {"samples": 48, "groups": 4, "bases": 16, "group_mode": "split_heads", "stages": [2],
            "deep_supervision": False, "ds_lambda": 0.5, "ds_branch": "response", "attention": "sa",
            "model": "pcb_rpp"}
_BASE_CELLS = {
    "samples": {"attention": "csalr", "samples": 96, "groups": 2},
    "bases": {"attention": "csa", "bases": 32, "groups": 2},
}


@pytest.mark.parametrize("key", sorted(REID_READ_KEYS - {"backbone", "loss"}))
def test_every_key_the_trainer_reads_changes_the_cell_it_trains(key):
    """Where a key is 'honoured': it reaches the resolved cell (cells.resolve_reid_cell), so its
    cell id, the job, and the model built from it differ."""
    scale = {"name": "smoke"}
    base = {"model": "pcb", "attention": "csalr", "samples": 96, "groups": 2, "stages": [1, 2, 3],
            "deep_supervision": True, "ds_lambda": 1.0, **_BASE_CELLS.get(key, {})}
    changed = {**base, key: _CHANGED[key]}
    assert cell_id(resolve_reid_cell(base, "market1501", scale, "")) != cell_id(
        resolve_reid_cell(changed, "market1501", scale, ""))


def _schema_figure_kinds() -> list[str]:
    from dmlrepro.specs import spec_schema_path

    return yaml.safe_load(spec_schema_path().read_text())["$defs"]["figure_kind"]["enum"]


@pytest.mark.parametrize("kind", _schema_figure_kinds())
def test_every_figure_kind_is_drawn_by_a_module_or_refused(kind):
    """A kind of the schema either has a renderer module with a `main` (what the workflow runs)
    or is refused by figure_problem, naming the kinds that are drawn."""
    import importlib

    from dmlrepro.specs.honoured import ATTENTION_MAP_RENDERERS, DRAWN_FIGURES, figure_problem

    if kind not in DRAWN_FIGURES:
        problem = figure_problem({"number": 1, "caption": "c", "kind": kind, "dataset": "sop", "cell": {}})
        assert problem is not None and f"kind {kind!r} has no renderer yet" in problem
        return
    modules = ATTENTION_MAP_RENDERERS.values() if kind == "attention_maps" else [DRAWN_FIGURES[kind]]
    for module in modules:
        imported = importlib.import_module(f"dmlrepro.figures.{module}")
        assert callable(getattr(imported, "main", None) or getattr(imported, "draw", None))
