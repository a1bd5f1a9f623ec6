"""Lay a regenerated table out like the paper's: its row labels, its columns, each computed value
beside the reported one and the delta; reported-only rows kept and marked."""

from __future__ import annotations

import csv
import io

from tabulate import tabulate

from dmlrepro.atomic_io import atomic_write_text
from dmlrepro.specs.paper_spec import RESOURCE_METRICS
from dmlrepro.tables.aggregate import MeasuredTable
from dmlrepro.tables.diff import DIVERGED, MIN_SEEDS_FOR_INTERVAL, diff_rows
from dmlrepro.tables.tolerance import printed_decimals

REPORTED_ONLY_MARK = "†"
DIVERGED_MARK = DIVERGED  # a cell with a diverged run reads as its diff status


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _decimals(value: float) -> int:
    text = repr(float(value))
    return 0 if "e" in text else len(text.split(".")[1].rstrip("0"))


def _digits(table: MeasuredTable, column: dict) -> int:
    """As many decimals as the paper prints in this column (0.015 G needs 3; 165.00 two, read from
    the spec's literal), at least 2 for a resource column and 1 otherwise."""
    printed = []
    for index, row in enumerate(table.spec["rows"]):
        value = row.get("reported", {}).get(column["id"])
        if value is None:
            continue
        literal = table.literals.get((index, column["id"]))
        printed.append(printed_decimals(literal) if literal is not None else _decimals(value))
    return max(printed + [2 if column["metric"] in RESOURCE_METRICS else 1])


def caption(table: MeasuredTable) -> str:
    """What was run and how to read it: the data the cells read (not the scale's name), every
    deviation from the paper's setting, reused weights and nondeterministic kernels."""
    spec, paper = table.spec, table.paper_spec
    seeds = ", ".join(str(s) for s in table.seeds)
    if spec.get("layout") == "text":  # numbers the paper prints in a sentence, not a table
        where = f"Text result {spec['number']} of {paper['paper']} ({paper['source']}, Sec. {spec['section']}, no table): "
    else:
        where = f"Table {spec['number']} of {paper['paper']} ({paper['source']}): "
    lines = [
        where + spec["caption"],
        f"Regenerated at scale `{table.scale}` with seeds [{seeds}] (n = {len(table.seeds)}); each cell is "
        + ("mean ± std over seeds [95% t-interval] " if len(table.seeds) > 1 else "measured ")
        + "(paper, Δ = measured − paper).",
    ]
    metrics = {c["metric"] for c in spec["columns"]}
    accuracy_computed = any(c["metric"] not in RESOURCE_METRICS for c in spec["columns"]
                            for (_, cid) in table.cells if cid == c["id"])
    if table.data:
        lines.append(f"Data: {'; '.join(sorted(table.data))}.")
    split_counts = sorted({m.splits for m in table.cells.values() if m.splits})
    if split_counts:  # dmlrepro.tables.splits
        lines.append("Columns the paper averages over splits: each seed's value is the mean of one training run per split ("
                     + "; ".join(f"{ran} of the paper's {n} splits ran" for ran, n in split_counts) + ").")
    if metrics & RESOURCE_METRICS:
        lines.append("Resource columns are measured at the paper's architecture and input size at every scale.")
    if spec.get("compare_as_ratio_to"):
        lines.append(f"Memory and speed depend on the machine: the diff compares each row's ratio to '{spec['compare_as_ratio_to']}' "
                     "with the paper's ratio (rows measured on different devices or hosts are not compared); "
                     "parameters and FLOPs are compared directly.")
    if accuracy_computed:
        deviations = table.deviations()
        if deviations:
            lines.append("The accuracy numbers are NOT comparable to the paper: the runs deviate from its setting ("
                         + "; ".join(deviations) + ").")
        else:
            lines.append("The accuracy cells ran in the paper's setting on real data and are judged against it.")
        if len(table.seeds) < MIN_SEEDS_FOR_INTERVAL:
            lines.append(f"Fewer than {MIN_SEEDS_FOR_INTERVAL} seeds: no verdict rests on the interval.")
    if table.reused_weights:
        lines.append("Weights reused from earlier runs, not retrained (reuse_weights): " + "; ".join(sorted(table.reused_weights)) + ".")
    if table.nondeterministic_ops:
        lines.append("Nondeterministic kernels ran (PyTorch's alerts), so reruns may differ in the last digits: "
                     + ", ".join(sorted(table.nondeterministic_ops)) + ".")
    if any((i, c["id"]) not in table.cells for i, row in enumerate(spec["rows"]) if "cell" in row
           for c in spec["columns"]):
        lines.append("(x) alone: the paper's number, not computed here (yet).")
    if table.diverged:
        runs = sorted({line for lines_ in table.diverged.values() for line in lines_})
        lines.append(f"{DIVERGED_MARK}: not computed, a run of the cell diverged (its loss became NaN or infinite; "
                     "recorded as the result, never averaged away): " + "; ".join(runs) + ".")
    if any("cell" not in row for row in spec["rows"]):
        lines.append(f"{REPORTED_ONLY_MARK} reported only: numbers the paper quotes from other work; not recomputed.")
    if table.commits or table.devices:
        dirty = " (working tree had uncommitted changes)" if table.dirty else ""
        lines.append(f"Computed by commit(s) {', '.join(sorted(table.commits)) or 'unknown'}{dirty} on {'; '.join(sorted(table.devices))}.")
    return "\n".join(lines)


