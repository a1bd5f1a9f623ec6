"""The diff of a regenerated table against the paper: one line per computed cell with a verdict."""

from __future__ import annotations

from dmlrepro.tables.aggregate import MeasuredTable

NOT_COMPARABLE = "not comparable (smoke scale)"
WITHIN = "within tolerance"
OUTSIDE = "outside tolerance"
NOT_REPORTED = "not reported by the paper"


def tolerance_for(table: MeasuredTable, row: dict, column: dict) -> float:
    """Most specific first: the column's, then the row's, then the paper's default."""
    for source in (column, row, table.paper_spec):
        if source.get("tolerance") is not None:
            return float(source["tolerance"])
    return 1.0


def verdict(table: MeasuredTable, reported: float | None, delta: float | None, tolerance: float) -> str:
    if reported is None:
        return NOT_REPORTED
    if table.scale != "paper":
        return NOT_COMPARABLE
    return WITHIN if abs(delta) <= tolerance else OUTSIDE


def diff_rows(table: MeasuredTable) -> list[dict]:
    rows = []
    spec = table.spec
    for (row_index, column_id), measurement in sorted(table.cells.items()):
        row = spec["rows"][row_index]
        column = next(c for c in spec["columns"] if c["id"] == column_id)
        reported = row.get("reported", {}).get(column_id)
        measured = measurement.mean
        delta = None if reported is None else measured - reported
        tolerance = tolerance_for(table, row, column)
        rows.append({
            "paper": table.paper,
            "table": table.table_id,
            "row": " | ".join(str(x) for x in row["label"] if str(x)),
            "column": column.get("label", column_id),
            "column_id": column_id,
            "reported": reported,
            "measured": round(measured, 4),
            "std": round(measurement.std, 4),
            "n_seeds": measurement.n,
            "delta": None if delta is None else round(delta, 4),
            "tolerance": tolerance,
            "verdict": verdict(table, reported, delta, tolerance),
            "scale": table.scale,
        })
    return rows
