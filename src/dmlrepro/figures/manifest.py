"""What a figure job draws: the manifest the workflow hands a renderer (``--manifest-json``), built
from the plan (``dmlrepro.plan.FigurePlan``), and the reading of the cells' files with one-line
errors that name the missing point.

A manifest is plain JSON::

    {"paper", "source", "figure", "number", "kind", "caption", "scale", "seeds",
     "panels": [{"panel", "caption", "metric", "datasets", "x",
                 "series": [{"label", "color",
                             "points": [{"dataset", "x", "cell", "metrics": [one per seed], "model",
                                         "protocol"}]}]}]}

A point's ``protocol`` (null for most) names the evaluation protocol its value is read from: an x of
``eval_dims_first`` = m (DCES Fig. S2, the first m embedding dimensions) reads protocol
``dims@1-<m>`` of the series' one cell (dmlrepro.families.dces).

A figure without panels is one panel (``panel`` null); a single-model figure (attention maps,
ranking examples) one series (``label`` null) with a point per dataset.  No torch or matplotlib
here: the workflow builds manifests while it plans.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from dmlrepro.errors import UserError
from dmlrepro.training.divergence import DivergedRunError, describe, divergence_of


def figure_manifest(figure_plan, paper_spec: dict, scale: str, seeds: list[int], cell_dir: str) -> dict:
    """The manifest of one planned figure; cell files under `cell_dir`/<cell>/seed<seed>/."""
    figure = figure_plan.spec
    panels = []
    for plot in figure_plan.plots():
        panel = plot.get("panel")
        entries = plot.get("series") or [{"label": None}]
        series = []
        for index, entry in enumerate(entries):
            wanted = index if "series" in plot else None
            points = [
                {"dataset": point.dataset, "x": list(point.x) if isinstance(point.x, tuple) else point.x,
                 "cell": cid,
                 "metrics": [f"{cell_dir}/{cid}/seed{seed}/metrics.json" for seed in seeds],
                 "model": f"{cell_dir}/{cid}/seed{seeds[0]}/model.pt",
                 "protocol": point_protocol(plot, point.x)}
                for point, cid in figure_plan.points.items() if point.panel == panel and point.series == wanted
            ]
            series.append({"label": entry.get("label"), "color": entry.get("color"), "points": points})
        panels.append({"panel": panel, "caption": plot.get("caption"), "metric": plot.get("metric"),
                       "datasets": plot.get("datasets") or [plot["dataset"]], "x": plot.get("x"),
                       "series": series})
    return {"paper": figure_plan.paper, "source": paper_spec.get("source"), "figure": figure_plan.figure_id,
            "number": figure["number"], "kind": figure["kind"], "caption": figure["caption"], "scale": scale,
            "seeds": list(seeds), "panels": panels}


def point_protocol(plot: dict, x: Any) -> str | None:
    """The protocol a point's value is read from (module docstring), or None: the standard one."""
    if (plot.get("x") or {}).get("key") == "eval_dims_first":
        return f"dims@1-{x}"
    return None


def load_manifest(text: str | None = None, path: str | Path | None = None) -> dict:
    """A manifest from its JSON text or file (exactly one of the two)."""
    if (text is None) == (path is None):
        raise UserError("give the figure manifest as --manifest-json TEXT or --manifest FILE (one of them)")
    try:
        manifest = json.loads(text if text is not None else Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"figure manifest {path or 'text'} is unreadable ({exc}); rerun the workflow") from None
    if not isinstance(manifest, dict) or "panels" not in manifest:
        raise UserError("figure manifest has no panels; it must come from dmlrepro.figures.manifest.figure_manifest")
    return manifest


def point_name(manifest: dict, panel: dict, series: dict, point: dict) -> str:
    """"mhdml fig5 panel a series 'Global' on cars196" for messages."""
    parts = [f"{manifest['paper']} {manifest['figure']}"]
    if panel.get("panel"):
        parts.append(f"panel {panel['panel']}")
    if series.get("label"):
        parts.append(f"series {series['label']!r}")
    parts.append(f"on {point['dataset']}")
    if point.get("x") is not None and panel.get("x"):
        parts.append(f"at {panel['x']['key']} = {point['x']}")
    return " ".join(parts)


