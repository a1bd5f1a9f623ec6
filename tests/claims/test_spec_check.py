"""A claim naming a row or column its table lacks (or keys that do not fit its kind) is rejected
when the spec loads, with one line naming the file, the claim and the fix; the specs' quotes are
the papers' sentences."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from dmlrepro.specs import PaperSpecError, load_paper_spec

REPO = Path(__file__).resolve().parents[2]
SPECS = {p.stem: p for p in (REPO / "paper_tables").glob("*.yaml")}
WITH_CLAIMS = [name for name in ("csalr", "csa", "mhdml", "aianet", "dces") if name in SPECS]


def _write(tmp_path, name, data):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def _raw(name):
    return json.loads(json.dumps(yaml.safe_load(SPECS[name].read_text())))


BAD = [
    ("unknown-row", lambda c: c.update(than=["PCB + SAA"]), ["claims[2]", "t1_csalr_better_than_sa", "'PCB + SAA'",
                                                          "not a source.row of table1", "did you mean 'PCB + SA'"]),
    ("unknown-column", lambda c: c.update(columns=["market1501.rank2"]), ["'market1501.rank2'", "not a column id of table1"]),
    ("unknown-table", lambda c: c.update(table="table9"), ["table 'table9' is not a table"]),
    ("no-direction", lambda c: c.pop("direction"), ["needs `direction`"]),
    ("trend-without-rows", lambda c: c.update(kind="trend", direction="increasing"), ["a trend claim needs `rows`"]),
    ("trend-with-than", lambda c: c.update(kind="trend", direction="increasing", rows=["PCB + SA", "PCB + CSALR"]),
     ["trend claim names its rows"]),
    ("row-and-rows", lambda c: c.update(rows=["PCB + SA", "PCB + CSALR"]), ["exactly one of `row` and `rows`"]),
    ("mean-of-one", lambda c: c.update(over="mean", columns=["market1501.map"]), ["over: mean needs at least two"]),
    ("bad-kind", lambda c: c.update(kind="better"), ["'better'"]),
    ("paper-p-on-another-column", lambda c: c.update(columns=["market1501.map"], paper_p={"market1501.rank1": 0.01}),
     ["paper_p names column 'market1501.rank1'", "not one of the claim's own columns"]),
    ("paper-p-out-of-range", lambda c: c.update(paper_p={"market1501.map": 1.5}), ["1.5"]),
]


@pytest.mark.parametrize("case,mutate,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_claim_is_rejected_in_one_line(tmp_path, case, mutate, expected):
    data = _raw("csalr")
    mutate(data["claims"][2])
    with pytest.raises(PaperSpecError) as info:
        load_paper_spec(_write(tmp_path, "csalr", data))
    message = str(info.value)
    assert "\n" not in message and "csalr.yaml" in message
    for part in expected:
        assert part in message, message


def test_duplicate_claim_id(tmp_path):
    data = _raw("csalr")
    data["claims"].append(copy.deepcopy(data["claims"][0]))
    with pytest.raises(PaperSpecError, match="duplicate claim id"):
        load_paper_spec(_write(tmp_path, "csalr", data))


@pytest.mark.parametrize("name", WITH_CLAIMS)
def test_specs_with_claims_load(name):
    assert load_paper_spec(SPECS[name])["claims"]


def _papers_dir():
    for candidate in (os.environ.get("DMLREPRO_PAPERS_DIR"), REPO / "shared" / "papers", REPO.parent / "shared" / "papers"):
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    return None


def _norm(text):
    text = " ".join(re.sub(r"</?(?:b|i|u|sup|sub)>", "", text).replace("*", "").split())
    return re.sub(r"\s+([,.;:)\]])", r"\1", text)


@pytest.mark.skipif(_papers_dir() is None, reason="shared/papers not found")
@pytest.mark.parametrize("name", WITH_CLAIMS)
def test_every_claim_quote_is_in_the_paper(name):
    spec = load_paper_spec(SPECS[name])
    raw = (_papers_dir() / spec["source"]).read_text(encoding="utf-8")
    texts = [_norm(v) for v in (raw, re.sub(r"-\n\s*", "-", raw), re.sub(r"-\n\s*", "", raw))]
    # " [...] " joins the parts of a sentence that a table or figure interrupts in the text file.
    missing = [c["id"] for c in spec["claims"]
               if not all(any(_norm(part) in t for t in texts) for part in c["quote"].split(" [...] "))]
    assert not missing, f"quotes not found in {spec['source']}: {missing}"
