"""CSA re-ID Tables 1–5 and Figure 5 (001_5fbd5da13318fd56.txt) in the plan: the cells each table
needs (rows the PCB family trains × the table's datasets), the paper's defaults (32 base maps per
group, 2 groups, stages 1–3, Eq. 8's deep-supervision branch), one job per configuration shared
between tables and with CSALR's identical cells, and one-line refusals of keys the family ignores."""

from __future__ import annotations

import copy

import pytest
import yaml

from dmlrepro.plan import SPEC_DIR, build_plan
from dmlrepro.specs import PaperSpecError

BASE = {"scale": "smoke", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None,
        "papers": ["csa", "csalr"]}
DATASETS3 = ("cuhk03np", "dukemtmc", "market1501")


@pytest.fixture(scope="module")
def plan():
    return build_plan(dict(BASE))


def cells_of(plan, paper, table):
    """row label → {dataset: cell id} of a table's trained rows."""
    table_plan = plan.tables[(paper, table)]
    rows = table_plan.spec["rows"]
    return {" | ".join(rows[i]["label"]): by for i, by in table_plan.cells.items() if by}


def ids(plan, paper, table):
    return {cid for by in cells_of(plan, paper, table).values() for cid in by.values()}


def test_every_table_trains_its_pcb_rows_on_its_datasets(plan):
    """Table 1: 6 PCB-family rows × 3 datasets (HA-CNN, DuATM, Mancs reported only); Tables 2–5:
    4 rows × Market-1501 and DukeMTMC-reID; 38 distinct cells in all."""
    table1 = cells_of(plan, "csa", "table1")
    assert sorted(table1) == sorted(["PCB (Sun et al. 2018)", "PCB + SA", "PCB + CSA", "PCB-RPP (Sun et al. 2018)",
                                     "PCB-RPP + SA", "PCB-RPP + CSA"])
    assert all(sorted(by) == list(DATASETS3) for by in table1.values())
    counts = {t: len(ids(plan, "csa", t)) for t in ("table1", "table2", "table3", "table4", "table5")}
    assert counts == {"table1": 18, "table2": 8, "table3": 8, "table4": 8, "table5": 8}
    assert len(set().union(*(ids(plan, "csa", t) for t in counts))) == 18 + 3 * 2 + 3 * 2 + 2 * 2 + 2 * 2
    spec = plan.specs["csa"]["tables"]["table1"]
    assert [r["label"][0] for r in spec["rows"] if "reported_only" in r] == [
        "HA-CNN (Li, Zhu, and Gong 2018)", "DuATM (Si et al. 2018)", "Mancs (Wang et al. 2018a)"]


def test_the_default_cell_is_the_papers_setting_and_one_job_for_all_tables_and_figure5(plan):
    default = cells_of(plan, "csa", "table1")["PCB + CSA"]
    cell = plan.cells[default["market1501"]]
    assert cell["attention"] == "csa" and cell["model"] == "pcb"
    assert cell["attention_params"] == {"bases": 32, "groups": 2, "group_mode": "partition"}
    assert cell["stages"] == [1, 2, 3] and cell["deep_supervision"] and cell["ds_lambda"] == 1.0
    assert cell["ds_branch"] == "response"  # Eq. 8: GAP and FC of the module's output
    for table, row in (("table2", "PCB + CSA | 32"), ("table3", "PCB + CSA | 2"),
                       ("table4", "PCB + CSA | 1st,2nd,3rd stages"), ("table5", "PCB + CSA | yes")):
        assert cells_of(plan, "csa", table)[row] == {d: default[d] for d in ("dukemtmc", "market1501")}
    figure = plan.figures[("csa", "fig5")]
    assert figure.cell == default["market1501"] and figure.renderer == "csa_maps"
    rpp = cells_of(plan, "csa", "table1")["PCB-RPP + CSA"]
    assert cells_of(plan, "csa", "table5")["PCB-RPP + CSA | yes"] == {d: rpp[d] for d in ("dukemtmc", "market1501")}
    assert cells_of(plan, "csa", "table4")["PCB | no"] == {
        d: cells_of(plan, "csa", "table1")["PCB (Sun et al. 2018)"][d] for d in ("dukemtmc", "market1501")}


