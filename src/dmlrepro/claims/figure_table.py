"""A figure plot seen as a table, so that a claim on a figure is evaluated like one on a table:
one row per series (labelled as in the spec), or per x value of a sweep (the value as text), one
column per dataset, the plot's metric in each cell, read from the points' cells over seeds with
the same provenance and deviations as a table's (dmlrepro.tables.aggregate).  A sweep with several
series (DCES Fig. S2: Ours and Baseline over the first m dimensions) has a row per series and a
column per dataset and x value, ``<dataset>@<x>`` ("sop@128"); a point whose x is read as an
evaluation protocol (dmlrepro.figures.manifest.point_protocol: ``eval_dims_first`` = m reads
``dims@1-m``) is read from that protocol of its cell.  Figures print no numbers (MHDML Figures 5,
7, 8; DCES Fig. S2), so every reported value is None: a figure claim is only ever judged on the
regenerated cells.
"""

from __future__ import annotations

import json
from pathlib import Path

from dmlrepro.tables.aggregate import MeasuredTable, Measurement


def plot_of(figure: dict, panel: str | None) -> dict:
    """The figure itself, or its panel `panel`."""
    for plot in figure.get("panels") or [figure]:
        if plot.get("panel") == panel:
            return plot
    raise KeyError(panel)


def _series_sweep(plot: dict) -> bool:
    """A sweep drawn for several series: its x values become columns (module docstring)."""
    return bool(plot.get("x")) and len(plot.get("series", [])) > 1


def _x_text(value) -> str:
    return "-".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def plot_rows(plot: dict) -> list[str]:
    """Row names of a plot: x values of a one-series sweep, else the series' labels."""
    if plot.get("x") and len(plot.get("series", [])) <= 1:
        return [str(v) for v in plot["x"]["values"]]
    return [entry["label"] for entry in plot.get("series", [])]


def _column_specs(plot: dict) -> list[dict]:
    datasets = list(plot.get("datasets") or [plot["dataset"]])
    if not _series_sweep(plot):
        return [{"id": d, "dataset": d, "metric": plot["metric"], "label": f"{d} {plot['metric']}"} for d in datasets]
    key = plot["x"]["key"]
    return [{"id": f"{d}@{_x_text(v)}", "dataset": d, "x": v, "metric": plot["metric"],
             "label": f"{d} {plot['metric']} at {key} = {_x_text(v)}"} for d in datasets for v in plot["x"]["values"]]


def plot_columns(plot: dict) -> list[str]:
    """Column ids of a plot: its datasets, or ``<dataset>@<x>`` for a sweep of several series."""
    return [c["id"] for c in _column_specs(plot)]


def plot_spec(figure_id: str, figure: dict, panel: str | None) -> dict:
    """The table-shaped spec of one plot (rows and columns named as plot_rows / plot_columns)."""
    plot = plot_of(figure, panel)
    columns = _column_specs(plot)
    rows = [{"label": [name], "source": {"table": figure_id, "row": name}, "cell": {},
             "reported": {c["id"]: None for c in columns}} for name in plot_rows(plot)]
    title = f"{figure_id}{' panel ' + panel if panel else ''}"
    return {"number": figure_id, "caption": title, "columns": columns, "rows": rows}


def _same_x(point_x, value) -> bool:
    return point_x == (tuple(value) if isinstance(value, list) else value)


def _point_cell(figure_plan, plot: dict, panel, row_index: int, column: dict) -> str | None:
    dataset = column["dataset"]
    sweep = plot.get("x") and len(plot.get("series", [])) <= 1
    for point, cid in figure_plan.points.items():
        if point.panel != panel or point.dataset != dataset:
            continue
        if "x" in column:
            if point.series == row_index and _same_x(point.x, column["x"]):
                return cid
        elif sweep:
            value = plot["x"]["values"][row_index]
            if point.x == (tuple(value) if isinstance(value, list) else value):
                return cid
        elif point.series == row_index:
            return cid
    return None


def figure_table(figure_plan, paper_spec: dict, panel: str | None, scale: str, seeds: list[int], result_path,
                 *, paper_setting: dict | None = None) -> MeasuredTable:
    """The plot as a MeasuredTable; `result_path(cell_id, seed)` gives a cell's metrics.json."""
    from dmlrepro.figures.manifest import point_protocol
    from dmlrepro.tables.comparability import describe_data, paper_setting as default_setting, run_deviations
    from dmlrepro.training.divergence import diverged_runs

    figure = figure_plan.spec
    plot = plot_of(figure, panel)
    spec = plot_spec(figure_plan.figure_id, figure, panel)
    table = MeasuredTable(figure_plan.paper, figure_plan.figure_id, spec, paper_spec, scale, list(seeds))
    setting = paper_setting if paper_setting is not None else default_setting(figure_plan.paper)
    for row_index in range(len(spec["rows"])):
        for column in spec["columns"]:
            cid = _point_cell(figure_plan, plot, panel, row_index, column)
            if cid is None:
                continue
            protocol = point_protocol(plot, column["x"]) if "x" in column else None
            measurement = Measurement([])
            records = [json.loads(Path(result_path(cid, seed)).read_text()) for seed in seeds]
            diverged = diverged_runs((cid, record) for record in records)
            if diverged:  # training/divergence.py: no measurement, not the survivors' mean
                table.diverged[(row_index, column["id"])] = diverged
                continue
            for record in records:
                metrics = record["metrics"] if protocol is None else record["metrics"]["protocols"][protocol]
                measurement.values.append(float(metrics[column["metric"]]))
                provenance = record.get("provenance") or {}
                for deviation in run_deviations(record.get("cell"), provenance, setting):
                    if deviation not in measurement.deviations:
                        measurement.deviations.append(deviation)
                if provenance.get("commit"):
                    table.commits.add(provenance["commit"][:10])
                if provenance.get("device"):
                    table.devices.add(provenance["device"])
                if isinstance(record.get("cell"), dict):
                    table.data.add(describe_data(record["cell"]))
            table.cells[(row_index, column["id"])] = measurement
    return table
