"""One self-contained reproduction report per paper (results/<paper>/report.html): scope, summary
counts, every table with its diff, the figures (the regenerated PNGs, inline), the claims over
seeds, the paper's own consistency, every interpretation, and the evaluation-protocol variants.

Everything shown is read from what the workflow wrote or the specs say: the tables' diff files
(results/<paper>/<table>.diff.csv), the cells' metrics.json provenance (via the collected tables),
the claims evaluated on the same cells (dmlrepro.claims.evaluate), the consistency checks
(dmlrepro.claims.consistency), the spec's and README's notes (interpretations.py) and the
re-evaluated protocol variants (protocol_variants.py).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import statistics
from collections import Counter
from pathlib import Path

from dmlrepro.claims.consistency import AGREE, DISAGREE, UNVERIFIABLE, CheckResult
from dmlrepro.claims.evaluate import CATEGORIES, ClaimResult
from dmlrepro.claims.spec_check import claim_target
from dmlrepro.report import markdown_lite
from dmlrepro.report.interpretations import check_notes, readme_sections, spec_notes
from dmlrepro.report.protocol_variants import NONINTERPOLATED, TRAPEZOID

#: Diff verdict → summary bucket (dmlrepro.tables.diff's verdicts, by prefix).
DIFF_BUCKETS = (("within tolerance", "within tolerance"), ("outside tolerance", "outside tolerance"),
                ("inconclusive", "inconclusive"), ("not comparable", "not comparable"),
                ("measured on different devices", "not comparable"))
SUMMARY_BUCKETS = ("within tolerance", "outside tolerance", "inconclusive", "not comparable", "other")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1300px;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:2em} h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em} td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f0f0f0;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.v-ok{background:#dff5df} .v-bad{background:#f8d7d7} .v-unk{background:#fff3cd} .v-nc{background:#e6e6f2} .v-na{color:#777}
blockquote{margin:.4em 0 .4em 1em;padding-left:.8em;border-left:3px solid #aac;color:#333;font-style:italic}
.caption{white-space:pre-wrap;font-size:.85em;color:#444} .small{font-size:.8em;color:#555}
img{max-width:100%;border:1px solid #ddd} code{background:#f4f4f4;padding:0 2px}
nav a{margin-right:1em}
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _verdict_class(verdict: str) -> str:
    v = (verdict or "").lower()
    if v.startswith(("within", "supported", AGREE)):
        return "v-ok"
    if v.startswith(("outside", "contradicted", DISAGREE)):
        return "v-bad"
    if v.startswith("inconclusive"):
        return "v-unk"
    if v.startswith(("not comparable", "measured on different")):
        return "v-nc"
    return "v-na"


def _table_html(headers: list[str], body: list[list], classes: list[list[str]] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    rows = []
    for i, line in enumerate(body):
        cells = []
        for j, cell in enumerate(line):
            cls = classes[i][j] if classes and classes[i][j] else ""
            cells.append(f'<td class="{cls}">{cell}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def read_diff(path: str | Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def diff_bucket(verdict: str) -> str:
    for prefix, bucket in DIFF_BUCKETS:
        if verdict.startswith(prefix):
            return bucket
    return "other"


# ------------------------------------------------------------------------------------ sections


def _scope(spec: dict, tables: dict, figures: dict, scale: str, seeds: list[int], variants: dict | None) -> str:
    commits = sorted({c for t in tables.values() for c in t.commits})
    devices = sorted({d for t in tables.values() for d in t.devices})
    data = sorted({d for t in tables.values() for d in t.data})
    dirty = any(t.dirty for t in tables.values())
    reused = sorted({r for t in tables.values() for r in t.reused_weights})
    nondet = sorted({r for t in tables.values() for r in t.nondeterministic_ops})
    rows = [
        ("Paper", f"{_e(spec['title'])} (<code>{_e(spec['paper'])}</code>, shared/papers/{_e(spec['source'])})"),
        ("Tables", ", ".join(f"{_e(tid)} ({_e(t['caption'])})" for tid, t in spec["tables"].items())),
        ("Figures", ", ".join(f"{_e(fid)} ({_e(f['caption'])})" for fid, f in spec.get("figures", {}).items()) or "none"),
        ("Scale", f"<code>{_e(scale)}</code>"),
        ("Seeds", _e(", ".join(str(s) for s in seeds)) + f" (n = {len(seeds)})"),
        ("Data", _e("; ".join(data)) or "none recorded"),
        ("Commits", _e(", ".join(commits) or "unknown") + (" (working tree had uncommitted changes)" if dirty else "")),
        ("Devices", _e("; ".join(devices) or "unknown")),
    ]
    if reused:
        rows.append(("Reused weights", _e("; ".join(reused))))
    if nondet:
        rows.append(("Nondeterministic kernels", _e(", ".join(nondet))))
    return "<h2 id='scope'>Scope</h2>" + _table_html(["", ""], [[f"<strong>{k}</strong>", v] for k, v in rows])


def _summary(diffs: dict[str, list[dict]], claims: list[ClaimResult], checks: list[CheckResult]) -> str:
    lines = [line for rows in diffs.values() for line in rows]
    computed = [line for line in lines if line["status"] == "computed"]
    buckets = Counter(diff_bucket(line["verdict"]) for line in computed)
    claim_counts = Counter(c.category for c in claims)
    check_counts = Counter(c.outcome for c in checks)
    numbers = [["numbers in the paper's tables", len([x for x in lines if x["reported"] not in ("", None)])],
               ["numbers regenerated (computed cells)", len(computed)]]
    numbers += [[f"&nbsp;&nbsp;{b}", buckets.get(b, 0)] for b in SUMMARY_BUCKETS]
    numbers.append(["cells not computed: a run diverged (training/divergence.py)",
                    sum(1 for line in lines if line["status"] == "diverged")])
    claim_rows = [["claims", len(claims)]] + [[f"&nbsp;&nbsp;{c}", claim_counts.get(c, 0)] for c in CATEGORIES]
    check_rows = [["consistency checks", len(checks)]] + [[f"&nbsp;&nbsp;{o}", check_counts.get(o, 0)]
                                                          for o in (AGREE, DISAGREE, UNVERIFIABLE)]
    body = [[a, f"<span class='num'>{b}</span>"] for a, b in numbers + claim_rows + check_rows]
    note = ("<p class='small'>'other' counts computed cells the paper prints no number for, reference rows of "
            "ratio columns, and baselines not measured.  Claims and consistency verdicts: see their sections.</p>")
    return "<h2 id='summary'>Summary</h2>" + _table_html(["", "count"], body) + note


def _e_markup(text) -> str:
    """Escaped, except the inline tags the papers' row labels carry as printed (<sup>64</sup>, <i>et al.</i>)."""
    import re

    return re.sub(r"&lt;(/?)(sup|sub|i|b)&gt;", r"<\1\2>", _e(text))


