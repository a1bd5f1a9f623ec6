"""The Divide and Conquer families (families/dces.py, dces_reid.py): the plan gives Table S1 one cell
per printed column (Baseline, Ours) that every protocol column reads, Figs. S1-S2 reuse those cells,
Table S2 trains two Market-1501 cells; bad input is refused in one line before any job runs."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from dmlrepro.config import REPO_ROOT
from dmlrepro.errors import UserError
from dmlrepro.plan import build_plan
from dmlrepro.specs import PaperSpecError
from dmlrepro.tasks import get_task
from dmlrepro.tasks.family import family_named
from dmlrepro.training.dces_parts import evaluate_dces_retrieval

SPEC = REPO_ROOT / "paper_tables" / "dces.yaml"


def _config(**extra) -> dict:
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    return {**config, "scale": "tiny", "papers": ["dces"], **extra}


@pytest.fixture(scope="module")
def plan():
    return build_plan(_config())


def test_table_s1_has_one_cell_per_model_read_by_every_protocol_column(plan):
    table = plan.tables[("dces", "tableS1")]
    baseline, ours = (table.cells[i]["sop"] for i in (0, 1))
    assert plan.cells[baseline]["model"] == {"embedding_dim": 128, "num_learners": 1}
    assert plan.cells[ours]["model"] == {"embedding_dim": 128, "num_learners": 8}
    assert plan.cells[ours]["recluster_every"] == 2 and plan.cells[baseline]["recluster_every"] is None
    family = family_named("image_retrieval", "dces")
    protocols = {c.get("protocol") for c in table.spec["columns"]} - {None}
    assert protocols <= set(family.protocols("sop")) and len(protocols) == 9


def test_figures_reuse_the_table_cells_and_table_s2_trains_two_market_cells(plan):
    s1 = plan.tables[("dces", "tableS1")].cells
    fig_s2 = plan.figures[("dces", "figS2")]
    assert set(fig_s2.cells) == {s1[0]["sop"], s1[1]["sop"]} and len(fig_s2.points) == 4 * 2 * 8
    assert plan.figures[("dces", "figS1")].cells == [s1[1]["sop"]]
    assert plan.figures[("dces", "figS1")].renderer == "learner_examples"
    s2 = plan.tables[("dces", "tableS2")].cells
    assert sorted(s2) == [6, 7] and {plan.cells[s2[i]["market1501"]]["task"] for i in (6, 7)} == {"reid"}
    assert {n for n in plan.target_names() if n.startswith("dces")} == {
        "dces", "dces_tableS1", "dces_tableS2", "dces_figS1", "dces_figS2"}


def test_every_table_s1_column_reads_a_number_from_one_evaluation(plan):
    """One metrics record (one embedding pass) answers all 11 printed rows of Tab. S1."""
    x = torch.randn(60, 128, generator=torch.Generator().manual_seed(1))
    metrics = evaluate_dces_retrieval(x, (torch.arange(60) // 3).tolist(), None, None, 8, (1, 10))
    task = get_task("image_retrieval")
    values = [task.metric({"metrics": metrics}, c) for c in plan.tables[("dces", "tableS1")].spec["columns"]]
    assert all(isinstance(v, float) for v in values)
    assert values[-1] == metrics["corr_coeff"] and values[-2] == metrics["recall@1"]


def _plan_with(tmp_path, edit):
    spec = yaml.safe_load(SPEC.read_text())
    spec.pop("claims", None)  # they name the columns and figure x values these edits change
    edit(spec)
    (tmp_path / "dces.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False))
    return build_plan(_config(), spec_dir=tmp_path)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["tables"]["tableS1"]["columns"][0].update(protocol="dims@1-17"),
     "protocol 'dims@1-17' is not evaluated by the dces family"),
    (lambda s: s["tables"]["tableS1"]["rows"][1]["cell"].update(pooling="gap"),
     "pooling: 'gap' does nothing in the Divide and Conquer trainer"),
    (lambda s: s["tables"]["tableS2"]["rows"][7]["cell"].update(loss={"triplet": 1.0}),
     "the Divide and Conquer trainer computes the Margin loss only"),
    (lambda s: s["figures"]["figS2"]["panels"][0]["x"].update(values=[16, 20]),
     "eval_dims_first 20: the evaluation computes the first m dimensions for m = 16, 32, ..., 128"),
])
def test_keys_the_trainer_ignores_are_refused_in_one_line(tmp_path, edit, message):
    with pytest.raises(PaperSpecError) as info:
        _plan_with(tmp_path, edit)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_k_that_does_not_divide_d_is_one_line_at_validation(plan):
    ours = plan.cells[plan.tables[("dces", "tableS1")].cells[1]["sop"]]
    bad = copy.deepcopy(ours)
    bad["model"]["num_learners"] = 7
    with pytest.raises(UserError) as info:
        get_task("image_retrieval").validate_cell(bad)
    assert "K=7 does not divide embedding_dim d=128" in str(info.value) and "\n" not in str(info.value)


def test_t_larger_than_the_epochs_is_one_line_at_validation(plan):
    cell = copy.deepcopy(plan.cells[plan.tables[("dces", "tableS2")].cells[7]["market1501"]])
    cell["recluster_every"] = 50
    with pytest.raises(UserError) as info:
        get_task("reid").validate_cell(cell)
    assert "recluster_every T=50" in str(info.value) and "\n" not in str(info.value)