def _missing(manifest: dict, name: str, path: str) -> UserError:
    return UserError(f"{name}: {path} is missing (cell {Path(path).parent.parent.name} not trained); "
                     f"train it first: snakemake {manifest['paper']}_{manifest['figure']}")


def read_record(manifest: dict, name: str, path: str) -> dict:
    """A cell's metrics.json; a one-line UserError naming the point when it is missing."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise _missing(manifest, name, path) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{name}: {path} is unreadable ({exc}); retrain the cell") from None
    if divergence_of(record):  # training/divergence.py: a plotted point needs every seed's number
        raise DivergedRunError(f"{name}: {path}: {describe(record)}, so the point has no number; lower the "
                               "learning rate of its preset (a new cell)")
    return record


def final_values(manifest: dict, panel: dict, series: dict, point: dict) -> list[float]:
    """The panel's metric of the point's cell after training, one value per seed."""
    name = point_name(manifest, panel, series, point)
    values = []
    for path in point["metrics"]:
        metrics = read_record(manifest, name, path).get("metrics", {})
        if point.get("protocol"):
            metrics = metrics.get("protocols", {}).get(point["protocol"], {})
        value = metrics.get(panel["metric"])
        if value is None:
            raise UserError(f"{name}: {path} has no metric {panel['metric']!r}; retrain the cell with this code")
        values.append(float(value))
    return values


def epoch_values(manifest: dict, panel: dict, series: dict, point: dict) -> tuple[list[int], list[list[float]]]:
    """(epochs, per seed the panel's metric after each epoch) from the history's `eval` entries."""
    name = point_name(manifest, panel, series, point)
    epochs, runs = None, []
    for path in point["metrics"]:
        history = read_record(manifest, name, path).get("history") or []
        if not history or any(not isinstance(line.get("eval"), dict) for line in history):
            raise UserError(f"{name}: {path} has no evaluation per epoch (history[].eval): the cell was trained "
                            "without eval_every_epoch; rerun the workflow, which plans the curve's cells with it")
        values = [line["eval"].get(panel["metric"]) for line in history]
        if any(v is None for v in values):
            raise UserError(f"{name}: {path} has no {panel['metric']!r} in its per-epoch evaluation")
        run_epochs = [int(line["epoch"]) for line in history]
        if epochs is not None and run_epochs != epochs:
            raise UserError(f"{name}: the seeds' runs have different epochs ({epochs} vs {run_epochs})")
        epochs = run_epochs
        runs.append([float(v) for v in values])
    return epochs or [], runs


def model_path(manifest: dict, panel: dict, series: dict, point: dict) -> Path:
    """The point's model.pt (the first seed's); a one-line UserError when it is missing."""
    path = Path(point["model"])
    if not path.is_file():
        raise _missing(manifest, point_name(manifest, panel, series, point), str(path))
    return path


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def data_note(cells: list[dict]) -> str:
    """"synthetic data" or "real data" for the title, from the cells the figure read."""
    from dmlrepro.tables.comparability import is_synthetic

    synthetic = {bool(is_synthetic(c.get("data_root"), c.get("dataset"))) for c in cells if isinstance(c, dict)}
    if synthetic == {True}:
        return "synthetic data"
    if synthetic == {False}:
        return "real data"
    return "synthetic and real data" if synthetic else "data not recorded"


def title(manifest: dict, cells: list[dict], quantitative: bool) -> str:
    """The figure's first title line: what it is, the scale and data it was measured at, and, for
    a quantitative figure, that the paper prints no values to compare with."""
    seeds = manifest.get("seeds") or []
    head = (f"Figure {manifest['number']} of {manifest['paper']} ({manifest.get('source')}), "
            f"{'measured' if quantitative else 'drawn'} at {manifest['scale']} scale on {data_note(cells)}")
    if quantitative:
        head += f", seeds {seeds} ({'mean ± std' if len(seeds) > 1 else 'one run'}); the paper prints no values"
    return head


def x_label(value: Any) -> str:
    return "+".join(map(str, value)) if isinstance(value, list) else str(value)
