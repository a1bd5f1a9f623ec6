"""The diff of a regenerated table against the paper: one line per cell of the table (every row,
computed or not, times every column) with a status and a verdict.

Status: `computed`; `reported-only` (a row quoting other work: never recomputed); `no trainer yet`
(a row with a cell that the plan cannot compute for this column yet: plan.trainable); `diverged`
(a run of the cell, some seed, split or column it averages, diverged: training/divergence.py).

Verdicts, decided in this order (the first that applies):

1. `not computed` — the status is not `computed`; the line carries the reported value only (for a
   diverged cell: `not computed: <cell>: seed s diverged at epoch e, iteration i (...)`).
2. `not reported by the paper` — the paper prints no number (a dash) here.
3. Memory and speed (RATIO_METRICS) in a table with `compare_as_ratio_to` are compared as the
   row's ratio to the baseline row, measured against the paper's ratio:
   a. `reference row` — the baseline row itself (1 vs 1 is not a finding);
   b. `baseline not measured or not reported` — no ratio to form;
   c. `measured on different devices` — the row and the baseline were measured on different
      devices or hosts (provenance `device`/`host`, or `setup.device` of older files): a ratio
      across machines is not a ratio;
   d. `within tolerance` / `outside tolerance` as in 5 and 6, with the band taken from the
      column's, row's or table's tolerance (the paper-wide one is in the metric's unit, not a
      ratio's), by default {relative: 0.15}: |measured ratio − paper ratio| ≤ 0.15 · paper ratio.
4. `not comparable: <every deviation, ; separated>` — an accuracy cell whose runs did not train
   in the paper's setting on real data (comparability.py: data, input size, epochs, schedule,
   pretrained weights, ..., weights trained by other code), whatever the scale is called.
   Resource rows are measured at the paper's architecture at every scale and stay comparable.
5. `inconclusive (interval ±X)` — with n ≥ 3 seeds, the 95% Student-t interval of the mean is
   wider than the tolerance (X > band) and contains the reported value: the runs cannot tell
   agreement from disagreement at this tolerance.
6. `within tolerance` — |measured mean − reported| ≤ band.
7. `outside tolerance and interval` (n ≥ 3, the interval excludes the reported value) or
   `outside tolerance` (fewer than 3 seeds: no interval verdict).

With n ≥ 3, "reported value inside the interval" and "outside the tolerance" can only both hold
when the interval is wider than the band, which is case 5; so a reported value inside the interval
is never a pass of its own.  The band (tolerance.py): a bare number is absolute; with `absolute`
and `relative` a value passing either passes; a value compared directly also passes when it rounds
to the number as printed (half a unit of the spec's literal: "0.60" → ±0.005).
"""

from __future__ import annotations

from dmlrepro.tables.aggregate import MeasuredTable, Measurement
from dmlrepro.tables.tolerance import Tolerance

COMPUTED = "computed"
REPORTED_ONLY = "reported-only"
NO_TRAINER = "no trainer yet"
DIVERGED = "diverged"

NOT_COMPUTED = "not computed"
NOT_REPORTED = "not reported by the paper"
REFERENCE_ROW = "reference row"
NO_BASELINE = "baseline not measured or not reported"
DIFFERENT_DEVICES = "measured on different devices"
WITHIN = "within tolerance"
OUTSIDE = "outside tolerance"
OUTSIDE_INTERVAL = "outside tolerance and interval"
DEFAULT_TOLERANCE = 1.0
#: The documented band of a machine-dependent ratio when no column, row or table sets one.
DEFAULT_RATIO_TOLERANCE = {"relative": 0.15}
#: Seeds below which the t-interval says too little for a verdict (at n = 2 it is ±12.7 std/√2).
MIN_SEEDS_FOR_INTERVAL = 3
#: Metrics that depend on the machine: compared as ratios to the table's `compare_as_ratio_to`
#: row.  Parameter and MAC counts do not, and are compared directly even in such a table.
RATIO_METRICS = frozenset({"memory_mb", "fps", "inference_time_ms"})


def not_comparable(deviations: list[str]) -> str:
    return "not comparable: " + "; ".join(deviations)


def inconclusive(half_width: float) -> str:
    return f"inconclusive (interval ±{half_width:.2f})"


def row_name(row: dict) -> str:
    return " | ".join(str(x) for x in row["label"])


def tolerance_for(table: MeasuredTable, row: dict, column: dict, ratio: bool = False) -> Tolerance:
    """Most specific first: column, row, table, then (values only) the paper's."""
    sources = (column, row, table.spec) if ratio else (column, row, table.spec, table.paper_spec)
    for source in sources:
        value = source.get("tolerance")
        if value is not None:
            return Tolerance.from_spec(value)
    return Tolerance.from_spec(DEFAULT_RATIO_TOLERANCE if ratio else DEFAULT_TOLERANCE)


def baseline_index(table: MeasuredTable) -> int | None:
    name = table.spec.get("compare_as_ratio_to")
    if name is None:
        return None
    for index, row in enumerate(table.spec["rows"]):
        if row_name(row) == name:
            return index
    raise ValueError(f"{table.paper} {table.table_id}: compare_as_ratio_to names no row {name!r}")