def _regenerated_grid(table) -> str:
    from dmlrepro.tables.render import caption, grid

    headers, body = grid(table)
    return (f"<div class='caption'>{_e(caption(table))}</div>"
            + _table_html(headers, [[_e_markup(c) for c in line] for line in body]))


DIFF_FIELDS = ("row", "column", "status", "reported", "measured", "std", "n_seeds", "ci95_low", "ci95_high",
               "compared_as", "delta", "tolerance", "verdict")


_ROUNDED = ("measured", "std", "ci95_low", "ci95_high", "delta", "tolerance")


def _cell(line: dict, field: str) -> str:
    value = line.get(field)
    if field in _ROUNDED and value not in (None, ""):
        try:
            return f"{float(value):.2f}"
        except ValueError:
            pass
    return _e(value)


def _diff_table(rows: list[dict]) -> str:
    """The diff's computed lines (reported-only lines are in the regenerated table above)."""
    body, classes = [], []
    for line in rows:
        if line["status"] == "reported-only":
            continue
        body.append([_cell(line, f) for f in DIFF_FIELDS])
        classes.append(["num" if f in ("reported", "measured", "std", "n_seeds", "ci95_low", "ci95_high", "delta",
                                       "tolerance") else "" for f in DIFF_FIELDS[:-1]] + [_verdict_class(line["verdict"])])
    return _table_html(list(DIFF_FIELDS), body, classes)


