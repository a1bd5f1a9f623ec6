"""Evaluate a paper's claims (spec `claims:`) on the regenerated cells, over seeds.

A claim is split into elementary comparisons, each one difference A − B signed so that a positive
value is what the paper claims:

* compare: every row of `rows` against every row of `than`, `direction` higher or lower;
* trend: consecutive rows of `rows` (rows[i+1] − rows[i]), `direction` increasing or decreasing;

on every column (`over: each`, the default) or on the mean of the columns (`over: mean`).

Each comparison pairs the runs by seed (A's seed s minus B's seed s; the measurements of a table
list their values in the order of its seeds).  A row quoted from other work (reported only) enters
with its printed number, the same for every seed.  Verdict of one comparison, first that applies:

1. `not computed` — a cell of the comparison was not regenerated, a run of it diverged
   (training/divergence.py: named, with seed and epoch), or the paper prints a dash;
2. `not comparable: <deviations>` — a cell did not run the paper's setting (synthetic data, smoke
   scale, ...: the deviations comparability.py names, as the table verdicts say); the measured
   mean difference is still shown, never called support;
3. resource costs (memory, speed, parameters, FLOPs) are measured once per machine, not per seed:
   `measured on different devices` when the two rows ran on different machines, else supported /
   contradicted by the sign of the one measured difference (0 is inconclusive);
4. fewer than 3 seeds (tables/diff.py MIN_SEEDS_FOR_INTERVAL): `inconclusive (n = k < 3 seeds: no
   interval)`;
5. the 95% Student-t interval of the mean paired difference (scipy.stats.t, n − 1 degrees of
   freedom): above 0 `supported`, below 0 `contradicted`, else `inconclusive (interval ±h)`.

A claim's verdict combines its comparisons: not computed if any is, else not comparable if any
is, else contradicted if any is, else supported if all are, else inconclusive (largest half-width);
a comparison against a quoted row that prints a dash in the column (MHDML Table 2's R@1000 of
RLL-H) is listed but left out of the combination, unless every comparison is one.
Independently, `paper` says whether the paper's own printed numbers bear the claim out (every
reported difference strictly positive in the claimed direction).
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field

from dmlrepro.claims.spec_check import claim_rows, claim_target
from dmlrepro.specs.paper_spec import RESOURCE_METRICS
from dmlrepro.tables.diff import DIFFERENT_DEVICES, MIN_SEEDS_FOR_INTERVAL, not_comparable, same_machine

SUPPORTED = "supported"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_COMPARABLE = "not comparable"
NOT_COMPUTED = "not computed"
CONFIDENCE = 0.95
#: Summary categories, in the order the report counts them.
CATEGORIES = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_COMPARABLE, NOT_COMPUTED)


def category(verdict: str) -> str:
    """The summary category of a verdict string ("inconclusive (interval ±0.4)" → inconclusive)."""
    for name in CATEGORIES:
        if verdict.startswith(name):
            return name
    if verdict == DIFFERENT_DEVICES:
        return NOT_COMPARABLE
    raise ValueError(f"unknown claim verdict {verdict!r}")


@dataclass
class Interval:
    mean: float
    low: float | None
    high: float | None
    n: int
    #: the t-test of the mean paired difference against 0 (scipy.stats.ttest_1samp): one-sided in
    #: the claimed direction (H1: mean > 0) and two-sided; None below 2 values or without spread
    p_one_sided: float | None = None
    p_two_sided: float | None = None

    @property
    def half_width(self) -> float | None:
        return None if self.low is None else (self.high - self.low) / 2


def paired_interval(differences: list[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean of the paired differences with its Student-t interval; no interval below 2 values."""
    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return Interval(mean, None, None, n)
    sd = statistics.stdev(differences)
    if sd == 0.0:
        return Interval(mean, mean, mean, n)
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    with warnings.catch_warnings():  # near-constant differences: scipy warns of precision loss
        warnings.simplefilter("ignore", RuntimeWarning)
        one = stats.ttest_1samp(differences, 0.0, alternative="greater")
        two = stats.ttest_1samp(differences, 0.0)
    return Interval(mean, mean - half, mean + half, n, float(one.pvalue), float(two.pvalue))


