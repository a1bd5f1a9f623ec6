"""Bar charts of a metric per series and dataset (003_72cd4b33cee60b89.txt Figure 5: local /
global / both and with / without SOA, Recall@1 on Cars-196 and CUB-200-2011; Figure 7: MS,
Proxy-Anchor and the hybrid loss of Eq. 7), from the cells' metrics.json.

One axis per panel; a group of bars per dataset (and x value, where the panel varies one); one
bar per series, in the spec's colour, with its measured value printed on it (the paper prints
none) and the std over seeds as an error bar where there are several.

`python -m dmlrepro.figures.bar_chart --manifest-json '<manifest>' --out fig5.png`
"""

from __future__ import annotations

from dmlrepro.figures.manifest import final_values, mean_std, read_record, x_label
from dmlrepro.figures.plotting import PANEL_LETTERS, dataset_name, main_guard, metric_name, set_title, subplots


def measured(manifest: dict) -> list[dict]:
    """Every bar: panel, series label, dataset, x, values over seeds, mean, std, cell."""
    bars = []
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                values = final_values(manifest, panel, series, point)
                mean, std = mean_std(values)
                bars.append({"panel": panel.get("panel"), "series": series["label"], "dataset": point["dataset"],
                             "x": point.get("x"), "values": values, "mean": mean, "std": std, "cell": point["cell"]})
    return bars


def draw(manifest: dict, device: str | None = None):
    bars = measured(manifest)
    panels = manifest["panels"]
    figure, axes = subplots(1, len(panels), 4.6 * len(panels), 5.2)
    for index, (axis, panel) in enumerate(zip(axes[0], panels)):
        groups = [(d, x) for d in panel["datasets"] for x in (panel["x"]["values"] if panel.get("x") else [None])]
        width = 0.8 / max(1, len(panel["series"]))
        for s, series in enumerate(panel["series"]):
            heights, errors, positions = [], [], []
            for g, (dataset, x) in enumerate(groups):
                bar = next(b for b in bars if b["panel"] == panel.get("panel") and b["series"] == series["label"]
                           and b["dataset"] == dataset and b["x"] == x)
                positions.append(g + (s - (len(panel["series"]) - 1) / 2) * width)
                heights.append(bar["mean"])
                errors.append(bar["std"])
            drawn = axis.bar(positions, heights, width * 0.95, label=series["label"], color=series.get("color"),
                             yerr=errors if any(errors) else None, capsize=3)
            axis.bar_label(drawn, labels=[f"{h:.1f}" for h in heights], fontsize=7, padding=2)
        axis.set_xticks(range(len(groups)))
        if panel.get("x") and len(panel["datasets"]) == 1:  # AiA-Net Fig. 11: the x values, the rest once below
            axis.set_xticklabels([x_label(x) for _, x in groups], fontsize=8, rotation=15)
            axis.set_xlabel(f"{panel['x']['key']} ({dataset_name(panel['datasets'][0])})", fontsize=8)
        else:
            axis.set_xticklabels([dataset_name(d) + (f"\n{panel['x']['key']} = {x_label(x)}" if x is not None else "")
                                  for d, x in groups], fontsize=8)
        axis.set_ylabel(metric_name(panel["metric"]))
        top = max([b["mean"] + b["std"] for b in bars if b["panel"] == panel.get("panel")] + [1.0])
        axis.set_ylim(0, top * 1.3)  # room for the printed values and the legend above the bars
        letter = panel.get("panel") or (PANEL_LETTERS[index] if len(panels) > 1 else "")
        name = f"({letter}) " if letter else ""
        axis.set_title(name + (panel.get("caption") or ""), fontsize=9)
        axis.legend(fontsize=7, loc="upper center", ncols=len(panel["series"]), frameon=False)
    cells = [read_record(manifest, "", point["metrics"][0]).get("cell")
             for panel in panels for series in panel["series"] for point in series["points"]]
    set_title(figure, manifest, cells, quantitative=True)
    metric_of = {panel.get("panel"): panel["metric"] for panel in panels}  # each bar's own panel's metric
    summary = [f"{b['panel'] or '-'} {b['series']} {b['dataset']} {'' if b['x'] is None else b['x']} "
               f"{metric_of[b['panel']]} = {b['mean']:.2f} (n = {len(b['values'])}, {b['cell']})" for b in bars]
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