def _tables(spec: dict, tables: dict, diffs: dict[str, list[dict]]) -> str:
    parts = ["<h2 id='tables'>Tables</h2>"]
    for table_id, table_spec in spec["tables"].items():
        parts.append(f"<h3 id='{_e(table_id)}'>{_e(table_id)}: {_e(table_spec['caption'])}</h3>")
        if table_id in tables:
            parts.append(_regenerated_grid(tables[table_id]))
        if table_id in diffs:
            quoted = sum(1 for line in diffs[table_id] if line["status"] == "reported-only")
            parts.append(f"<details open><summary>Diff against the paper ({len(diffs[table_id]) - quoted} lines; "
                         f"{quoted} reported-only lines omitted, they are in the table above)</summary>"
                         + _diff_table(diffs[table_id]) + "</details>")
        else:
            parts.append("<p class='small'>Not regenerated (no diff file).</p>")
    return "\n".join(parts)


def _figures(spec: dict, figures: dict[str, Path]) -> str:
    parts = ["<h2 id='figures'>Figures</h2>"]
    for figure_id, figure in spec.get("figures", {}).items():
        parts.append(f"<h3 id='{_e(figure_id)}'>{_e(figure_id)}: {_e(figure['caption'])}</h3>")
        path = figures.get(figure_id)
        if path is not None and Path(path).is_file():
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            parts.append(f"<img alt='{_e(figure_id)}' src='data:image/png;base64,{data}'>")
        else:
            parts.append("<p class='small'>Not drawn.</p>")
    return "\n".join(parts)


def _fmt(value, digits=2) -> str:
    return "" if value is None else f"{value:+.{digits}f}"


def _claims(claims: list[ClaimResult]) -> str:
    parts = ["<h2 id='claims'>Claims</h2>",
             "<p class='small'>Each comparison is a difference signed so that positive is what the paper claims, "
             "paired by seed; interval: 95% Student-t over seeds; p: the one-sided t-test of the mean difference against 0 in the claimed direction (scipy.stats.ttest_1samp), beside the p-value the paper prints where it prints one.  'In the paper' is the same difference from the "
             "printed numbers.  Not comparable: the cells did not run the paper's setting; the measured direction "
             "is shown but never called support.</p>"]
    summary = []
    for result in claims:
        claim = result.claim
        holds = {True: "yes", False: "no", None: "—"}[result.paper_holds]
        summary.append([f"<a href='#claim-{_e(claim['id'])}'>{_e(claim['id'])}</a>", _e(claim_target(claim)),
                        _e(result.verdict), holds])
    parts.append(_table_html(["claim", "table or figure", "verdict", "paper's numbers agree"], summary,
                             [["", "", _verdict_class(r.verdict), ""] for r in claims]))
    for result in claims:
        claim = result.claim
        where = f"Sec. {claim.get('section', '?')}, {claim_target(claim)}"
        parts.append(f"<h3 id='claim-{_e(claim['id'])}'>{_e(claim['id'])} — <span class='{_verdict_class(result.verdict)}'>"
                     f"{_e(result.verdict)}</span></h3>")
        parts.append(f"<blockquote>{_e(claim['quote'])}</blockquote><p class='small'>{_e(where)}; {_e(claim['kind'])}, "
                     f"{_e(claim.get('direction', 'increasing'))}, over {_e(claim.get('over', 'each'))} column.</p>")
        if claim.get("notes"):
            parts.append(f"<p class='small'>Reading: {_e(claim['notes'])}</p>")
        if result.comparisons and all(c.reported is None for c in result.comparisons):
            parts.append("<p class='small'>The paper prints no number for these comparisons: the claim is judged "
                         "on the regenerated cells only.</p>")
        elif result.paper_exceptions:
            parts.append("<p class='small'>Where the paper's own numbers do not bear it out: "
                         + _e("; ".join(result.paper_exceptions)) + "</p>")
        body, classes = [], []
        for comp in result.comparisons:
            m = comp.measured
            interval = "" if m is None or m.low is None else f"[{m.low:+.2f}, {m.high:+.2f}]"
            p = "" if m is None or m.p_one_sided is None else f"{m.p_one_sided:.3g}"
            body.append([_e(comp.label), _fmt(comp.reported), "" if m is None else _fmt(m.mean), interval,
                         "" if m is None else str(m.n), p, "" if comp.paper_p is None else f"{comp.paper_p:g}",
                         _e(comp.verdict)])
            classes.append(["", "num", "num", "num", "num", "num", "num", _verdict_class(comp.verdict)])
        if body:
            parts.append(_table_html(["comparison", "in the paper", "measured mean", "95% interval", "n",
                                      "p (one-sided t-test)", "paper's p", "verdict"], body, classes))
    return "\n".join(parts)


