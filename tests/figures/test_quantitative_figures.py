"""MHDML Figures 1, 5, 7 and 8 (003_72cd4b33cee60b89.txt) drawn from synthetic metrics.json files
laid out as the workflow lays out the cells: each renderer draws a PNG from the values it was
given, says what it measured and that the paper prints no values, and stops with one line naming
the point when a cell is missing or was trained without what the figure needs."""

from __future__ import annotations

import json
import random

import pytest

from dmlrepro.errors import UserError
from dmlrepro.figures import bar_chart, sweep_curve, training_curve
from dmlrepro.figures.manifest import figure_manifest, title
from dmlrepro.plan import build_plan

BASE = {"scale": "smoke", "seeds": [0, 1], "device": "auto", "pretrained": "auto", "data_root": None}
PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def plan():
    return build_plan(dict(BASE))


def manifest_of(plan, figure: str, cell_dir) -> dict:
    return figure_manifest(plan.figures[("mhdml", figure)], plan.specs["mhdml"], "smoke", [0, 1], str(cell_dir))


def write_cells(plan, manifest: dict, epochs: int = 0, seed: int = 0) -> dict[str, list[float]]:
    """A metrics.json per cell and seed with random Recall@1 (and a history with an `eval` per
    epoch when `epochs`); returns cell → the values written, one per seed."""
    rng = random.Random(seed)
    written = {}
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                if point["cell"] in written:
                    continue
                written[point["cell"]] = []
                for path in point["metrics"]:
                    value = round(rng.uniform(5, 95), 3)
                    history = [{"epoch": e, "loss": 1.0, "eval": {"recall@1": value * e / epochs}}
                               for e in range(1, epochs + 1)]
                    record = {"cell": plan.cells[point["cell"]], "metrics": {"recall@1": value}, "history": history}
                    from pathlib import Path

                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                    Path(path).write_text(json.dumps(record))
                    written[point["cell"]].append(value)
    return written


def save_png(figure, tmp_path, name: str) -> bytes:
    out = tmp_path / f"{name}.png"
    figure.savefig(out, format="png")
    return out.read_bytes()


@pytest.mark.parametrize("figure,module", [("fig5", bar_chart), ("fig7", bar_chart)])
def test_bar_charts_show_the_values_of_their_cells(plan, tmp_path, figure, module):
    manifest = manifest_of(plan, figure, tmp_path)
    written = write_cells(plan, manifest)
    bars = module.measured(manifest)
    assert len(bars) == sum(len(s["points"]) for p in manifest["panels"] for s in p["series"])
    for bar in bars:
        assert bar["values"] == written[bar["cell"]]
        assert bar["mean"] == pytest.approx(sum(written[bar["cell"]]) / 2)
    drawn, summary = module.draw(manifest)
    assert save_png(drawn, tmp_path, figure)[:4] == PNG
    assert drawn._suptitle.get_text().replace("\n", " ").count("the paper prints no values") == 1
    assert "measured at smoke scale on synthetic data" in drawn._suptitle.get_text().replace("\n", " ")
    assert len(summary) == len(bars)


def test_the_sweep_has_a_point_per_embedding_size_and_dataset(plan, tmp_path):
    manifest = manifest_of(plan, "fig8", tmp_path)
    written = write_cells(plan, manifest)
    drawn, summary = sweep_curve.draw(manifest)
    assert save_png(drawn, tmp_path, "fig8")[:4] == PNG
    assert len(summary) == 12
    axis = drawn.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["64", "128", "256", "512", "1024", "2048"]
    lines = [line for line in axis.get_lines() if len(line.get_xdata()) == 6 and line.get_marker() != "_"]  # not caps
    assert len(lines) == 2  # Cars-196 and CUB-200-2011
    series = manifest["panels"][0]["series"][0]
    cars = sorted((p for p in series["points"] if p["dataset"] == "cars196"), key=lambda p: p["x"])
    means = [sum(written[p["cell"]]) / 2 for p in cars]
    assert any(list(line.get_ydata()) == pytest.approx(means) for line in lines)


def test_the_training_curve_plots_each_epochs_evaluation(plan, tmp_path):
    manifest = manifest_of(plan, "fig1", tmp_path)
    written = write_cells(plan, manifest, epochs=4)
    drawn, summary = training_curve.draw(manifest)
    assert save_png(drawn, tmp_path, "fig1")[:4] == PNG
    lines = drawn.axes[0].get_lines()
    assert len(lines) == 3 and all(list(line.get_xdata()) == [1, 2, 3, 4] for line in lines)
    for series, line in zip(manifest["panels"][0]["series"], lines):
        values = written[series["points"][0]["cell"]]
        assert line.get_ydata()[-1] == pytest.approx(sum(values) / 2)  # the mean over the two seeds
        assert line.get_label() == series["label"] and line.get_color() == series["color"]


def test_a_missing_cell_is_one_line_naming_the_point_and_the_target(plan, tmp_path):
    manifest = manifest_of(plan, "fig5", tmp_path)
    write_cells(plan, manifest)
    point = manifest["panels"][0]["series"][1]["points"][1]
    (tmp_path / point["cell"] / "seed1" / "metrics.json").unlink()
    with pytest.raises(UserError) as info:
        bar_chart.draw(manifest)
    message = str(info.value)
    assert "\n" not in message
    for part in ("mhdml fig5 panel a series 'Local' on cub200", "seed1/metrics.json is missing",
                 "snakemake mhdml_fig5"):
        assert part in message


def test_a_curve_cell_trained_without_the_per_epoch_evaluation_is_refused(plan, tmp_path):
    manifest = manifest_of(plan, "fig1", tmp_path)
    write_cells(plan, manifest, epochs=0)
    with pytest.raises(UserError, match="no evaluation per epoch.*eval_every_epoch"):
        training_curve.draw(manifest)


def test_a_metric_the_cell_did_not_record_is_refused(plan, tmp_path):
    manifest = manifest_of(plan, "fig7", tmp_path)
    write_cells(plan, manifest)
    manifest["panels"][0]["metric"] = "recall@2"
    with pytest.raises(UserError, match="has no metric 'recall@2'"):
        bar_chart.draw(manifest)


def test_the_title_says_scale_data_seeds_and_that_the_paper_prints_none():
    manifest = {"number": 8, "paper": "mhdml", "source": "003.txt", "scale": "smoke", "seeds": [0, 1, 2]}
    synthetic = {"dataset": "cars196", "data_root": "data/synthetic"}
    text = title(manifest, [synthetic], quantitative=True)
    assert text.startswith("Figure 8 of mhdml (003.txt), measured at smoke scale on synthetic data")
    assert "seeds [0, 1, 2] (mean ± std)" in text and text.endswith("the paper prints no values")
    assert "prints no values" not in title(manifest, [synthetic], quantitative=False)


def test_the_command_line_writes_the_png(plan, tmp_path):
    manifest = manifest_of(plan, "fig7", tmp_path)
    write_cells(plan, manifest)
    out = tmp_path / "fig7.png"
    from dmlrepro.figures.plotting import run_cli

    assert run_cli(bar_chart.draw, "", ["--manifest-json", json.dumps(manifest), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == PNG
