"""The papers' own consistency from their reported numbers alone: each sentence that states a
difference or a percentage, checked against the numbers of the table it cites
(paper_tables/consistency/<paper>.yaml; no training, runs in milliseconds).

A check names its operands (numbers transcribed exactly as printed, with their table, row and
column) and its arithmetic, computed exactly in decimal from the printed digits:

* difference: a − b (percentage points, "an improvement of 1.4% for R-1");
* ratio_percent: 100 · a / b ("the memory cost is 242% of the original");
* relative_percent: 100 · (a − b) / b, signed ("the relative increase in memory cost is +118.45%",
  "the decrease in FPS is -54.17%");
* relative_decrease_percent: 100 · (b − a) / b ("the decrease of FPS is 5%");
* ratio: a / b ("three times smaller": 3; "only 1/3 of the parameters" is b / a = 3);
* mean: the mean of all operands (a table's "Mean" row);
* equal: the one operand itself (a sentence quoting a table's number, "88.8 versus 89.0").

Rounding rule: the sentence's value has d decimals as printed ("1.4" d = 1, "242" d = 0; a
word or fraction — "three", "1/3" — counts as an integer, d = 0).  The check agrees when the
computed value lies within half a unit of that last printed digit, |computed − stated| ≤ ½·10^−d,
so both round-half-up and round-half-even readings of the computed value agree.  A check whose
sentence cites a number the table does not print is `unverifiable` (its `unverifiable` key says
why) and is never counted as agreeing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from dmlrepro.errors import UserError

AGREE = "agree"
DISAGREE = "disagree"
UNVERIFIABLE = "unverifiable"
ARITHMETIC = ("difference", "ratio_percent", "relative_percent", "relative_decrease_percent", "ratio", "mean", "equal")
_OPERANDS = {"difference": 2, "ratio_percent": 2, "relative_percent": 2, "relative_decrease_percent": 2,
             "ratio": 2, "equal": 1}
CHECK_KEYS = {"id", "quote", "section", "table", "stated", "value", "arithmetic", "operands", "expected",
              "unverifiable", "notes"}


def consistency_dir() -> Path:
    """paper_tables/consistency of the repository this package lives in."""
    return Path(__file__).resolve().parents[3] / "paper_tables" / "consistency"


@dataclass
class CheckResult:
    check: dict
    outcome: str
    computed: Decimal | None
    stated: Decimal
    tolerance: Decimal

    @property
    def delta(self) -> Decimal | None:
        return None if self.computed is None else self.computed - self.stated

    def describe(self) -> str:
        if self.computed is None:
            return f"{UNVERIFIABLE}: {self.check.get('unverifiable', '')}"
        return (f"{self.outcome}: computed {_fmt(self.computed)} vs stated {self.check['stated']} "
                f"(|Δ| {_fmt(abs(self.delta))}, band ±{self.tolerance})")


def _fmt(value: Decimal) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != value.to_integral() else str(int(value))


def decimals(literal: str) -> int:
    """Decimals of a stated value as printed: "+1.6%" → 1, "242%" → 0, "three" → 0."""
    match = re.search(r"\d+(?:\.(\d+))?", literal)
    return len(match.group(1)) if match and match.group(1) and "/" not in literal else 0


def compute(arithmetic: str, operands: list[Decimal]) -> Decimal:
    if arithmetic == "mean":
        return sum(operands) / len(operands)
    if arithmetic == "equal":
        return operands[0]
    a, b = operands
    return {
        "difference": lambda: a - b,
        "ratio_percent": lambda: 100 * a / b,
        "relative_percent": lambda: 100 * (a - b) / b,
        "relative_decrease_percent": lambda: 100 * (b - a) / b,
        "ratio": lambda: a / b,
    }[arithmetic]()


def run_check(check: dict) -> CheckResult:
    stated = Decimal(str(check["value"]))
    tolerance = Decimal(5) / Decimal(10) ** (decimals(str(check["stated"])) + 1)
    if "unverifiable" in check:
        return CheckResult(check, UNVERIFIABLE, None, stated, tolerance)
    operands = [Decimal(str(op["value"])) for op in check["operands"]]
    computed = compute(check["arithmetic"], operands)
    outcome = AGREE if abs(computed - stated) <= tolerance else DISAGREE
    return CheckResult(check, outcome, computed, stated, tolerance)


def _problem(path: Path, data: dict) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        return "expected a mapping with `paper`, `source`, `tables` and a list `checks`"
    tables = data.get("tables") or {}
    seen = set()
    for i, check in enumerate(data["checks"]):
        place = f"checks[{i}] {check.get('id', '?')!r}" if isinstance(check, dict) else f"checks[{i}]"
        if not isinstance(check, dict):
            return f"{place}: expected a mapping"
        unknown = sorted(set(check) - CHECK_KEYS)
        if unknown:
            return f"{place}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(CHECK_KEYS))})"
        for key in ("id", "quote", "table", "stated", "value", "arithmetic", "expected"):
            if key not in check:
                return f"{place}: missing `{key}`"
        if check["id"] in seen:
            return f"{place}: duplicate id"
        seen.add(check["id"])
        if check["arithmetic"] not in ARITHMETIC:
            return f"{place}: arithmetic {check['arithmetic']!r} is not one of {', '.join(ARITHMETIC)}"
        if check["expected"] not in (AGREE, DISAGREE, UNVERIFIABLE):
            return f"{place}: expected must be agree, disagree or unverifiable"
        if (check["expected"] == UNVERIFIABLE) != ("unverifiable" in check):
            return f"{place}: an unverifiable check says why under `unverifiable`, and only it"
        operands = check.get("operands", [])
        need = _OPERANDS.get(check["arithmetic"])
        if "unverifiable" not in check and (need is not None and len(operands) != need or not operands):
            return f"{place}: {check['arithmetic']} needs {need or 'at least one'} operand(s), got {len(operands)}"
        for op in operands:
            source = op.get("source") if isinstance(op, dict) else None
            if not isinstance(source, dict) or not {"table", "row", "column"} <= set(source) or "value" not in op:
                return f"{place}: every operand is {{value, source: {{table, row, column}}}}"
            columns = (tables.get(source["table"]) or {}).get("columns")
            if not columns or source["column"] not in columns:
                return f"{place}: column {source['column']!r} is not a column of tables.{source['table']} in this file"
    return None


def load_checks(path: str | Path) -> dict:
    """One paper's consistency file, checked for shape; UserError (one line) if it is malformed."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read consistency checks: {' '.join(str(exc).split())}") from None
    problem = _problem(path, data)
    if problem:
        raise UserError(f"{path}: {problem}")
    return data


def check_paper(paper: str, directory: str | Path | None = None) -> list[CheckResult]:
    """Every check of paper_tables/consistency/<paper>.yaml; [] when the paper has none."""
    path = Path(directory or consistency_dir()) / f"{paper}.yaml"
    if not path.is_file():
        return []
    return [run_check(check) for check in load_checks(path)["checks"]]