def _consistency(checks: list[CheckResult]) -> str:
    parts = ["<h2 id='consistency'>The paper's own consistency</h2>",
             "<p class='small'>Each sentence that states a difference or percentage, recomputed exactly from the "
             "numbers of the table it cites (paper_tables/consistency).  Agree: the computed value is within half a "
             "unit of the stated value's last printed digit.</p>"]
    body, classes = [], []
    for result in checks:
        check = result.check
        operands = "; ".join(f"{op['value']} ({op['source']['row']}, {op['source']['column']})"
                             for op in check.get("operands", []))
        computed = "" if result.computed is None else f"{float(result.computed):.4g}"
        body.append([_e(check["id"]), f"<blockquote>{_e(check['quote'])}</blockquote>",
                     _e(f"Sec. {check.get('section', '?')}, table {check['table']}"), _e(check["stated"]),
                     _e(check["arithmetic"]), _e(operands), computed, _e(result.outcome), _e(check.get("notes", check.get("unverifiable", "")))])
        classes.append([""] * 7 + [_verdict_class(result.outcome), ""])
    parts.append(_table_html(["id", "sentence", "where", "stated", "arithmetic", "operands", "computed", "outcome",
                              "notes"], body, classes))
    return "\n".join(parts)


def _interpretations(spec: dict, checks: list[CheckResult], readme: Path | None) -> str:
    parts = ["<h2 id='interpretations'>Interpretations</h2>",
             "<p class='small'>Every gap the harness filled, as the spec and the README state it.</p>"]
    notes = spec_notes(spec) + check_notes([c.check for c in checks])
    parts.append(_table_html(["where", "note"], [[_e(w), _e(n)] for w, n in notes]))
    for heading, body in readme_sections(readme, spec["paper"]) if readme else []:
        parts.append(f"<h3>README — {_e(heading)}</h3>" + markdown_lite.to_html(body))
    return "\n".join(parts)


def variant_rows(spec: dict, tables: dict, variants: dict | None, cell_ids: dict) -> list[list]:
    """(table, row, column, seeds, recorded mAP, non-interpolated, trapezoid, Δ) per computed mAP cell."""
    if not variants:
        return []
    by_cell: dict[tuple[str, int], dict] = {(r["cell"], r["seed"]): r for r in variants.get("results", [])}
    out = []
    for table_id, table in tables.items():
        for column in table.spec["columns"]:
            if column["metric"] != "map" or column.get("protocol"):
                continue  # a named protocol (multi-query, ...) is another evaluation than the one re-measured
            for index, row in enumerate(table.spec["rows"]):
                cell = cell_ids.get((table_id, index, column.get("dataset")))
                if cell is None:
                    continue
                entries = [by_cell.get((cell, s)) for s in table.seeds]
                if any(e is None or NONINTERPOLATED not in e for e in entries):
                    reason = next((e.get("skipped") for e in entries if e and e.get("skipped")), "not re-evaluated")
                    out.append([table_id, row["source"]["row"], column.get("label", column["id"]), len(table.seeds),
                                None, None, None, reason])
                    continue
                rec = statistics.fmean(e["recorded_map"] for e in entries)
                non = statistics.fmean(e[NONINTERPOLATED] for e in entries)
                trap = statistics.fmean(e[TRAPEZOID] for e in entries)
                out.append([table_id, row["source"]["row"], column.get("label", column["id"]), len(entries),
                            rec, non, trap, trap - non])
    return out