def status_of(table: MeasuredTable, row_index: int, column_id: str) -> str:
    row = table.spec["rows"][row_index]
    if "cell" not in row:
        return REPORTED_ONLY
    if (row_index, column_id) in table.diverged:
        return DIVERGED
    return COMPUTED if (row_index, column_id) in table.cells else NO_TRAINER


def same_machine(a: Measurement, b: Measurement) -> bool:
    """False when both record a device (or a host) and they differ."""
    return not ((a.devices and b.devices and a.devices != b.devices) or (a.hosts and b.hosts and a.hosts != b.hosts))


def _machines(measurement: Measurement) -> str:
    devices = "; ".join(sorted(measurement.devices))
    hosts = ", ".join(sorted(measurement.hosts))
    return f"{devices} @ {hosts}" if hosts else devices


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def diff_rows(table: MeasuredTable) -> list[dict]:
    """Every row × column of the table, in the paper's order; see the module docstring."""
    spec = table.spec
    base = baseline_index(table)
    lines = []
    for row_index, row in enumerate(spec["rows"]):
        for column in spec["columns"]:
            lines.append(_diff_cell(table, base, row_index, row, column))
    return lines


def _diff_cell(table: MeasuredTable, base: int | None, row_index: int, row: dict, column: dict) -> dict:
    spec, column_id = table.spec, column["id"]
    reported = row.get("reported", {}).get(column_id)
    status = status_of(table, row_index, column_id)
    measurement = table.cells.get((row_index, column_id))
    entry = {
        "paper": table.paper, "table": table.table_id, "row": row_name(row),
        "column": column.get("label", column_id), "column_id": column_id, "status": status,
        "reported": reported, "measured": None, "std": None, "n_seeds": None,
        "ci95_low": None, "ci95_high": None, "ci95_half_width": None,
        "compared_as": None, "reported_compared": None, "measured_compared": None, "delta": None,
        "tolerance": None, "tolerance_rule": None, "verdict": NOT_COMPUTED, "measured_on": None, "scale": table.scale,
    }
    if status == DIVERGED:
        entry["verdict"] = f"{NOT_COMPUTED}: " + "; ".join(table.diverged[(row_index, column_id)])
    if measurement is None:
        return entry
    entry.update(measured=_r(measurement.mean), std=_r(measurement.std), n_seeds=measurement.n,
                 measured_on=_machines(measurement) or None)
    ratio = base is not None and column["metric"] in RATIO_METRICS
    tolerance = tolerance_for(table, row, column, ratio=ratio)
    if ratio:
        entry["compared_as"] = f"ratio to '{spec['compare_as_ratio_to']}'"
        return _judge_ratio(table, base, row_index, column, reported, measurement, tolerance, entry)
    entry["compared_as"] = "value"
    interval = measurement.interval()
    half_width = measurement.half_width()
    if interval is not None:
        entry.update(ci95_low=_r(interval[0]), ci95_high=_r(interval[1]), ci95_half_width=_r(half_width))
    if reported is None:
        entry["verdict"] = NOT_REPORTED
        return entry
    printed = table.literals.get((row_index, column_id))
    if printed is not None and float(printed) != float(reported):
        printed = None  # a literal that is not this number (another spec file): trust the number
    printed = printed if printed is not None else repr(float(reported))
    band = tolerance.band(reported, printed)
    delta = measurement.mean - reported
    entry.update(reported_compared=reported, measured_compared=_r(measurement.mean), delta=_r(delta),
                 tolerance=_r(band), tolerance_rule=tolerance.describe(reported, printed))
    if measurement.deviations:
        entry["verdict"] = not_comparable(measurement.deviations)
    elif measurement.n >= MIN_SEEDS_FOR_INTERVAL and half_width > band and abs(delta) <= half_width:
        entry["verdict"] = inconclusive(half_width)
    elif abs(delta) <= band:
        entry["verdict"] = WITHIN
    else:
        entry["verdict"] = OUTSIDE_INTERVAL if measurement.n >= MIN_SEEDS_FOR_INTERVAL else OUTSIDE
    return entry


def _judge_ratio(table, base, row_index, column, reported, measurement, tolerance, entry) -> dict:
    column_id = column["id"]
    if reported is None:
        entry["verdict"] = NOT_REPORTED
        return entry
    if row_index == base:
        entry.update(reported_compared=1.0, measured_compared=1.0, verdict=REFERENCE_ROW)
        return entry
    base_measured = table.cells.get((base, column_id))
    base_reported = table.spec["rows"][base].get("reported", {}).get(column_id)
    if base_measured is None or not base_measured.mean or not base_reported:
        entry["verdict"] = NO_BASELINE
        return entry
    measured_ratio, reported_ratio = measurement.mean / base_measured.mean, reported / base_reported
    band = tolerance.band(reported_ratio)
    entry.update(measured_compared=_r(measured_ratio), reported_compared=reported_ratio,
                 delta=_r(measured_ratio - reported_ratio), tolerance=_r(band),
                 tolerance_rule=tolerance.describe(reported_ratio))
    if not same_machine(measurement, base_measured):
        entry["verdict"] = DIFFERENT_DEVICES
    elif abs(measured_ratio - reported_ratio) <= band:
        entry["verdict"] = WITHIN
    else:
        entry["verdict"] = OUTSIDE
    return entry
