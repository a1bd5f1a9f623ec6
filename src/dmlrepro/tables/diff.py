"""The diff of a regenerated table against the paper: one line per computed cell with a verdict.

Verdicts, in order: within tolerance (|measured mean − reported| ≤ tolerance); reported value
inside the 95% Student-t interval of the mean over seeds (needs ≥ 2 seeds); outside both.

Accuracy cells are compared directly (measured − reported, absolute tolerance in the metric's
unit).  Tables with `compare_as_ratio_to` (memory, speed: machine-dependent) are compared as each
row's ratio to the named baseline row, measured ratio against the paper's ratio.
"""

from __future__ import annotations

from dmlrepro.specs.paper_spec import RESOURCE_METRICS
from dmlrepro.tables.aggregate import MeasuredTable

def not_comparable(scale: str) -> str:
    return f"not comparable ({scale} scale)"


NOT_COMPARABLE = not_comparable("smoke")
WITHIN = "within tolerance"
IN_INTERVAL = "reported value inside the 95% interval"
OUTSIDE = "outside tolerance and interval"
NOT_REPORTED = "not reported by the paper"
DEFAULT_TOLERANCE = 1.0
#: Metrics that depend on the machine: compared as ratios to the table's `compare_as_ratio_to`
#: row.  Parameter and MAC counts do not, and are compared directly even in such a table.
RATIO_METRICS = frozenset({"memory_mb", "fps", "inference_time_ms"})


def printed_half_unit(value: float) -> float:
    """Half a unit in the last printed decimal of a reported number (0.18 → 0.005).

    Decimals are read from the number's shortest repr, so trailing zeros the paper printed
    (165.00) are not seen and the rule is slightly more generous there (0.05)."""
    text = repr(float(value))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    return 0.5 * 10.0 ** -decimals


def row_name(row: dict) -> str:
    return " | ".join(str(x) for x in row["label"])


def tolerance_for(table: MeasuredTable, row: dict, column: dict) -> dict:
    """Most specific first: column, row, table, paper; a number means an absolute tolerance."""
    for source in (column, row, table.spec, table.paper_spec):
        value = source.get("tolerance")
        if value is not None:
            return value if isinstance(value, dict) else {"absolute": float(value)}
    return {"absolute": DEFAULT_TOLERANCE}


def baseline_index(table: MeasuredTable) -> int | None:
    name = table.spec.get("compare_as_ratio_to")
    if name is None:
        return None
    for index, row in enumerate(table.spec["rows"]):
        if row_name(row) == name:
            return index
    raise ValueError(f"{table.paper} {table.table_id}: compare_as_ratio_to names no row {name!r}")


def comparable(table: MeasuredTable, column: dict | None = None) -> bool:
    """Resource columns are measured at the paper's architecture at every scale (also in a mixed
    table); accuracy columns only at `paper` scale."""
    if column is not None:
        return table.scale == "paper" or column["metric"] in RESOURCE_METRICS
    return table.scale == "paper" or table.spec.get("kind") == "resources"


def diff_rows(table: MeasuredTable) -> list[dict]:
    rows = []
    spec = table.spec
    base = baseline_index(table)
    for (row_index, column_id), measurement in sorted(table.cells.items()):
        row = spec["rows"][row_index]
        column = next(c for c in spec["columns"] if c["id"] == column_id)
        reported = row.get("reported", {}).get(column_id)
        measured = measurement.mean
        tolerance = tolerance_for(table, row, column)
        entry = {
            "paper": table.paper, "table": table.table_id, "row": row_name(row),
            "column": column.get("label", column_id), "column_id": column_id,
            "reported": reported, "measured": round(measured, 4), "std": round(measurement.std, 4),
            "n_seeds": measurement.n, "ci95_low": None, "ci95_high": None, "compared_as": "value", "measured_compared": None,
            "reported_compared": None, "delta": None, "tolerance": None, "verdict": NOT_REPORTED,
            "scale": table.scale,
        }
        if base is not None and column["metric"] in RATIO_METRICS:
            base_measured = table.cells.get((base, column_id))
            base_reported = spec["rows"][base].get("reported", {}).get(column_id)
            entry["compared_as"] = f"ratio to '{spec['compare_as_ratio_to']}'"
            measured_cmp = measured / base_measured.mean if base_measured else None
            reported_cmp = reported / base_reported if (reported is not None and base_reported) else None
            limit = tolerance.get("relative", tolerance.get("absolute"))
        else:
            measured_cmp, reported_cmp = measured, reported
            limit = tolerance.get("absolute")
            if limit is None and reported is not None:
                limit = tolerance["relative"] * abs(reported)
            if limit is not None and reported is not None:
                # A value that rounds to the number as printed agrees with it (0.176 vs "0.18").
                limit = max(limit, printed_half_unit(reported))
        interval = measurement.interval() if entry["compared_as"] == "value" else None
        if interval is not None:
            entry["ci95_low"], entry["ci95_high"] = round(interval[0], 4), round(interval[1], 4)
        entry["measured_compared"] = None if measured_cmp is None else round(measured_cmp, 4)
        entry["reported_compared"] = reported_cmp
        entry["tolerance"] = limit
        if reported_cmp is not None and measured_cmp is not None:
            delta = measured_cmp - reported_cmp
            entry["delta"] = round(delta, 4)
            if not comparable(table, column):
                entry["verdict"] = not_comparable(table.scale)
            elif abs(delta) <= limit:
                entry["verdict"] = WITHIN
            elif interval is not None and interval[0] <= reported_cmp <= interval[1]:
                entry["verdict"] = IN_INTERVAL
            else:
                entry["verdict"] = OUTSIDE
        rows.append(entry)
    return rows
