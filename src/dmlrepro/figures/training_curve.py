"""A metric against epochs (003_72cd4b33cee60b89.txt Figure 1: Recall@1 per epoch on Cars-196 for
the hybrid loss, Proxy-Anchor alone and Multi-Similarity alone), from the per-epoch evaluations
the cells record in their history (metrics.json `history[i]["eval"]`, written when the cell has
`eval_every_epoch`, which the plan sets on every training_curve cell).

One axis per panel and dataset; one line per series (mean over seeds, the std as a band where
there are several), its last value printed at its end (the paper prints none).

`python -m dmlrepro.figures.training_curve --manifest-json '<manifest>' --out fig1.png`
"""

from __future__ import annotations

import statistics

from dmlrepro.figures.manifest import epoch_values, read_record
from dmlrepro.figures.plotting import dataset_name, main_guard, metric_name, set_title, subplots


def draw(manifest: dict, device: str | None = None):
    plots = [(panel, dataset) for panel in manifest["panels"] for dataset in panel["datasets"]]
    figure, axes = subplots(1, len(plots), max(6.4, 5.6 * len(plots)), 5.0)
    summary, cells = [], []
    for axis, (panel, dataset) in zip(axes[0], plots):
        for series in panel["series"]:
            for point in (p for p in series["points"] if p["dataset"] == dataset):
                epochs, runs = epoch_values(manifest, panel, series, point)
                cells.append(read_record(manifest, "", point["metrics"][0]).get("cell"))
                means = [statistics.fmean(v) for v in zip(*runs)]
                line, = axis.plot(epochs, means, marker="o", markersize=3, label=series["label"], color=series.get("color"))
                if len(runs) > 1:
                    stds = [statistics.stdev(v) for v in zip(*runs)]
                    axis.fill_between(epochs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                                      color=line.get_color(), alpha=0.2)
                axis.annotate(f"{means[-1]:.1f}", (epochs[-1], means[-1]), textcoords="offset points", xytext=(4, 0),
                              fontsize=7, color=line.get_color(), va="center")
                summary.append(f"{series['label']} {dataset} {panel['metric']} by epoch: "
                               + ", ".join(f"{m:.2f}" for m in means) + f" ({point['cell']})")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric_name(panel["metric"]))
        axis.set_title(dataset_name(dataset), fontsize=9)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    set_title(figure, manifest, cells, quantitative=True)
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
