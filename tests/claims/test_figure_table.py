"""Claims on figures: a plot read as a table (series or sweep values as rows, datasets as
columns) from its points' metrics.json, evaluated like a table claim; bad figure claims are
rejected at spec load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dmlrepro.claims.evaluate import evaluate_claims
from dmlrepro.claims.figure_table import figure_table, plot_rows
from dmlrepro.plan import FigurePlan, FigurePoint
from dmlrepro.specs import PaperSpecError, load_paper_spec

REPO = Path(__file__).resolve().parents[2]
MHDML = REPO / "paper_tables" / "mhdml.yaml"
SETTING = {"epochs": 100}


def _write(tmp_path, cid, seed, value, epochs=100):
    path = tmp_path / cid / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = {"dataset": "cars196", "data_root": str(tmp_path / "real"), "training": {"epochs": epochs}}
    path.write_text(json.dumps({"metrics": {"recall@1": value}, "cell": cell,
                                "provenance": {"commit": "0123456789abc", "device": "cpu"}}))


def _fig8_plan(tmp_path, values_by_dim, epochs=100):
    spec = load_paper_spec(MHDML)
    figure = spec["figures"]["fig8"]
    plan = FigurePlan("mhdml", "fig8", figure)
    for dim, per_seed in values_by_dim.items():
        for dataset in ("cars196", "cub200"):
            cid = f"{dataset}-d{dim}"
            plan.points[FigurePoint(None, 0, dataset, dim)] = cid
            for seed, value in enumerate(per_seed):
                _write(tmp_path, cid, seed, value + (0 if dataset == "cars196" else dim / 100), epochs)
    return spec, plan


def test_sweep_rows_are_x_values_and_claims_evaluate(tmp_path):
    # Cars-196 rises to 1024 then falls (as the paper says); CUB gets + dim/100 on top: always rises.
    values = {64: [50, 51, 52], 128: [55, 56, 57], 256: [58, 59, 60], 512: [60, 61, 62], 1024: [63, 64, 65],
              2048: [60, 61, 62]}
    spec, plan = _fig8_plan(tmp_path, values)
    assert plot_rows(plan.spec) == ["64", "128", "256", "512", "1024", "2048"]
    table = figure_table(plan, spec, None, "paper", [0, 1, 2],
                         result_path=lambda cid, seed: tmp_path / cid / f"seed{seed}" / "metrics.json",
                         paper_setting=SETTING)
    assert table.cells[(4, "cars196")].values == [63, 64, 65]
    claims = {c.claim["id"]: c for c in evaluate_claims(spec, {"fig8": table})
              if c.claim.get("figure") == "fig8"}
    assert claims["fig8_cars_improves_until_1024"].verdict == "supported"
    assert claims["fig8_cars_degrades_after_1024"].verdict == "supported"
    cub = claims["fig8_cub_increases"]
    assert cub.verdict == "supported" and len(cub.comparisons) == 5  # 2048 on CUB: 62 + 20.48 > 65 + 10.24
    assert cub.paper_holds is None  # the figure prints no numbers


def test_figure_claims_are_not_comparable_off_the_paper_setting(tmp_path):
    values = {d: [50 + i, 51 + i, 52 + i] for i, d in enumerate((64, 128, 256, 512, 1024, 2048))}
    spec, plan = _fig8_plan(tmp_path, values, epochs=2)
    table = figure_table(plan, spec, None, "tiny", [0, 1, 2],
                         result_path=lambda cid, seed: tmp_path / cid / f"seed{seed}" / "metrics.json",
                         paper_setting=SETTING)
    result = next(c for c in evaluate_claims(spec, {"fig8": table}) if c.claim["id"] == "fig8_cars_improves_until_1024")
    assert result.verdict == "not comparable"
    assert result.comparisons[0].verdict == "not comparable: 2 epochs (paper 100)"


def _raw():
    return json.loads(json.dumps(yaml.safe_load(MHDML.read_text())))


@pytest.mark.parametrize("mutate,message", [
    (lambda c: c.update(row="Locall"), "row 'Locall' is not a series label or x value of fig5 panel a"),
    (lambda c: c.pop("panel"), "fig5 has panels a, b: name one under `panel`"),
    (lambda c: c.update(columns=["sop"]), "column 'sop' is not a dataset of fig5 panel a"),
    (lambda c: c.update(table="table1"), "exactly one of `table` and `figure`"),
    (lambda c: c.update(figure="fig9"), "figure 'fig9' is not a figure"),
    (lambda c: c.update(figure="fig6", panel=None) or c.pop("panel"), "fig6 draws no metric"),
])
def test_bad_figure_claim_is_one_line(tmp_path, mutate, message):
    data = _raw()
    claim = next(c for c in data["claims"] if c["id"] == "fig5a_local_better_than_global")
    mutate(claim)
    path = tmp_path / "mhdml.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(PaperSpecError) as info:
        load_paper_spec(path)
    assert message in str(info.value) and "\n" not in str(info.value)


DCES = REPO / "paper_tables" / "dces.yaml"


def test_series_sweep_columns_are_x_values_read_from_their_protocol(tmp_path):
    # DCES Fig. S2: two series (Ours, Baseline) over m; each series is one cell whose metrics.json
    # holds dims@1-m per m.  Ours is below the baseline at m = 16 and above it at m = 128.
    spec = load_paper_spec(DCES)
    plan = FigurePlan("dces", "figS2", spec["figures"]["figS2"])
    ms = [16, 32, 48, 64, 80, 96, 112, 128]
    for series, cid, base in ((0, "ours", 30.0), (1, "baseline", 40.0)):
        for panel in "abcd":
            for m in ms:
                plan.points[FigurePoint(panel, series, "sop", m)] = cid
        for seed in range(3):
            step = 6.0 if cid == "ours" else 4.0
            protocols = {f"dims@1-{m}": {"recall@1": base + step * i + seed, "recall@10": 0.0, "recall@100": 0.0,
                                         "recall@1000": 0.0} for i, m in enumerate(ms)}
            path = tmp_path / cid / f"seed{seed}" / "metrics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"metrics": {"recall@1": -1.0, "protocols": protocols},
                                        "cell": {"dataset": "sop", "data_root": str(tmp_path), "training": {}},
                                        "provenance": {}}))
    assert plot_rows(plan.spec["panels"][0]) == ["Ours", "Baseline"]
    table = figure_table(plan, spec, "a", "paper", [0, 1, 2],
                         result_path=lambda cid, seed: tmp_path / cid / f"seed{seed}" / "metrics.json",
                         paper_setting={})
    assert [c["id"] for c in table.spec["columns"]] == [f"sop@{m}" for m in ms]
    assert table.cells[(0, "sop@16")].values == [30.0, 31.0, 32.0]    # not the flat recall@1 (-1)
    assert table.cells[(1, "sop@128")].values == [68.0, 69.0, 70.0]
    assert table.cells[(0, "sop@128")].values == [72.0, 73.0, 74.0]
    result = next(c for c in evaluate_claims(spec, {"figS2 panel a": table})
                  if c.claim["id"] == "s2_fig_ours_beats_baseline_all_dims_r1")
    assert result.verdict == "supported" and len(result.comparisons) == 1
    assert result.comparisons[0].measured.mean == pytest.approx(4.0)
    claim = dict(result.claim, columns=["sop@16"])
    from dmlrepro.claims.evaluate import evaluate_claim
    assert evaluate_claim(claim, table).verdict == "contradicted"


def test_series_sweep_claim_names_an_x_the_figure_does_not_draw(tmp_path):
    data = json.loads(json.dumps(yaml.safe_load(DCES.read_text())))
    claim = next(c for c in data["claims"] if c["id"] == "s2_fig_ours_beats_baseline_all_dims_r1")
    claim["columns"] = ["sop@129"]
    path = tmp_path / "dces.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(PaperSpecError) as info:
        load_paper_spec(path)
    assert "column 'sop@129' is not a dataset of figS2 panel a" in str(info.value)