def _differences(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


@pytest.mark.parametrize("table, row, key, values", [
    ("table2", "PCB + CSA | 8", "attention_params", ({"bases": 8, "groups": 2, "group_mode": "partition"},)),
    ("table2", "PCB + CSA | 64", "attention_params", ({"bases": 64, "groups": 2, "group_mode": "partition"},)),
    ("table3", "PCB + CSA | 8", "attention_params", ({"bases": 32, "groups": 8, "group_mode": "partition"},)),
    ("table4", "PCB + CSA | 1st stage", "stages", ([1],)),
    ("table4", "PCB + CSA | 2nd,3rd stages", "stages", ([2, 3],)),
])
def test_each_ablation_changes_only_its_parameter(plan, table, row, key, values):
    default = plan.cells[cells_of(plan, "csa", "table1")["PCB + CSA"]["market1501"]]
    cell = plan.cells[cells_of(plan, "csa", table)[row]["market1501"]]
    assert _differences(cell, default) == {key: (values[0], default[key])}


def test_without_deep_supervision_the_branch_and_its_weight_go(plan):
    default = plan.cells[cells_of(plan, "csa", "table1")["PCB + CSA"]["dukemtmc"]]
    cell = plan.cells[cells_of(plan, "csa", "table5")["PCB + CSA | no"]["dukemtmc"]]
    assert _differences(cell, default) == {"deep_supervision": (False, True), "ds_branch": (None, "response")}
    rpp = plan.cells[cells_of(plan, "csa", "table5")["PCB-RPP + CSA | no"]["dukemtmc"]]
    assert rpp["model"] == "pcb_rpp" and not rpp["deep_supervision"] and rpp["attention"] == "csa"


def test_sa_rows_keep_this_papers_branch_and_one_group(plan):
    sa = plan.cells[cells_of(plan, "csa", "table1")["PCB + SA"]["cuhk03np"]]
    assert sa["attention"] == "sa" and sa["attention_params"] == {} and sa["ds_branch"] == "response"
    assert sa["stages"] == [1, 2, 3] and sa["deep_supervision"]


def test_cells_identical_to_csalrs_are_one_job_and_the_others_are_not(plan):
    """PCB and PCB-RPP without attention are the same configuration in both papers: CSALR's cells.
    The CSA and SA rows differ from CSALR Table 1's in the deep-supervision branch only (CSALR's
    GAP(x ⊙ y) vs this paper's GAP(y)), so they are cells of their own."""
    csa1, csalr1 = cells_of(plan, "csa", "table1"), cells_of(plan, "csalr", "table1")
    assert csa1["PCB (Sun et al. 2018)"] == csalr1["PCB [Sun et al., 2018]"]
    assert csa1["PCB-RPP (Sun et al. 2018)"] == csalr1["PCB-RPP [Sun et al., 2018]"]
    shared = set().union(*(ids(plan, "csa", t) for t in ("table1", "table2", "table3", "table4", "table5")))
    shared &= set().union(*(ids(plan, "csalr", t) for t in ("table1", "table2", "table3", "table4")))
    assert len(shared) == 6 and all(plan.cells[c]["attention"] == "none" for c in shared)
    for ours, theirs in (("PCB + CSA", "PCB + CSA [Chen et al., 2020]"), ("PCB-RPP + CSA", "PCB-RPP + CSA [Chen et al., 2020]"),
                         ("PCB + SA", "PCB + SA"), ("PCB-RPP + SA", "PCB-RPP + SA")):
        for dataset in DATASETS3:
            a, b = plan.cells[csa1[ours][dataset]], plan.cells[csalr1[theirs][dataset]]
            assert _differences(a, b) == {"ds_branch": ("response", "input_times_response")}


def test_csa_targets_come_from_the_plan(plan):
    names = plan.target_names()
    for name in ("csa", "csa_table1", "csa_table2", "csa_table3", "csa_table4", "csa_table5", "csa_fig5"):
        assert name in names


def _plan_with(tmp_path, mutate):
    spec = yaml.safe_load((SPEC_DIR / "csa.yaml").read_text())
    spec = copy.deepcopy(spec)
    mutate(spec)
    (tmp_path / "csa.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return build_plan({**BASE, "papers": ["csa"]}, spec_dir=tmp_path)


def _row(spec, table, label):
    return next(r for r in spec["tables"][table]["rows"] if " | ".join(r["label"]) == label)


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: _row(s, "table1", "PCB + SA")["cell"].update(bases=16),
     ["csa.yaml: table1", "PCB + SA", "bases: 16 does nothing: attention 'sa' does not read it"]),
    (lambda s: _row(s, "table2", "PCB + CSA | 8")["cell"].update(samples=96),
     ["table2", "PCB + CSA | 8", "samples: 96 does nothing: attention 'csa' does not read it"]),
    (lambda s: _row(s, "table5", "PCB + CSA | no")["cell"].update(ds_branch="input_times_response"),
     ["table5", "PCB + CSA | no", "ds_branch", "deep_supervision is off"]),
    (lambda s: _row(s, "table1", "PCB (Sun et al. 2018)")["cell"].update(groups=2),
     ["table1", "PCB (Sun et al. 2018)", "groups: 2 does nothing: attention 'none' does not read it"]),
    (lambda s: _row(s, "table4", "PCB + CSA | 1st stage")["cell"].update(backbone="densenet"),
     ["table4", "1st stage", "backbone 'densenet' does nothing"]),
    (lambda s: s["tables"]["table1"]["columns"][8].update(boxes="labeled"),
     ["table1", "cuhk03np.rank1", "boxes: labeled cannot be honoured"]),
    (lambda s: s["tables"]["table1"]["columns"][0].update(query_mode="multi_query"),
     ["table1", "market1501.rank1", "query_mode: multi_query cannot be honoured"]),
    (lambda s: s["figures"]["fig5"].update(cell={"attention": "sa", "groups": 1}),
     ["fig5 on market1501", "attention 'sa'", "draws csalr, csa, soa,"]),
])
def test_keys_the_pcb_family_does_not_honour_are_refused_in_one_line(tmp_path, mutate, expected):
    with pytest.raises(PaperSpecError) as info:
        _plan_with(tmp_path, mutate)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message