def _variants(rows: list[list], variants: dict | None, task: str, tables: dict | None = None,
              cell_ids: dict | None = None) -> str:
    from dmlrepro.report.retrieval_section import retrieval_section

    parts = ["<h2 id='protocols'>Evaluation-protocol variants</h2>"]
    if variants is None or not variants.get("results"):
        parts.append(f"<p>No protocol variant is implemented for this paper's cells (task {_e(task)}); re-ID cells get "
                     "mAP non-interpolated (torchreid) vs trapezoid (official Market-1501 code), image-retrieval cells "
                     "Recall@K and NMI as the field's codebases compute them.</p>")
        return "\n".join(parts)
    retrieval = retrieval_section(_table_html, tables or {}, variants, cell_ids or {})
    if rows:
        parts.append(_reid_variants(rows, variants))
    parts.append(retrieval)
    skipped = sorted({r["skipped"] for r in variants["results"] if r.get("skipped")})
    if skipped:
        parts.append("<p class='small'>Not re-measured: " + _e("; ".join(skipped)) + ".</p>")
    return "\n".join(parts)


def _reid_variants(rows: list[list], variants: dict) -> str:
    parts = ["<h3>Re-ID: mAP</h3>"]
    parts.append("<p class='small'>Re-ID mAP of the same trained cells (model.pt re-embedded, nothing retrained): "
                 + _e("; ".join(f"{k}: {variants['variants'][k]}" for k in (NONINTERPOLATED, TRAPEZOID)))
                 + ".  'recorded' is the cell's metrics.json; it equals the non-interpolated re-evaluation.</p>")
    body, classes = [], []
    for table_id, row, column, n, rec, non, trap, delta in rows:
        if rec is None:
            body.append([_e(table_id), _e(row), _e(column), str(n), "", "", "", _e(delta)])
        else:
            body.append([_e(table_id), _e(row), _e(column), str(n), f"{rec:.2f}", f"{non:.2f}", f"{trap:.2f}", f"{delta:+.2f}"])
        classes.append(["", "", "", "num", "num", "num", "num", "num"])
    parts.append(_table_html(["table", "row", "column", "n", "recorded mAP", "non-interpolated", "trapezoid",
                              "Δ trapezoid − non-interpolated"], body, classes))
    deltas = [r[7] for r in rows if isinstance(r[7], float)]
    if deltas:
        parts.append(f"<p>The trapezoid rule moves mAP by {min(deltas):+.2f} to {max(deltas):+.2f} points "
                     f"(mean {statistics.fmean(deltas):+.2f}) on these cells.</p>")
    return "\n".join(parts)


def build_report(spec: dict, tables: dict, diffs: dict[str, list[dict]], figures: dict[str, Path],
                 claims: list[ClaimResult], checks: list[CheckResult], *, scale: str, seeds: list[int],
                 variants: dict | None = None, cell_ids: dict | None = None, readme: Path | None = None) -> str:
    """The page as one HTML string (no external resources: figures are inline PNGs)."""
    rows = variant_rows(spec, tables, variants, cell_ids or {})
    nav = "".join(f"<a href='#{a}'>{t}</a>" for a, t in (("scope", "Scope"), ("summary", "Summary"), ("tables", "Tables"),
                                                         ("figures", "Figures"), ("claims", "Claims"),
                                                         ("consistency", "Consistency"), ("interpretations", "Interpretations"),
                                                         ("protocols", "Protocol variants")))
    body = "\n".join([
        f"<h1>Reproduction report: {_e(spec['title'])}</h1>",
        f"<nav>{nav}</nav>",
        _scope(spec, tables, figures, scale, seeds, variants),
        _summary(diffs, claims, checks),
        _tables(spec, tables, diffs),
        _figures(spec, figures),
        _claims(claims),
        _consistency(checks),
        _interpretations(spec, checks, readme),
        _variants(rows, variants, spec.get("task", ""), tables, cell_ids or {}),
    ])
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>dmlrepro report: {_e(spec['paper'])}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>\n")


def load_variants(path: str | Path | None) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text())
