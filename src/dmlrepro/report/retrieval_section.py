"""The image-retrieval part of a report's "Evaluation-protocol variants" section: for every regenerated
Recall@K number of a table (a flat column: the cell's standard protocol), the cell's recorded value
and each Recall@K variant of dmlrepro.report.retrieval_variants re-measured from the same model.pt,
with how much the variant moves it; and per cell the NMI variants (no table of the five papers
prints NMI: shown as the spread the clustering choice alone makes)."""

from __future__ import annotations

import html
import statistics

from dmlrepro.report.retrieval_variants import COSINE, DROP_FIRST, EUCLIDEAN, NMI_VARIANTS, PESSIMISTIC, RECALL_VARIANTS

RECALL_ORDER = (COSINE, EUCLIDEAN, DROP_FIRST, PESSIMISTIC)


def _signed(x: float) -> str:
    """+0.00 for a difference that rounds to zero (never -0.00)."""
    return f"{round(x, 2) + 0.0:+.2f}"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def recall_rows(tables: dict, variants: dict | None, cell_ids: dict) -> list[dict]:
    """One dict per regenerated Recall@K number: table, row, column, n, recorded, {variant: mean},
    or `reason` when the cell was not re-measured."""
    if not variants:
        return []
    by_cell = {(r["cell"], r["seed"]): r for r in variants.get("results", [])}
    out = []
    for table_id, table in tables.items():
        for column in table.spec["columns"]:
            metric = column.get("metric", "")
            if not metric.startswith("recall@") or column.get("protocol"):
                continue
            for index, row in enumerate(table.spec["rows"]):
                cell = cell_ids.get((table_id, index, column.get("dataset")))
                if cell is None:
                    continue
                base = {"table": table_id, "row": row["source"]["row"], "column": column.get("label", column["id"]),
                        "n": len(table.seeds)}
                entries = [by_cell.get((cell, s)) for s in table.seeds]
                if any(e is None or metric not in (e.get("recall") or {}).get(COSINE, {}) for e in entries):
                    reason = next((e.get("skipped") for e in entries if e and e.get("skipped")), "not re-evaluated")
                    out.append({**base, "reason": reason})
                    continue
                out.append({**base, "recorded": statistics.fmean(e["recorded"][metric] for e in entries),
                            "values": {v: statistics.fmean(e["recall"][v][metric] for e in entries) for v in RECALL_ORDER}})
    return out


def nmi_rows(variants: dict | None) -> list[dict]:
    """Per re-measured retrieval cell: the NMI variants (mean over the cell's seeds)."""
    if not variants:
        return []
    per_cell: dict[str, list[dict]] = {}
    for entry in variants.get("results", []):
        if entry.get("nmi"):
            per_cell.setdefault(entry["cell"], []).append(entry["nmi"])
    out = []
    for cell, values in per_cell.items():
        row = {"cell": cell, "n": len(values), "num_clusters": values[0]["num_clusters"]}
        for key in (*NMI_VARIANTS, "nmi_faiss_seed_min", "nmi_faiss_seed_max"):
            known = [v[key] for v in values if v.get(key) is not None]
            row[key] = statistics.fmean(known) if len(known) == len(values) else None
        out.append(row)
    return out


def retrieval_section(table_html, tables: dict, variants: dict | None, cell_ids: dict) -> str:
    """The HTML of the retrieval variants ('' when no retrieval cell was re-measured)."""
    rows = recall_rows(tables, variants, cell_ids)
    nmis = nmi_rows(variants)
    if not rows and not nmis:
        return ""
    parts = ["<h3>Image retrieval: Recall@K and NMI</h3>",
             "<p class='small'>Recall@K (percent) of the same trained cells (model.pt re-embedded, nothing retrained): "
             + _e("; ".join(f"{k}: {RECALL_VARIANTS[k]}" for k in RECALL_ORDER))
             + ".  Each variant shows its value and (in brackets) how much it moves the recorded number; "
               "'recorded' is the cell's metrics.json, equal to the cosine re-evaluation.</p>"]
    body, classes = [], []
    for r in rows:
        line = [_e(r["table"]), _e(r["row"]), _e(r["column"]), str(r["n"])]
        if "reason" in r:
            line += [""] * (1 + len(RECALL_ORDER)) + [_e(r["reason"])]
        else:
            line.append(f"{r['recorded']:.2f}")
            line += [f"{r['values'][v]:.2f} ({_signed(r['values'][v] - r['recorded'])})" for v in RECALL_ORDER]
            line.append("")
        body.append(line)
        classes.append([""] * 4 + ["num"] * (1 + len(RECALL_ORDER)) + [""])
    if rows:
        parts.append(table_html(["table", "row", "column", "n", "recorded", *RECALL_ORDER, "note"], body, classes))
        moved = {v: [r["values"][v] - r["recorded"] for r in rows if "values" in r] for v in RECALL_ORDER[1:]}
        summary = [f"{v} {_signed(min(d))} to {_signed(max(d))}" for v, d in moved.items() if d]
        if summary:
            parts.append("<p>Points each variant moves Recall@K on these cells: " + _e("; ".join(summary)) + ".</p>")
    if nmis:
        parts.append("<p class='small'>NMI (a fraction; no table of this paper prints it) of k-means with k = the "
                     "number of test classes: " + _e("; ".join(f"{k}: {v}" for k, v in NMI_VARIANTS.items()))
                     + "; faiss seeds 0-2 give the range shown.</p>")
        fmt = (lambda v: "" if v is None else f"{v:.4f}")
        body = [[_e(r["cell"]), str(r["n"]), str(r["num_clusters"]), fmt(r["nmi_faiss"]), fmt(r["nmi_faiss_normalised"]),
                 fmt(r["nmi_sklearn"]), f"{fmt(r['nmi_faiss_seed_min'])} – {fmt(r['nmi_faiss_seed_max'])}"] for r in nmis]
        parts.append(table_html(["cell", "n", "k", "nmi_faiss", "nmi_faiss_normalised", "nmi_sklearn", "faiss seeds 0-2"],
                                body, [["", "num", "num", "num", "num", "num", "num"]] * len(body)))
    return "\n".join(parts)
