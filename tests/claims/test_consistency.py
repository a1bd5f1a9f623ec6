"""The papers' own consistency (paper_tables/consistency/*.yaml): every quoted sentence and stated
value is in the paper's text, every operand is printed at its column on its row's line, and every
check has the outcome the paper's numbers dictate (a transcription slip flips one and fails)."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest

from dmlrepro.claims.consistency import (AGREE, DISAGREE, UNVERIFIABLE, compute, consistency_dir, decimals,
                                         load_checks, run_check)
from dmlrepro.errors import UserError

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(consistency_dir().glob("*.yaml"))
PAPERS_KEYS = ["csalr", "csa", "aianet", "mhdml", "dces"]
_TAG = re.compile(r"</?(?:b|i|u|sup|sub)>")
_DASHES = {"—", "–", "-", "−"}


def _papers_dir() -> Path | None:
    for candidate in (os.environ.get("DMLREPRO_PAPERS_DIR"), REPO / "shared" / "papers", REPO.parent / "shared" / "papers"):
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    return None


PAPERS = _papers_dir()
needs_papers = pytest.mark.skipif(PAPERS is None, reason="shared/papers not found (set DMLREPRO_PAPERS_DIR)")


def _norm(text: str) -> str:
    text = " ".join(_TAG.sub("", text).replace("*", "").split())
    text = re.sub(r"\s+([,.;:)\]])", r"\1", text)
    return re.sub(r"([(\[])\s+", r"\1", text)


def _text_variants(text: str) -> list[str]:
    """The text as is, and with line-end hyphenation joined both ways ("CUHK03-\\nNP")."""
    return [_norm(v) for v in (text, re.sub(r"-\n\s*", "-", text), re.sub(r"-\n\s*", "", text))]


def _tokens(rest: str) -> list[str]:
    return [t for t in rest.split() if t in _DASHES or re.fullmatch(r"\d+(?:\.\d+)?", t)]


def test_every_paper_has_a_consistency_file():
    assert sorted(p.stem for p in FILES) == sorted(PAPERS_KEYS)


@needs_papers
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_quotes_and_operands_are_in_the_paper(path):
    data = load_checks(path)
    raw = (PAPERS / data["source"]).read_text(encoding="utf-8")
    texts = _text_variants(raw)
    lines = [_norm(line) for line in raw.splitlines()]
    problems = []
    for check in data["checks"]:
        quote = _norm(check["quote"])
        if not any(quote in t for t in texts):
            problems.append(f"{check['id']}: quote not in {data['source']}")
        if str(check["stated"]) not in check["quote"]:
            problems.append(f"{check['id']}: stated {check['stated']!r} not in its quote")
        for op in check.get("operands", []):
            source = op["source"]
            columns = data["tables"][source["table"]]["columns"]
            index = columns.index(source["column"])
            label = _norm(" ".join(source["row"].split(" | ")))
            found = any(line.startswith(label) and len(toks := _tokens(line[len(label):])) > index
                        and toks[index] == op["value"] for line in lines)
            if not found:
                problems.append(f"{check['id']}: {op['value']} is not column {index + 1} ({source['column']}) of a line "
                                f"starting {label!r}")
    assert not problems, "\n".join(problems)


def _all_checks():
    for path in FILES:
        for check in load_checks(path)["checks"]:
            yield pytest.param(check, id=f"{path.stem}-{check['id']}")


@pytest.mark.parametrize("check", list(_all_checks()))
def test_each_check_has_its_expected_outcome(check):
    assert run_check(check).outcome == check["expected"]


def test_the_papers_do_not_all_agree():
    outcomes = [run_check(c).outcome for p in FILES for c in load_checks(p)["checks"]]
    assert outcomes.count(DISAGREE) >= 5 and outcomes.count(AGREE) > 50 and UNVERIFIABLE in outcomes


# ----------------------------------------------------------------------- arithmetic and rounding


def test_arithmetic_by_hand():
    d = Decimal
    assert compute("difference", [d("93.9"), d("92.3")]) == d("1.6")
    assert compute("ratio_percent", [d("304.33"), d("125.64")]).quantize(d("0.01")) == d("242.22")
    assert compute("relative_percent", [d("266.67"), d("581.81")]).quantize(d("0.01")) == d("-54.17")
    assert compute("relative_decrease_percent", [d("360.90"), d("380.24")]).quantize(d("0.01")) == d("5.09")
    assert compute("mean", [d("1"), d("2"), d("4")]) == d("7") / 3
    assert decimals("+118.45%") == 2 and decimals("242%") == 0 and decimals("three") == 0 and decimals("1/3") == 0


def _check(stated, value, a, b, arithmetic="difference"):
    return {"id": "x", "quote": "q", "table": 1, "stated": stated, "value": value, "arithmetic": arithmetic,
            "operands": [{"value": a}, {"value": b}], "expected": AGREE}


@pytest.mark.parametrize("a,b,outcome", [
    ("39.676", "0", DISAGREE),   # rounds to 39.68, not the stated 39.67
    ("39.675", "0", AGREE),      # exactly half a unit: both rounding conventions accepted
    ("39.665", "0", AGREE),
    ("39.6649", "0", DISAGREE),
])
def test_half_a_unit_of_the_last_printed_digit(a, b, outcome):
    assert run_check(_check("+39.67%", 39.67, a, b)).outcome == outcome


def test_a_transcription_slip_flips_an_outcome():
    check = next(c for c in load_checks(consistency_dir() / "csalr.yaml")["checks"] if c["id"] == "t1_pcb_market_r1")
    assert run_check(check).outcome == AGREE
    check["operands"][0]["value"] = "93.8"
    assert run_check(check).outcome == DISAGREE


def test_malformed_file_is_one_line_user_error(tmp_path):
    bad = tmp_path / "csalr.yaml"
    bad.write_text("paper: csalr\nsource: x\ntables: {1: {columns: [A]}}\nchecks:\n"
                   "  - {id: a, quote: q, table: 1, stated: '1', value: 1, arithmetic: diference, operands: [], expected: agree}\n")
    with pytest.raises(UserError, match=r"csalr\.yaml: checks\[0\] 'a': arithmetic 'diference'") as info:
        load_checks(bad)
    assert "\n" not in str(info.value)
    bad.write_text("paper: csalr\nsource: x\ntables: {1: {columns: [A]}}\nchecks:\n"
                   "  - {id: a, quote: q, table: 1, stated: '1', value: 1, arithmetic: difference, expected: agree,\n"
                   "     operands: [{value: '1', source: {table: 1, row: r, column: B}}, {value: '1', source: {table: 1, row: r, column: A}}]}\n")
    with pytest.raises(UserError, match="column 'B' is not a column of tables.1"):
        load_checks(bad)