def grid(table: MeasuredTable) -> tuple[list[str], list[list[str]]]:
    spec = table.spec
    headers = list(spec["row_header"]) + [c.get("label", c["id"]) for c in spec["columns"]]
    body = []
    for index, row in enumerate(spec["rows"]):
        label = [str(x) for x in row["label"]]
        if "cell" not in row:
            label[0] += f" {REPORTED_ONLY_MARK}"
        cells = []
        for column in spec["columns"]:
            digits = _digits(table, column)
            reported = row.get("reported", {}).get(column["id"])
            measured = table.cells.get((index, column["id"]))
            if (index, column["id"]) in table.diverged:
                cells.append(f"{DIVERGED_MARK} ({_fmt(reported, digits)})")
                continue
            if measured is None:
                cells.append(f"({_fmt(reported, digits)})")
                continue
            text = _fmt(measured.mean, digits)
            if measured.n > 1:
                low, high = measured.interval()
                text += f"±{measured.std:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
            delta = "" if reported is None else f", Δ {measured.mean - reported:+.{digits}f}"
            cells.append(f"{text} ({_fmt(reported, digits)}{delta})")
        body.append(label + cells)
    if spec.get("layout") == "transposed":
        # The paper prints models as columns: one column per row, one printed row per label cell
        # after the first (e.g. "Hyper Parameter") and per measured column.
        headers, body = [headers[0]] + [line[0] for line in body], [
            [headers[i]] + [line[i] for line in body] for i in range(1, len(headers))
        ]
    return headers, body


def to_markdown(table: MeasuredTable) -> str:
    headers, body = grid(table)
    return f"{caption(table)}\n\n{tabulate(body, headers=headers, tablefmt='github')}\n"


def to_latex(table: MeasuredTable) -> str:
    headers, body = grid(table)
    inner = tabulate(body, headers=headers, tablefmt="latex_booktabs")
    cap = caption(table).replace("`", "").replace("_", r"\_").replace("%", r"\%").replace("Δ", r"$\Delta$").replace("±", r"$\pm$")
    inner = inner.replace("Δ", r"$\Delta$").replace("†", r"$^\dagger$").replace("±", r"$\pm$")
    return "\\begin{table}\n\\centering\n" + inner + f"\n\\caption{{{cap}}}\n\\end{{table}}\n"


def to_csv(table: MeasuredTable) -> str:
    spec = table.spec
    out = io.StringIO()
    writer = csv.writer(out)
    header = list(spec["row_header"]) + ["reported_only"]
    for column in spec["columns"]:
        header += [f"{column['id']} measured", f"{column['id']} std", f"{column['id']} n", f"{column['id']} reported", f"{column['id']} delta"]
    writer.writerow(header)
    for index, row in enumerate(spec["rows"]):
        line = [str(x) for x in row["label"]] + ["cell" not in row]
        for column in spec["columns"]:
            reported = row.get("reported", {}).get(column["id"])
            measured = table.cells.get((index, column["id"]))
            if measured is None:
                line += ["", "", "", reported, ""]
            else:
                delta = "" if reported is None else round(measured.mean - reported, 4)
                line += [round(measured.mean, 4), round(measured.std, 4), measured.n, reported, delta]
        writer.writerow(line)
    return out.getvalue()


def diff_to_csv(table: MeasuredTable) -> str:
    rows = diff_rows(table)
    out = io.StringIO()
    fields = ["paper", "table", "row", "column", "column_id", "status", "reported", "measured", "std", "n_seeds",
              "ci95_low", "ci95_high", "ci95_half_width", "compared_as", "reported_compared", "measured_compared",
              "delta", "tolerance", "tolerance_rule", "verdict", "measured_on", "scale"]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def render_table(table: MeasuredTable, out_prefix: str) -> str:
    """Write <prefix>.md/.csv/.tex/.diff.csv atomically; return the Markdown."""
    markdown = to_markdown(table)
    atomic_write_text(f"{out_prefix}.csv", to_csv(table))
    atomic_write_text(f"{out_prefix}.tex", to_latex(table))
    atomic_write_text(f"{out_prefix}.diff.csv", diff_to_csv(table))
    atomic_write_text(f"{out_prefix}.md", markdown)
    return markdown