def interval_verdict(interval: Interval) -> str:
    """Rules 4 and 5 of the module docstring for seed-paired accuracy differences."""
    if interval.n < MIN_SEEDS_FOR_INTERVAL:
        return f"{INCONCLUSIVE} (n = {interval.n} < {MIN_SEEDS_FOR_INTERVAL} seeds: no interval)"
    if interval.low > 0:
        return SUPPORTED
    if interval.high < 0:
        return CONTRADICTED
    return f"{INCONCLUSIVE} (interval ±{interval.half_width:.2f})"


def sign_verdict(difference: float) -> str:
    """Rule 3: one measurement of a machine cost decides by its sign."""
    if difference > 0:
        return SUPPORTED
    if difference < 0:
        return CONTRADICTED
    return f"{INCONCLUSIVE} (equal costs)"


#: The verdict of a comparison against a quoted row that prints a dash in the column.
NO_PRINTED_NUMBER = f"{NOT_COMPUTED} (the paper prints no number for the quoted row)"


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its comparisons' (module docstring).  A comparison against a quoted
    row that prints a dash has nothing to compare: it is listed but does not decide the claim,
    unless every comparison is one."""
    decisive = [v for v in verdicts if v != NO_PRINTED_NUMBER]
    verdicts = decisive or verdicts
    cats = [category(v) for v in verdicts]
    for name in (NOT_COMPUTED, NOT_COMPARABLE, CONTRADICTED):
        if name in cats:
            return name
    if all(c == SUPPORTED for c in cats):
        return SUPPORTED
    widths = [float(v.split("±")[1].rstrip(")")) for v in verdicts if "±" in v]
    return f"{INCONCLUSIVE} (interval ±{max(widths):.2f})" if widths else INCONCLUSIVE


@dataclass
class Comparison:
    """One signed difference A − B of a claim (positive = as claimed)."""

    label: str
    verdict: str
    reported: float | None = None
    measured: Interval | None = None
    deviations: list[str] = field(default_factory=list)
    #: the p-value the paper prints for this comparison (a claim's `paper_p`, AiA-Net Sec. 5.6)
    paper_p: float | None = None


@dataclass
class ClaimResult:
    claim: dict
    verdict: str
    comparisons: list[Comparison]
    #: whether the paper's own numbers bear the claim out, and where they do not
    paper_holds: bool | None
    paper_exceptions: list[str]

    @property
    def category(self) -> str:
        return category(self.verdict)


def _sign(claim: dict) -> int:
    return -1 if claim.get("direction") in ("lower", "decreasing") else 1


def _pairs(claim: dict) -> list[tuple[str, str]]:
    """(A, B) row names: the difference A − B (times the sign) is what the claim says is positive."""
    if claim["kind"] == "compare":
        rows = [claim["row"]] if "row" in claim else claim["rows"]
        return [(a, b) for a in rows for b in claim["than"]]
    rows = claim["rows"]
    return [(rows[i + 1], rows[i]) for i in range(len(rows) - 1)]


def _column_groups(claim: dict) -> list[list[str]]:
    return [list(claim["columns"])] if claim.get("over") == "mean" else [[c] for c in claim["columns"]]


def _row_index(table_spec: dict, name: str) -> int:
    for index, row in enumerate(table_spec["rows"]):
        if row["source"]["row"] == name:
            return index
    raise KeyError(name)


class _Side:
    """One row of a comparison on one column group: per-seed values, or the reported constant."""

    def __init__(self, table, name: str, columns: list[str]):
        self.name = name
        spec = table.spec
        self.index = _row_index(spec, name)
        row = spec["rows"][self.index]
        self.reported_only = "cell" not in row
        reported = [row["reported"].get(c) for c in columns]
        self.reported = None if any(v is None for v in reported) else statistics.fmean(reported)
        self.measurements = [table.cells.get((self.index, c)) for c in columns]
        #: the runs of this side's cells that diverged (training/divergence.py)
        self.diverged = [] if self.reported_only else [
            line for c in columns for line in table.diverged.get((self.index, c), [])]
        self.computed = self.reported_only or all(m is not None for m in self.measurements)

    def values(self, n: int) -> list[float]:
        if self.reported_only:
            return [self.reported] * n
        return [statistics.fmean(vals) for vals in zip(*(m.values for m in self.measurements))]

    @property
    def n(self) -> int | None:
        return None if self.reported_only else min(m.n for m in self.measurements)

    def deviations(self) -> list[str]:
        seen: dict[str, None] = {}
        if not self.reported_only:
            for m in self.measurements:
                seen.update(dict.fromkeys(m.deviations))
        return list(seen)


def _label(table_spec: dict, a: str, b: str, columns: list[str], sign: int) -> str:
    labels = {c["id"]: c.get("label", c["id"]) for c in table_spec["columns"]}
    cols = labels[columns[0]] if len(columns) == 1 else "mean of " + ", ".join(labels[c] for c in columns)
    relation = ">" if sign > 0 else "<"
    return f"{a} {relation} {b} on {cols}"


def _compare(table, a: str, b: str, columns: list[str], sign: int) -> Comparison:
    spec = table.spec
    left, right = _Side(table, a, columns), _Side(table, b, columns)
    reported = None
    if left.reported is not None and right.reported is not None:
        reported = sign * (left.reported - right.reported)
    label = _label(spec, a, b, columns, sign)
    if left.reported_only and right.reported_only:
        return Comparison(label, f"{NOT_COMPUTED} (both rows are reported only)", reported)
    diverged = [line for side in (left, right) for line in dict.fromkeys(side.diverged)]
    if diverged:
        return Comparison(label, f"{NOT_COMPUTED} (a run diverged: {'; '.join(diverged)})", reported)
    if not (left.computed and right.computed):
        missing = [s.name for s in (left, right) if not s.computed]
        return Comparison(label, f"{NOT_COMPUTED} ({', '.join(missing)} not regenerated)", reported)
    if (left.reported_only or right.reported_only) and (left.reported if left.reported_only else right.reported) is None:
        return Comparison(label, NO_PRINTED_NUMBER, reported)
    n = min(x for x in (left.n, right.n) if x is not None)
    differences = [sign * (x - y) for x, y in zip(left.values(n), right.values(n))]
    interval = paired_interval(differences)
    deviations = list(dict.fromkeys(left.deviations() + right.deviations()))
    metrics = {c["id"]: c["metric"] for c in spec["columns"]}
    resource = all(metrics[c] in RESOURCE_METRICS for c in columns)
    if deviations:
        verdict = not_comparable(deviations)
    elif resource:
        sides = [s for s in (left, right) if not s.reported_only]
        if len(sides) == 2 and not all(same_machine(x, y) for x, y in zip(left.measurements, right.measurements)):
            verdict = DIFFERENT_DEVICES
        else:
            verdict = sign_verdict(interval.mean)
    else:
        verdict = interval_verdict(interval)
    return Comparison(label, verdict, reported, interval, deviations)


def evaluate_claim(claim: dict, table) -> ClaimResult:
    """`table` is the claim's table as collected (dmlrepro.tables.aggregate.MeasuredTable)."""
    sign = _sign(claim)
    comparisons = [_compare(table, a, b, columns, sign)
                   for a, b in _pairs(claim) for columns in _column_groups(claim)]
    if claim.get("paper_p"):
        groups = [columns for _ in _pairs(claim) for columns in _column_groups(claim)]
        for comparison, columns in zip(comparisons, groups):
            if len(columns) == 1:
                comparison.paper_p = claim["paper_p"].get(columns[0])
    exceptions = [c.label + (" (the paper prints no number)" if c.reported is None else f" ({c.reported:+.2f} in the paper)")
                  for c in comparisons if c.reported is None or c.reported <= 0]
    known = [c for c in comparisons if c.reported is not None]
    paper_holds = None if not known else all(c.reported > 0 for c in known)
    return ClaimResult(claim, combine([c.verdict for c in comparisons]), comparisons, paper_holds, exceptions)


def evaluate_claims(spec: dict, tables: dict) -> list[ClaimResult]:
    """Every claim of `spec` on `tables` ({claim_target: MeasuredTable}: table ids, and "fig5 panel
    a" for a figure's plot, claims.figure_table); a claim whose table or figure was not collected
    has every comparison `not computed`."""
    results = []
    for claim in spec.get("claims", []):
        table = tables.get(claim_target(claim))
        if table is None:
            results.append(ClaimResult(claim, f"{NOT_COMPUTED} ({claim_target(claim)} not regenerated)", [], None, []))
            continue
        results.append(evaluate_claim(claim, table))
    return results


def rows_of(claim: dict) -> list[str]:
    return claim_rows(claim)
