"""dmlrepro.figures.bar_chart with an x over one dataset (AiA-Net Fig. 11: one group of bars per
backbone on CUHK03): the ticks are the x values, each bar has its cell's value, and every summary
line names its own panel's metric."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

from dmlrepro.figures import bar_chart  # noqa: E402

BACKBONES = ["resnet50", "googlenet", "densenet121"]


def _manifest(tmp_path) -> dict:
    values = {}
    series = []
    for s, label in enumerate(["Backbone", "Backbone + Gau-attention w/ AiA"]):
        points = []
        for b, backbone in enumerate(BACKBONES):
            cell = f"cuhk03np-{backbone}-{s}"
            path = tmp_path / f"{cell}.json"
            values[cell] = {"map": 10.0 * s + b + 0.25, "rank1": 20.0 * s + b + 0.5}
            path.write_text(json.dumps({"metrics": values[cell], "cell": {"dataset": "cuhk03np"}}))
            points.append({"dataset": "cuhk03np", "x": backbone, "cell": cell, "metrics": [str(path)],
                           "model": "", "protocol": None})
        series.append({"label": label, "color": None, "points": points})
    panels = [{"panel": letter, "caption": metric, "metric": metric, "datasets": ["cuhk03np"],
               "x": {"key": "backbone", "values": BACKBONES}, "series": series}
              for letter, metric in (("a", "map"), ("b", "rank1"))]
    return {"paper": "aianet", "source": "002", "figure": "fig11", "number": 11, "kind": "bar_chart",
            "caption": "Evaluation for attention blocks", "scale": "tiny", "seeds": [0], "panels": panels}, values


def test_ticks_are_the_backbones_and_each_panel_reads_its_metric(tmp_path):
    manifest, values = _manifest(tmp_path)
    figure, summary = bar_chart.draw(manifest)
    axes = figure.axes
    assert [t.get_text() for t in axes[0].get_xticklabels()] == BACKBONES
    assert "backbone" in axes[0].get_xlabel()
    for axis, metric in zip(axes, ("map", "rank1")):
        heights = sorted(round(p.get_height(), 6) for p in axis.patches)
        assert heights == sorted(round(v[metric], 6) for v in values.values())
    assert sum(" map = " in line for line in summary) == 6
    assert sum(" rank1 = " in line for line in summary) == 6
