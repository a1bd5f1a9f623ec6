"""AiA-Net Figure 10 (dmlrepro.figures.reid_failure_cases): the Market-1501 ranking after removal
on hand-made distances and against a slow reference and the evaluation's R-1, the failing queries
and their deterministic choice, the plan's fig10 on the Gau cells of Tables 10-11, and a PNG from
untrained tiny AiA-Nets saved as model.pt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlrepro.evaluation import evaluate_market1501
from dmlrepro.figures import reid_failure_cases as fig10
from dmlrepro.figures.manifest import figure_manifest
from dmlrepro.plan import FigurePlan, FigurePoint

PNG = b"\x89PNG"


def test_removes_same_identity_same_camera_and_junk_and_keeps_ties_by_index():
    # gallery:      0        1        2         3        4        5
    g_pids = [7, 7, -1, 3, 7, 3]
    g_cams = [1, 2, 2, 1, 1, 2]
    distances = np.array([[0.0, 0.5, 0.1, 0.3, 0.2, 0.3],    # query id 7 cam 1: 0, 4 same cam; 2 junk
                          [0.9, 0.8, 0.0, 0.1, 0.7, 0.6]])   # query id 3 cam 1: 3 same cam
    top, valid = fig10.market_top_k(distances, [7, 3], g_pids, [1, 1], g_cams, k=5)
    assert top[0].tolist() == [3, 5, 1, -1, -1]  # 3 and 5 tie at 0.3: lower index first
    assert top[1].tolist() == [5, 4, 1, 0, -1]
    assert valid.tolist() == [True, True]
    assert fig10.failing_queries(top, valid, [7, 3], g_pids) == [0]  # query 0's R-1 (3) is id 3; query 1's is a match
    # a query whose only true matches share its camera is not valid, hence never a failure
    top, valid = fig10.market_top_k(distances[:1], [7], g_pids, [1], [1, 1, 2, 1, 1, 2], k=2)
    assert top[0].tolist() == [3, 5] and valid.tolist() == [False]
    assert fig10.failing_queries(top, valid, [7], g_pids) == []


def _reference_ranking(distances, q_pid, q_cam, g_pids, g_cams):
    ranking = sorted(range(len(distances)), key=lambda g: distances[g])
    return [g for g in ranking if g_pids[g] != -1 and not (g_pids[g] == q_pid and g_cams[g] == q_cam)]


def test_agrees_with_a_slow_reference_and_with_the_evaluations_rank1():
    rng = np.random.default_rng(0)
    num_query, num_gallery, k = 40, 60, 10
    distances = rng.integers(0, 6, size=(num_query, num_gallery)).astype(np.float32)  # many ties
    q_pids, q_cams = rng.integers(0, 8, num_query), rng.integers(0, 3, num_query)
    g_pids, g_cams = rng.integers(-1, 8, num_gallery), rng.integers(0, 3, num_gallery)
    top, valid = fig10.market_top_k(distances, q_pids, g_pids, q_cams, g_cams, k)
    for q in range(num_query):
        expected = _reference_ranking(distances[q].tolist(), q_pids[q], q_cams[q], g_pids.tolist(), g_cams.tolist())[:k]
        assert top[q].tolist() == expected + [-1] * (k - len(expected))
        assert valid[q] == any(g_pids[g] == q_pids[q] for g in _reference_ranking(
            distances[q].tolist(), q_pids[q], q_cams[q], g_pids.tolist(), g_cams.tolist()))
    failing = fig10.failing_queries(top, valid, q_pids, g_pids)
    result = evaluate_market1501(distances, q_pids, g_pids, q_cams, g_cams)
    assert int(valid.sum()) == result.num_valid_queries
    assert 1 - len(failing) / result.num_valid_queries == pytest.approx(result.rank(1))
    assert failing and failing == sorted(failing)


def test_the_lists_per_dataset_are_evenly_spaced_over_the_failures():
    from dmlrepro.figures.ranking_examples import evenly_spaced

    assert fig10.lists_for("dukemtmc") == 2 and fig10.lists_for("market1501") == fig10.lists_for("cuhk03np") == 1
    failing = [3, 8, 11, 20, 41]
    assert evenly_spaced(failing, 1) == [3] and evenly_spaced(failing, 2) == [3, 41]
    assert evenly_spaced(failing, 3) == [3, 11, 41] and evenly_spaced([5], 2) == [5] and evenly_spaced([], 2) == []


def test_the_plan_draws_fig10_from_the_gau_cells_of_tables_10_and_11():
    from dmlrepro.plan import build_plan

    plan = build_plan({"scale": "smoke", "seeds": [0], "device": "auto", "pretrained": "auto", "data_root": None,
                       "papers": ["aianet"]})
    figure = plan.figures[("aianet", "fig10")]
    assert figure.renderer == "reid_failure_cases"
    points = {p.dataset: cid for p, cid in figure.points.items()}
    assert list(points) == ["cuhk03np", "market1501", "dukemtmc"]
    tables = {cid for t in ("table10", "table11") for by in plan.tables[("aianet", t)].cells.values() for cid in by.values()}
    assert set(points.values()) <= tables
    assert all(plan.cells[c]["model"]["attention"] == "gau" and plan.cells[c]["model"]["stages"] == [1, 2, 3, 4]
               for c in points.values())


@pytest.fixture(scope="module")
def saved_cells(tmp_path_factory, tiny_scale):
    """Untrained tiny AiA-Nets w/ Gau on generated Market-1501 and DukeMTMC-reID, as model.pt."""
    from dmlrepro.data.synthetic import generate_reid_dataset
    from dmlrepro.families.aianet import AiANetFamily
    from dmlrepro.training.aianet_parts import build_model

    tmp = tmp_path_factory.mktemp("fig10")
    family, ids = AiANetFamily(), {}
    for dataset in ("market1501", "dukemtmc"):
        generate_reid_dataset(tmp / "data", dataset, seed=0, num_train_ids=4, num_test_ids=6)
        cell = family.resolve_cell({"model": "aianet", "attention": "gau", "stages": [1, 2, 3, 4]}, dataset,
                                   tiny_scale, str(tmp / "data"), "aianet")
        torch.manual_seed(0)
        model = build_model(cell, num_classes=4, load_pretrained=False)
        cid = family.cell_id(cell)
        path = tmp / "cells" / cid / "seed0" / "model.pt"
        path.parent.mkdir(parents=True)
        torch.save({"cell": cell, "num_classes": 4, "model": model.state_dict()}, path)
        ids[dataset] = cid
    spec = {"number": 10, "caption": "a caption", "kind": "ranking_examples", "datasets": list(ids), "cell": {}}
    plan = FigurePlan("aianet", "fig10", spec, "reid_failure_cases",
                      {FigurePoint(None, None, d): cid for d, cid in ids.items()})
    return figure_manifest(plan, {"source": "002_e585b7ac4801a221.txt"}, "tiny", [0], str(tmp / "cells"))


def test_draws_failing_queries_one_row_each_and_writes_a_png(saved_cells, tmp_path):
    found = fig10.failure_cases(saved_cells)
    assert [f["dataset"] for f in found] == ["market1501", "dukemtmc"]
    for entry in found:
        assert 0 < entry["failing"] <= entry["valid"]
        assert len(entry["rows"]) == min(fig10.lists_for(entry["dataset"]), entry["failing"])
        for row in entry["rows"]:
            ids = [g for g, _, _ in row["retrieved"]]
            assert 0 < len(ids) <= fig10.TOP_K and len(set(ids)) == len(ids)
            _, q_pid, q_cam = row["item"]
            assert row["retrieved"][0][2] is False  # a failure: R-1 has another identity
            for _, (_, g_pid, g_cam), correct in row["retrieved"]:
                assert g_pid != -1 and not (g_pid == q_pid and g_cam == q_cam) and correct == (g_pid == q_pid)
    figure, summary = fig10.draw(saved_cells)
    rows = sum(len(f["rows"]) for f in found)
    assert len(figure.axes) == rows * (fig10.TOP_K + 1) and len(summary) == rows
    assert "fail at R-1" in summary[0]
    out = tmp_path / "fig10.png"
    figure.savefig(out, format="png")
    assert out.read_bytes()[:4] == PNG


def test_a_dataset_without_failures_draws_a_row_saying_so(monkeypatch, saved_cells):
    found = fig10.failure_cases(saved_cells)
    for entry in found:
        entry.update(rows=[], failing=0)
    monkeypatch.setattr(fig10, "failure_cases", lambda manifest, device: found)
    figure, summary = fig10.draw(saved_cells)
    assert len(figure.axes) == 2 * (fig10.TOP_K + 1) and all("0 of" in line for line in summary)
