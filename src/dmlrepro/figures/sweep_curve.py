"""A metric against a varied cell setting (003_72cd4b33cee60b89.txt Figure 8: Recall@1 against the
embedding dimension D = 64 ... 2048 on Cars-196 and CUB-200-2011), from the cells' metrics.json.

One axis per panel; one line per series and dataset, each point a cell at one x value, its value
printed beside it (the paper prints none).  Numeric x values that double each step (D) are
spaced on a log2 axis, as the paper's powers of two are; other x values evenly.

`python -m dmlrepro.figures.sweep_curve --manifest-json '<manifest>' --out fig8.png`
"""

from __future__ import annotations

import math

from dmlrepro.figures.manifest import final_values, mean_std, read_record, x_label
from dmlrepro.figures.plotting import dataset_name, main_guard, metric_name, set_title, subplots

MARKERS = ("o", "s", "^", "D", "v")


def _log2_spaced(values: list) -> bool:
    """Positive numbers that double at every step (MHDML's D = 64 ... 2048); DCES Fig. S2's
    m = 16, 32, 48, ... are evenly spaced."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values)
    return numeric and len(values) > 1 and all(b == 2 * a for a, b in zip(values, values[1:]))


def draw(manifest: dict, device: str | None = None):
    panels = manifest["panels"]
    figure, axes = subplots(1, len(panels), max(6.4, 5.6 * len(panels)), 5.0)
    summary, cells = [], []
    for axis, panel in zip(axes[0], panels):
        xs = panel["x"]["values"]
        log2 = _log2_spaced(xs)
        position = {x_label(x): (math.log2(x) if log2 else i) for i, x in enumerate(xs)}
        line = 0
        for series in panel["series"]:
            for d, dataset in enumerate(panel["datasets"]):
                points = sorted((p for p in series["points"] if p["dataset"] == dataset),
                                key=lambda p: position[x_label(p["x"])])
                stats = [mean_std(final_values(manifest, panel, series, p)) for p in points]
                cells += [read_record(manifest, "", p["metrics"][0]).get("cell") for p in points]
                px = [position[x_label(p["x"])] for p in points]
                means = [m for m, _ in stats]
                label = dataset_name(dataset) if len(panel["series"]) == 1 else f"{series['label']} — {dataset_name(dataset)}"
                axis.errorbar(px, means, yerr=[s for _, s in stats] if any(s for _, s in stats) else None,
                              marker=MARKERS[line % len(MARKERS)], capsize=3, label=label,
                              color=series.get("color") if len(panel["datasets"]) == 1 else None)
                for x, m in zip(px, means):
                    axis.annotate(f"{m:.1f}", (x, m), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
                summary += [f"{series['label']} {dataset} {panel['x']['key']}={x_label(p['x'])} "
                            f"{panel['metric']} = {m:.2f} ({p['cell']})" for p, m in zip(points, means)]
                line += 1
        axis.set_xticks([position[x_label(x)] for x in xs])
        axis.set_xticklabels([x_label(x) for x in xs])
        axis.set_xlabel(panel["x"]["key"].replace("_", " ") + (" (log2 axis)" if log2 else ""))
        axis.set_ylabel(metric_name(panel["metric"]))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        if panel.get("panel"):
            axis.set_title(f"({panel['panel']}) {panel.get('caption') or ''}", fontsize=9)
    set_title(figure, manifest, cells, quantitative=True)
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
