"""Paper specs (paper_tables/*.yaml): they validate, bad ones are rejected with a message that
names the place, cells resolve as the paper says, and every reported number is found back in the
paper's text on its row's line."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from dmlrepro.specs import (
    PaperSpecError,
    iter_rows,
    load_all_specs,
    load_paper_spec,
    reported_literals,
    resolve_cell,
    spec_schema_path,
)

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO / "paper_tables"
SPEC_FILES = sorted(SPEC_DIR.glob("*.yaml"))
CSALR = SPEC_DIR / "csalr.yaml"


def _papers_dir() -> Path | None:
    """shared/papers: $DMLREPRO_PAPERS_DIR, else next to or above the checkout."""
    candidates = [os.environ.get("DMLREPRO_PAPERS_DIR"), REPO / "shared" / "papers",
                  REPO.parent / "shared" / "papers"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "README.md").is_file():
            return Path(candidate)
    return None


PAPERS = _papers_dir()
needs_papers = pytest.mark.skipif(PAPERS is None, reason="shared/papers not found (set DMLREPRO_PAPERS_DIR)")


# ------------------------------------------------------------------------------ validation


def test_schema_is_valid_draft_2020_12():
    schema = yaml.safe_load(spec_schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("/draft/2020-12/schema")


def test_there_are_specs_and_csalr_is_one():
    assert CSALR in SPEC_FILES


@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_spec_validates(path):
    spec = load_paper_spec(path)
    assert spec["paper"] == path.stem


def test_load_all_specs_keys_are_file_stems():
    specs = load_all_specs(SPEC_DIR)
    assert sorted(specs) == sorted(p.stem for p in SPEC_FILES)


def test_load_all_specs_rejects_a_key_that_is_not_the_file_stem(tmp_path):
    (tmp_path / "csa.yaml").write_text(CSALR.read_text())
    with pytest.raises(PaperSpecError, match=r"csa\.yaml.*'csalr'.*'csa'"):
        load_all_specs(tmp_path)


def test_aliased_columns_are_independent_copies():
    spec = load_paper_spec(CSALR)
    t = spec["tables"]
    assert t["table2"]["columns"] == t["table3"]["columns"]
    assert t["table2"]["columns"] is not t["table3"]["columns"]


# ------------------------------------------------------------------------------- rejection


def _raw() -> dict:
    # JSON round trip: tables 2-4 share one aliased `columns` list; mutate one table only.
    return json.loads(json.dumps(yaml.safe_load(CSALR.read_text())))


def _rows(d, table):
    return d["tables"][table]["rows"]


def _cols(d, table):
    return d["tables"][table]["columns"]


# (id, mutation of the CSALR spec, substrings the one-line message must contain)
BAD_SPECS = [
    ("unknown-cell-key",
     lambda d: _rows(d, "table2")[0]["cell"].update(sample=24),
     ["table2", "PCB + CSALR | 24", "'sample'", "samples"]),
    ("unknown-metric",
     lambda d: _cols(d, "table1")[0].update(metric="rank11"),
     ["table1", "market1501.rank1", "'rank11'"]),
    ("misspelt-dataset",
     lambda d: _cols(d, "table3")[2].update(dataset="dukemtcm"),
     ["table3", "dukemtmc.rank1", "'dukemtcm'", "dukemtmc"]),
    ("reported-key-not-a-column",
     lambda d: _rows(d, "table4")[1]["reported"].update({"market1501.rank5": 93.0}),
     ["table4", "PCB + CSALR | 1st stage", "market1501.rank5", "not a column"]),
    ("label-of-wrong-length",
     lambda d: _rows(d, "table2")[2].update(label=["PCB + CSALR"]),
     ["table2", "PCB + CSALR | 96", "label"]),
    ("label-too-long",
     lambda d: _rows(d, "table1")[4].update(label=["PCB + SA", "1"]),
     ["table1", "PCB + SA", "label"]),
    ("cell-and-reported-only",
     lambda d: _rows(d, "table3")[0].update(reported_only="quoted"),
     ["table3", "PCB + CSALR | 1", "exactly one of"]),
    ("neither-cell-nor-reported-only",
     lambda d: _rows(d, "table3")[0].pop("cell"),
     ["table3", "PCB + CSALR | 1", "exactly one of"]),
    ("reported-misses-a-column",
     lambda d: _rows(d, "table1")[0]["reported"].pop("market1501.rank10"),
     ["table1", "DuATM", "market1501.rank10"]),
    ("percentage-out-of-range",
     lambda d: _rows(d, "table2")[3]["reported"].update({"dukemtmc.map": 742}),
     ["table2", "PCB + CSALR | 192", "dukemtmc.map", "[0, 100]"]),
    ("duplicate-column-id",
     lambda d: _cols(d, "table1")[3].update(id="market1501.rank1", metric="rank1"),
     ["table1", "duplicate column id", "market1501.rank1"]),
    ("column-id-metric-mismatch",
     lambda d: _cols(d, "table1")[3].update(metric="rank20"),
     ["table1", "market1501.map", "rank20"]),
    ("stage-out-of-range",
     lambda d: _rows(d, "table4")[1]["cell"].update(stages=[5]),
     ["table4", "1st stage", "stages"]),
    ("repeated-stage",
     lambda d: _rows(d, "table4")[1]["cell"].update(stages=[1, 1]),
     ["table4", "1st stage", "stages"]),
    ("same-cell-twice",
     lambda d: _rows(d, "table2")[1]["cell"].update(samples=24),
     ["table2", "PCB + CSALR | 48", "same cell as row 1"]),
    ("source-table-mismatch",
     lambda d: _rows(d, "table3")[2]["source"].update(table=2),
     ["table3", "PCB + CSALR | 4", "source.table"]),
    ("wrong-source-file",
     lambda d: d.update(source="001_5fbd5da13318fd56.txt"),
     ["source", "000_6bea8c3e96cdf0f5.txt"]),
    ("unknown-figure-kind",
     lambda d: d["figures"]["fig4"].update(kind="heatmap"),
     ["fig4", "'heatmap'"]),
    ("misspelt-figure-dataset",
     lambda d: d["figures"]["fig4"].update(dataset="market-1501"),
     ["fig4", "'market-1501'", "market1501"]),
    ("figure-with-dataset-and-datasets",
     lambda d: d["figures"]["fig4"].update(datasets=["market1501", "dukemtmc"]),
     ["fig4", "exactly one of `dataset`, `datasets` and `panels`"]),
    ("unknown-top-level-key",
     lambda d: d.update(tolerence=1.0),
     ["'tolerence'"]),
    ("unknown-loss",
     lambda d: _rows(d, "table1")[3]["cell"].update(loss={"softmax": 1.0}),
     ["table1", "PCB [Sun et al., 2018]", "'softmax'"]),
    ("ratio-reference-missing",
     lambda d: d["tables"]["table5"].update(compare_as_ratio_to="PCB"),
     ["table5", "compare_as_ratio_to", "PCB | —"]),
    ("table-id-number-mismatch",
     lambda d: d["tables"]["table2"].update(number=3),
     ["table2", "number"]),
    ("kind-does-not-match-columns",
     lambda d: d["tables"]["table5"].update(kind="accuracy"),
     ["table5", "resource columns"]),
    ("defaults-without-model",
     lambda d: d["defaults"].pop("model"),
     ["defaults", "'model'"]),
    ("figure-without-dataset",
     lambda d: d["figures"]["fig4"].pop("dataset"),
     ["fig4", "exactly one of `dataset`, `datasets` and `panels`"]),
    ("boxes-on-a-dataset-without-boxes",
     lambda d: _cols(d, "table1")[0].update(boxes="detected"),
     ["table1", "market1501.rank1", "dataset", "when `boxes` is set"]),
]


@pytest.mark.parametrize("mutate,expected", [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS])
def test_a_bad_spec_is_rejected_with_one_line_naming_the_place(tmp_path, mutate, expected):
    data = _raw()
    mutate(data)
    path = tmp_path / "csalr.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(PaperSpecError) as info:
        load_paper_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_duplicate_yaml_keys_are_rejected(tmp_path):
    text = CSALR.read_text()
    table5 = text[text.index("  table5:"):text.index("figures:")]
    path = tmp_path / "csalr.yaml"
    path.write_text(text.replace("figures:", table5 + "figures:"))
    with pytest.raises(PaperSpecError, match="duplicate key 'table5'"):
        load_paper_spec(path)


def test_reported_values_must_be_numbers(tmp_path):
    data = _raw()
    _rows(data, "table2")[0]["reported"]["market1501.rank1"] = "93.6"
    path = tmp_path / "csalr.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(PaperSpecError, match=r"table2 row 1 'PCB \+ CSALR \| 24'.*market1501\.rank1"):
        load_paper_spec(path)


# ----------------------------------------------------------------------------- resolve_cell

PCB_CSALR = {
    "model": "pcb", "backbone": "resnet50", "attention": "csalr", "samples": 96, "groups": 2,
    "stages": [1, 2, 3], "deep_supervision": True, "ds_lambda": 1.0, "loss": {"cross_entropy": 1.0},
}


def _row(spec, table, first_label, second_label=None):
    rows = [r for r in spec["tables"][table]["rows"]
            if r["label"][0] == first_label and (second_label is None or r["label"][1] == second_label)]
    assert len(rows) == 1, (table, first_label, second_label)
    return rows[0]


def test_the_default_cell_is_one_cell_across_tables_2_3_4_and_1():
    spec = load_paper_spec(CSALR)
    t2 = resolve_cell(spec, _row(spec, "table2", "PCB + CSALR", "96"))
    t3 = resolve_cell(spec, _row(spec, "table3", "PCB + CSALR", "2"))
    t4 = resolve_cell(spec, _row(spec, "table4", "PCB + CSALR", "1st,2nd,3rd stages"))
    t1 = resolve_cell(spec, _row(spec, "table1", "PCB + CSALR"))
    t5 = resolve_cell(spec, _row(spec, "table5", "PCB + CSALR", "2"))
    assert t2 == t3 == t4 == t1 == t5 == PCB_CSALR


def test_the_ablations_change_only_their_parameter():
    spec = load_paper_spec(CSALR)
    assert resolve_cell(spec, _row(spec, "table2", "PCB + CSALR", "24")) == {**PCB_CSALR, "samples": 24}
    assert resolve_cell(spec, _row(spec, "table3", "PCB + CSALR", "8")) == {**PCB_CSALR, "groups": 8}
    # replaced, not merged with the default [1, 2, 3]
    assert resolve_cell(spec, _row(spec, "table4", "PCB + CSALR", "1st stage"))["stages"] == [1]
    assert resolve_cell(spec, _row(spec, "table4", "PCB + CSALR", "2nd,3rd stages"))["stages"] == [2, 3]


def test_baselines_are_shared_between_tables():
    spec = load_paper_spec(CSALR)
    pcb = resolve_cell(spec, _row(spec, "table1", "PCB [Sun et al., 2018]"))
    assert pcb["attention"] == "none" and pcb["deep_supervision"] is False and pcb["model"] == "pcb"
    assert resolve_cell(spec, _row(spec, "table4", "PCB", "no")) == pcb
    assert resolve_cell(spec, _row(spec, "table5", "PCB", "—")) == pcb
    sa = resolve_cell(spec, _row(spec, "table1", "PCB + SA"))
    assert sa["attention"] == "sa" and sa["groups"] == 1
    assert resolve_cell(spec, _row(spec, "table5", "PCB + SA", "1")) == sa
    csa = resolve_cell(spec, _row(spec, "table1", "PCB + CSA [Chen et al., 2020]"))
    assert csa["attention"] == "csa" and csa["bases"] == 32 and csa["groups"] == 2
    rpp = resolve_cell(spec, _row(spec, "table1", "PCB-RPP + CSALR"))
    assert rpp == {**PCB_CSALR, "model": "pcb_rpp"}


def test_resolve_cell_does_not_touch_the_spec():
    spec = load_paper_spec(CSALR)
    before = copy.deepcopy(spec)
    cell = resolve_cell(spec, _row(spec, "table4", "PCB + CSALR", "1st stage"))
    cell["stages"].append(4)
    cell["loss"]["ms"] = 1.0
    assert spec == before


def test_resolve_cell_refuses_reported_only_and_foreign_rows():
    spec = load_paper_spec(CSALR)
    with pytest.raises(ValueError, match="reported-only"):
        resolve_cell(spec, _row(spec, "table1", "DuATM [Si et al., 2018]"))
    with pytest.raises(ValueError, match="not a row"):
        resolve_cell(spec, copy.deepcopy(_row(spec, "table2", "PCB + CSALR", "24")))


def test_resolve_cell_precedence_defaults_dataset_table_row():
    spec = load_paper_spec(CSALR)
    spec["dataset_defaults"] = {"dukemtmc": {"samples": 48, "groups": 4}}
    table = spec["tables"]["table2"]
    table["defaults"] = {"groups": 8, "stages": [3, 1]}
    row = _row(spec, "table2", "PCB + CSALR", "24")
    assert resolve_cell(spec, row) == {**PCB_CSALR, "samples": 24, "groups": 8, "stages": [1, 3]}
    on_duke = resolve_cell(spec, row, dataset="dukemtmc")
    assert on_duke["samples"] == 24 and on_duke["groups"] == 8  # row and table beat dataset defaults
    row96 = _row(spec, "table2", "PCB + CSALR", "96")
    row96["cell"] = {}
    assert resolve_cell(spec, row96, dataset="dukemtmc")["samples"] == 48
    assert resolve_cell(spec, row96, dataset="market1501")["samples"] == 96


def test_resolve_cell_on_a_figure():
    spec = load_paper_spec(CSALR)
    assert resolve_cell(spec, spec["figures"]["fig4"]) == PCB_CSALR


# ----------------------------------------------------------------- transcription check

_TAG = re.compile(r"<[^>]+>")
_DASHES = {"—", "–", "-", "−"}


def _norm(text: str) -> str:
    """Tags stripped, whitespace collapsed, no space before , . ; : ) or after (."""
    text = " ".join(_TAG.sub("", text).split())
    text = re.sub(r"\s+([,.;:)\]])", r"\1", text)
    return re.sub(r"([(\[])\s+", r"\1", text)


def _number_re(literal: str) -> re.Pattern:
    return re.compile(r"(?<![\d.])" + re.escape(literal) + r"(?!\.?\d)")


def _value_tokens(text: str, in_text: bool = False) -> list[str]:
    """The numbers and dashes of a table line; in running text (layout: text) a number may carry
    a percent sign or end a clause ("86.6%", "66.6%,")."""
    tokens = text.split()
    if in_text:
        tokens = [re.sub(r"%?[,.;:]?$", "", t) for t in tokens]
    return [t for t in tokens if t in _DASHES or re.fullmatch(r"\d+(?:\.\d+)?", t)]


def _after_label(line: str, cells: list[str]) -> str | None:
    """The text after the label cells (found in order) on `line`, or None if they are not there."""
    pos = 0
    for i, cell in enumerate(c for c in (_norm(x) for x in cells) if c):
        found = line.find(cell, pos)
        if found < 0:
            return None
        pos = found + len(cell)
    return line[pos:]


def _printed(literal: str | None) -> str:
    return "—" if literal is None else literal


def transcription_problems(spec: dict, literals: dict, paper_text: str) -> list[str]:
    """Every reported number that is not on a line of the paper carrying its row's label, and
    every row whose printed values (numbers and dashes, in column order) are on no such line."""
    lines = [_norm(line) for line in paper_text.splitlines()]
    problems: list[str] = []
    for table_id, table, index, row in iter_rows(spec):
        columns = table["columns"]
        transposed = table.get("layout") == "transposed"
        for column in columns:
            literal = literals.get((table_id, index, column["id"]))
            if literal is None:
                continue
            anchor = _norm(column["label"] if transposed else row["label"][0])
            pattern = _number_re(literal)
            if not any(anchor in line and pattern.search(line) for line in lines):
                problems.append(f"{table_id} / {row['source']['row']} / {column['label']}: "
                                f"{literal} not on a line containing {anchor!r}")
        if not transposed and columns:
            # A table line holds the row's numbers and nothing else; a sentence (layout: text)
            # names the model, then its numbers in column order, then goes on.
            in_text = table.get("layout") == "text"
            expected = [_printed(literals.get((table_id, index, c["id"]))) for c in columns]
            if not any(
                (rest := _after_label(line, row["label"])) is not None
                and [("—" if t in _DASHES else t) for t in _value_tokens(rest, in_text)][
                    :len(expected) if in_text else None] == expected
                for line in lines
            ):
                problems.append(f"{table_id} / {row['source']['row']}: no line reads "
                                f"{' '.join(row['label'])} {' '.join(expected)}")
    if any(t.get("layout") == "transposed" for t in spec["tables"].values()):
        for table_id, table in spec["tables"].items():
            if table.get("layout") != "transposed":
                continue
            for column in table["columns"]:
                expected = [_printed(literals.get((table_id, i, column["id"]))) for i in range(len(table["rows"]))]
                if not any(
                    (rest := _after_label(line, [column["label"]])) is not None
                    and [("—" if t in _DASHES else t) for t in _value_tokens(rest)][:len(expected)] == expected
                    for line in lines
                ):
                    problems.append(f"{table_id} / {column['label']}: no line reads "
                                    f"{column['label']} {' '.join(expected)}")
    return problems


def _caption_found(caption: str, paper_text: str) -> bool:
    variants = [paper_text, re.sub(r"-\n\s*", "", paper_text), re.sub(r"-\n\s*", "-", paper_text)]
    return any(_norm(caption) in _norm(v) for v in variants)


@needs_papers
@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_reported_number_is_printed_in_the_paper(path):
    spec = load_paper_spec(path)
    paper_text = (PAPERS / spec["source"]).read_text(encoding="utf-8")
    problems = transcription_problems(spec, reported_literals(path), paper_text)
    assert not problems, f"{len(problems)} transcription problem(s) in {path.name}:\n" + "\n".join(problems)


@needs_papers
@pytest.mark.parametrize("path", SPEC_FILES, ids=[p.stem for p in SPEC_FILES])
def test_every_caption_is_printed_in_the_paper(path):
    spec = load_paper_spec(path)
    paper_text = (PAPERS / spec["source"]).read_text(encoding="utf-8")
    items = [*spec["tables"].items(), *spec.get("figures", {}).items()]
    missing = [item_id for item_id, item in items if not _caption_found(item["caption"], paper_text)]
    assert not missing, f"captions not found in {spec['source']}: {missing}"


def test_every_reported_value_has_its_literal():
    spec = load_paper_spec(CSALR)
    literals = reported_literals(CSALR)
    for table_id, _, index, row in iter_rows(spec):
        for column_id, value in row["reported"].items():
            literal = literals.get((table_id, index, column_id))
            assert (literal is None) == (value is None)
            if literal is not None:
                assert float(literal) == value
    assert literals[("table5", 2, "memory_mb")] == "165.00"
    assert literals[("table5", 5, "fps")] == "380.95"
    assert literals[("table3", 0, "market1501.map")] == "82.0"


@needs_papers
@pytest.mark.parametrize("table,row,column,wrong", [
    ("table2", 0, "market1501.rank1", "93.4"),     # a wrong digit
    ("table5", 2, "memory_mb", "165.0"),           # the paper prints 165.00
    ("table1", 3, "dukemtmc.map", "61.1"),         # a number from no row
])
def test_the_transcription_check_catches_a_wrong_number(table, row, column, wrong):
    spec = load_paper_spec(CSALR)
    paper_text = (PAPERS / spec["source"]).read_text(encoding="utf-8")
    literals = reported_literals(CSALR)
    literals[(table, row, column)] = wrong
    problems = transcription_problems(spec, literals, paper_text)
    assert any(wrong in p and spec["tables"][table]["rows"][row]["source"]["row"] in p for p in problems), problems


@needs_papers
def test_the_transcription_check_catches_swapped_columns_and_a_missing_dash():
    spec = load_paper_spec(CSALR)
    paper_text = (PAPERS / spec["source"]).read_text(encoding="utf-8")
    literals = reported_literals(CSALR)
    # Table 3, 4 groups: R-1 93.7 and mAP 82.3 swapped — each number is still on the line.
    literals[("table3", 2, "market1501.rank1")], literals[("table3", 2, "market1501.map")] = "82.3", "93.7"
    # Table 1, DuATM: a printed dash transcribed as a number that is elsewhere on the line.
    literals[("table1", 0, "market1501.rank10")] = "97.1"
    problems = transcription_problems(spec, literals, paper_text)
    assert any(p.startswith("table3 / PCB + CSALR | 4: no line reads") for p in problems), problems
    assert any(p.startswith("table1 / DuATM [Si et al., 2018]: no line reads") for p in problems), problems


# ------------------------------------------------------- the schema fits the other papers
#
# Excerpts of the four papers not transcribed yet, one per feature the CSALR spec does not use:
# Brown train/test columns with a mean (CSA Table 7), HPatches (CSA Table 8), a descriptive
# table, mixed accuracy/resource columns with per-row scope, dataset defaults, a transposed table,
# CUHK03 vanilla/new x labeled/detected, Market-1501 SQ/MQ, MARS (AiA-Net Tables 1, 3, 8, 9, 11,
# 13), Recall@K with per-row embedding sizes, figure panels and sweeps (MHDML), learner slices and
# a correlation row (DCES Table S1).  They must validate and pass the transcription check, so a
# schema change that would break a later paper fails here first.  Not the papers' full specs.

OTHER_PAPERS = {
    "aianet": r"""
paper: aianet
title: "Attention in Attention Networks for Person Retrieval"
source: 002_e585b7ac4801a221.txt
task: reid
defaults: {model: aianet, backbone: googlenet, part_extractor: true, part_regions: 4, attention: gau, aia: true, reduction: 4, c_prime: 480, stages: [1, 2, 3, 4], embedding_dim: 1024, loss: {triplet: 1.0, cross_entropy: 1.0}, triplet_margin: 1.0}
dataset_defaults:
  cuhk03np: {reduction: 8, triplet_margin: 1.5}
  cuhk03: {reduction: 8, triplet_margin: 1.5}
  cuhk01: {reduction: 8, triplet_margin: 1.5}
  dukemtmc: {c_prime: 960}
tolerance: 1.0
tables:
  table1:
    number: 1
    caption: "Summary of the Proposed Attention Modules"
    kind: descriptive
    row_header: [Kernel attention, "Kernel formulation: $\\mathcal{K}(\\mathbf{x}, \\mathbf{y})$", AiA formulation, Non-AiA formulation, Kernel approximation]
    columns: []
    rows:
      - label: ["Linear", "$\\mathbf{x}^\\top \\mathbf{y}$", "...", "...", "Identity mapping"]
        reported_only: "formula summary; nothing to compute"
        reported: {}
        source: {table: 1, row: "Linear"}
  table3:
    number: 3
    caption: "Effect of the Attention in Attention Mechanism on the CUHK03 and Market-1501 Datasets"
    kind: mixed
    row_header: [Model]
    defaults: {stages: [2], reduction: 4, attention: lin}
    columns:
      - {id: cuhk03np.detected.map, dataset: cuhk03np, boxes: detected, metric: map, label: "CUHK03 @ ND mAP"}
      - {id: cuhk03np.detected.rank1, dataset: cuhk03np, boxes: detected, metric: rank1, label: "CUHK03 @ ND R-1"}
      - {id: market1501.sq.map, dataset: market1501, query_mode: single_query, metric: map, label: "Market-1501 @ SQ mAP"}
      - {id: market1501.sq.rank1, dataset: market1501, query_mode: single_query, metric: rank1, label: "Market-1501 @ SQ R-1"}
      - {id: params, metric: params, label: "PNs ( $\\times 10^6$ )"}
      - {id: inference_time_ms, metric: inference_time_ms, label: "Inf-time (ms)", tolerance: {relative: 0.3}}
    rows:
      - label: ["$\\mathcal{F}_a$"]
        cell: {attention: none, part_extractor: false}
        reported: {cuhk03np.detected.map: 64.5, cuhk03np.detected.rank1: 67.1, market1501.sq.map: 80.7, market1501.sq.rank1: 91.6, params: 9.45, inference_time_ms: 3.2}
        source: {table: 3, row: "$\\mathcal{F}_a$"}
      - label: ["Lin-attention w/o AiA"]
        cell: {aia: false, part_extractor: false}
        scope: {params: attention_module}
        reported: {cuhk03np.detected.map: 64.8, cuhk03np.detected.rank1: 67.9, market1501.sq.map: 80.9, market1501.sq.rank1: 92.4, params: 0.12, inference_time_ms: 3.2}
        source: {table: 3, row: "Lin-attention w/o AiA (F_a)"}
      - label: ["Lin-attention w/o AiA"]
        cell: {aia: false}
        scope: {params: attention_module}
        reported: {cuhk03np.detected.map: 68.5, cuhk03np.detected.rank1: 71.4, market1501.sq.map: 85.3, market1501.sq.rank1: 94.0, params: 0.12, inference_time_ms: 8.4}
        source: {table: 3, row: "Lin-attention w/o AiA (F_a + F_p)"}
      - label: ["NL block [43]"]
        cell: {attention: nl}
        scope: {params: attention_module}
        reported: {cuhk03np.detected.map: 70.9, cuhk03np.detected.rank1: 72.9, market1501.sq.map: 86.8, market1501.sq.rank1: 94.5, params: 0.23, inference_time_ms: 9.2}
        source: {table: 3, row: "NL block [43] (F_a + F_p)"}
  table8:
    number: 8
    caption: "Computational Complexity and Module Size of Proposed Attention Modules"
    kind: resources
    layout: transposed
    row_header: ["", "Hyper Parameter"]
    columns:
      - {id: flops, metric: flops, label: "FLOPs ( $\\times 10^9$ )", scope: attention_module}
      - {id: params, metric: params, label: "PNs ( $\\times 10^6$ )", scope: attention_module}
    rows:
      - {label: ["Lin-attention", "$r = 4$"], cell: {attention: lin, reduction: 4}, reported: {flops: 0.015, params: 0.18}, source: {table: 8, row: "Lin-attention"}}
      - {label: ["SoP-attention", "$r = 8$"], cell: {attention: sop, reduction: 8}, reported: {flops: 0.117, params: 1.79}, source: {table: 8, row: "SoP-attention"}}
      - {label: ["Gau-attention", "$r = 4, c' = 480$"], cell: {attention: gau, reduction: 4, c_prime: 480}, reported: {flops: 0.044, params: 0.58}, source: {table: 8, row: "Gau-attention"}}
      - {label: ["$\\mathcal{F}_a + \\mathcal{F}_p$", "-"], cell: {attention: none}, scope: {flops: network, params: network}, reported: {flops: 2.82, params: 30.16}, source: {table: 8, row: "F_a + F_p"}}
  table9:
    number: 9
    caption: "Evaluation on the CUHK03-Vanilla Dataset in Both Labeled and Detected Bounding Box"
    kind: accuracy
    row_header: [Model]
    columns:
      - {id: cuhk03.labeled.map, dataset: cuhk03, boxes: labeled, metric: map, label: "@ Labeled mAP"}
      - {id: cuhk03.labeled.rank1, dataset: cuhk03, boxes: labeled, metric: rank1, label: "@ Labeled R-1"}
      - {id: cuhk03.detected.map, dataset: cuhk03, boxes: detected, metric: map, label: "@ Detected mAP"}
      - {id: cuhk03.detected.rank1, dataset: cuhk03, boxes: detected, metric: rank1, label: "@ Detected R-1"}
    rows:
      - {label: ["IANet [83]"], reported_only: "quoted", reported: {cuhk03.labeled.map: null, cuhk03.labeled.rank1: 92.4, cuhk03.detected.map: null, cuhk03.detected.rank1: 90.1}, source: {table: 9, row: "IANet [83]"}}
      - {label: ["AiA-Net w/ SoP-attention"], cell: {attention: sop}, reported: {cuhk03.labeled.map: 95.2, cuhk03.labeled.rank1: 96.8, cuhk03.detected.map: 92.1, cuhk03.detected.rank1: 94.0}, source: {table: 9, row: "AiA-Net w/ SoP-attention"}}
  table11:
    number: 11
    caption: "Evaluation on the Market-1501, DukeMTMC-reID, and MSMT17 Datasets"
    kind: accuracy
    row_header: [Model]
    columns:
      - {id: market1501.sq.map, dataset: market1501, query_mode: single_query, metric: map, label: "Market-1501 @ SQ mAP"}
      - {id: market1501.sq.rank1, dataset: market1501, query_mode: single_query, metric: rank1, label: "Market-1501 @ SQ R-1"}
      - {id: market1501.sq.rank5, dataset: market1501, query_mode: single_query, metric: rank5, label: "Market-1501 @ SQ R-5"}
      - {id: market1501.sq.rank10, dataset: market1501, query_mode: single_query, metric: rank10, label: "Market-1501 @ SQ R-10"}
      - {id: market1501.mq.map, dataset: market1501, query_mode: multi_query, metric: map, label: "Market-1501 @ MQ mAP"}
      - {id: market1501.mq.rank1, dataset: market1501, query_mode: multi_query, metric: rank1, label: "Market-1501 @ MQ R-1"}
      - {id: market1501.mq.rank5, dataset: market1501, query_mode: multi_query, metric: rank5, label: "Market-1501 @ MQ R-5"}
      - {id: market1501.mq.rank10, dataset: market1501, query_mode: multi_query, metric: rank10, label: "Market-1501 @ MQ R-10"}
      - {id: dukemtmc.map, dataset: dukemtmc, metric: map, label: "DukeMTMC-reID @ SQ mAP"}
      - {id: dukemtmc.rank1, dataset: dukemtmc, metric: rank1, label: "DukeMTMC-reID @ SQ R-1"}
      - {id: dukemtmc.rank5, dataset: dukemtmc, metric: rank5, label: "DukeMTMC-reID @ SQ R-5"}
      - {id: dukemtmc.rank10, dataset: dukemtmc, metric: rank10, label: "DukeMTMC-reID @ SQ R-10"}
      - {id: msmt17.map, dataset: msmt17, metric: map, label: "MSMT17 @ SQ mAP"}
      - {id: msmt17.rank1, dataset: msmt17, metric: rank1, label: "MSMT17 @ SQ R-1"}
      - {id: msmt17.rank5, dataset: msmt17, metric: rank5, label: "MSMT17 @ SQ R-5"}
      - {id: msmt17.rank10, dataset: msmt17, metric: rank10, label: "MSMT17 @ SQ R-10"}
    rows:
      - label: ["AiA-Net w/ Gau-attention"]
        cell: {}
        reported: {market1501.sq.map: 87.9, market1501.sq.rank1: 95.6, market1501.sq.rank5: 98.5, market1501.sq.rank10: 99.1, market1501.mq.map: 91.8, market1501.mq.rank1: 96.6, market1501.mq.rank5: 99.0, market1501.mq.rank10: 99.6, dukemtmc.map: 78.6, dukemtmc.rank1: 88.8, dukemtmc.rank5: 94.9, dukemtmc.rank10: 96.7, msmt17.map: 58.8, msmt17.rank1: 80.0, msmt17.rank5: 89.7, msmt17.rank10: 92.0}
        source: {table: 11, row: "AiA-Net w/ Gau-attention"}
  table13:
    number: 13
    caption: "Evaluation on the MARS Dataset in Video Person Retrieval Setting"
    kind: accuracy
    task: video_reid
    row_header: [Model]
    defaults: {model: aianet_v}
    columns:
      - {id: mars.map, dataset: mars, metric: map, label: mAP}
      - {id: mars.rank1, dataset: mars, metric: rank1, label: R-1}
      - {id: mars.rank5, dataset: mars, metric: rank5, label: R-5}
      - {id: mars.rank10, dataset: mars, metric: rank10, label: R-10}
    rows:
      - {label: ["GLTR [41]"], reported_only: quoted, reported: {mars.map: 78.4, mars.rank1: 87.0, mars.rank5: 95.7, mars.rank10: null}, source: {table: 13, row: "GLTR [41]"}}
      - {label: ["AiA-Net-V w/ Gau-attention"], cell: {}, reported: {mars.map: 81.7, mars.rank1: 87.2, mars.rank5: 95.6, mars.rank10: 97.2}, source: {table: 13, row: "AiA-Net-V w/ Gau-attention"}}
figures:
  fig11:
    number: 11
    caption: "Evaluation for attention blocks on different backbone networks on the CUHK03 dataset."
    kind: bar_chart
    dataset: cuhk03np
    metric: map
    series:
      - {label: Baseline, cell: {attention: none}}
      - {label: Lin-attention, cell: {attention: lin}}
      - {label: SoP-attention, cell: {attention: sop}}
      - {label: Gau-attention, cell: {attention: gau}}
    x: {key: backbone, values: [resnet50, googlenet, densenet, mobilenet, shufflenet]}
""",
    "csa": r"""
paper: csa
title: "Compressed Self-Attention for Deep Metric Learning"
source: 001_5fbd5da13318fd56.txt
task: reid
defaults: {model: pcb, backbone: resnet50, attention: csa, bases: 32, groups: 2, stages: [1, 2, 3], deep_supervision: true, ds_lambda: 1.0, loss: {cross_entropy: 1.0}}
tolerance: 1.0
tables:
  table5:
    number: 5
    caption: "Comparison of the models with and without deep supervision."
    kind: accuracy
    row_header: [Models, DS]
    columns:
      - {id: market1501.rank1, dataset: market1501, metric: rank1, label: "Market-1501 R-1"}
      - {id: market1501.map, dataset: market1501, metric: map, label: "Market-1501 mAP"}
      - {id: dukemtmc.rank1, dataset: dukemtmc, metric: rank1, label: "DukeMTMC-reID R-1"}
      - {id: dukemtmc.map, dataset: dukemtmc, metric: map, label: "DukeMTMC-reID mAP"}
    rows:
      - label: ["PCB + CSA", "no"]
        cell: {deep_supervision: false}
        reported: {market1501.rank1: 93.5, market1501.map: 81.3, dukemtmc.rank1: 85.3, dukemtmc.map: 72.8}
        source: {table: 5, row: "PCB + CSA | no"}
      - label: ["PCB-RPP + CSA", "no"]
        cell: {model: pcb_rpp, deep_supervision: false}
        reported: {market1501.rank1: 93.6, market1501.map: 82.7, dukemtmc.rank1: 84.9, dukemtmc.map: 72.7}
        source: {table: 5, row: "PCB-RPP + CSA | no"}
  table7:
    number: 7
    caption: "Comparison of the models with and without the proposed CSA on patch correspondence verification performance on Brown dataset. We report false positive rate at true positive rate equal to 95% (FPR95)."
    kind: accuracy
    task: patch_descriptor
    row_header: [Train]
    defaults: {model: hardnet, backbone: l2net, attention: none, layers: [3], groups: 1, deep_supervision: false, loss: {hardnet: 1.0}}
    tolerance: 0.2
    columns:
      - {id: brown_liberty.train_notredame.fpr95, dataset: brown_liberty, train_dataset: brown_notredame, metric: fpr95, label: "Notredame/Liberty"}
      - {id: brown_liberty.train_yosemite.fpr95, dataset: brown_liberty, train_dataset: brown_yosemite, metric: fpr95, label: "Yosemite/Liberty"}
      - {id: brown_notredame.train_liberty.fpr95, dataset: brown_notredame, train_dataset: brown_liberty, metric: fpr95, label: "Liberty/Notredame"}
      - {id: brown_notredame.train_yosemite.fpr95, dataset: brown_notredame, train_dataset: brown_yosemite, metric: fpr95, label: "Yosemite/Notredame"}
      - {id: brown_yosemite.train_liberty.fpr95, dataset: brown_yosemite, train_dataset: brown_liberty, metric: fpr95, label: "Liberty/Yosemite"}
      - {id: brown_yosemite.train_notredame.fpr95, dataset: brown_yosemite, train_dataset: brown_notredame, metric: fpr95, label: "Notredame/Yosemite"}
      - {id: brown.mean.fpr95, metric: fpr95, label: "Mean", mean_of: [brown_liberty.train_notredame.fpr95, brown_liberty.train_yosemite.fpr95, brown_notredame.train_liberty.fpr95, brown_notredame.train_yosemite.fpr95, brown_yosemite.train_liberty.fpr95, brown_yosemite.train_notredame.fpr95]}
    rows:
      - label: ["HardNet (Mishchuk et al. 2017)"]
        cell: {}
        reported: {brown_liberty.train_notredame.fpr95: 1.49, brown_liberty.train_yosemite.fpr95: 2.51, brown_notredame.train_liberty.fpr95: 0.53, brown_notredame.train_yosemite.fpr95: 0.78, brown_yosemite.train_liberty.fpr95: 1.96, brown_yosemite.train_notredame.fpr95: 1.84, brown.mean.fpr95: 1.51}
        source: {table: 7, row: "HardNet (Mishchuk et al. 2017)"}
      - label: ["RALNet + CSA"]
        cell: {model: ralnet, attention: csa, loss: {ral: 1.0}}
        reported: {brown_liberty.train_notredame.fpr95: 1.16, brown_liberty.train_yosemite.fpr95: 1.95, brown_notredame.train_liberty.fpr95: 0.40, brown_notredame.train_yosemite.fpr95: 0.71, brown_yosemite.train_liberty.fpr95: 1.38, brown_yosemite.train_notredame.fpr95: 1.02, brown.mean.fpr95: 1.10}
        source: {table: 7, row: "RALNet + CSA"}
  table8:
    number: 8
    caption: "Comparison of the models with and without CSA on verification, matching and retrieval results on HPatches dataset. All the descriptors are trained on Liberty subset of Brown dataset."
    kind: accuracy
    task: patch_descriptor
    row_header: [Task]
    defaults: {model: hardnet, backbone: l2net, attention: none, layers: [3], groups: 1, deep_supervision: false, loss: {hardnet: 1.0}}
    columns:
      - {id: hpatches.verification_map, dataset: hpatches, train_dataset: brown_liberty, metric: verification_map, label: Verification}
      - {id: hpatches.matching_map, dataset: hpatches, train_dataset: brown_liberty, metric: matching_map, label: Matching}
      - {id: hpatches.retrieval_map, dataset: hpatches, train_dataset: brown_liberty, metric: retrieval_map, label: Retrieval}
    rows:
      - label: ["HardNet + SA"]
        cell: {attention: sa}
        reported: {hpatches.verification_map: 87.76, hpatches.matching_map: 53.17, hpatches.retrieval_map: 71.45}
        source: {table: 8, row: "HardNet + SA"}
figures:
  fig5:
    number: 5
    caption: "Visualization of the base attention maps and the reconstructed attention maps."
    kind: attention_maps
    dataset: market1501
    cell: {}
""",
    "dces": r"""
paper: dces
title: "Divide and Conquer the Embedding Space for Metric Learning (supplementary material)"
source: 004_82c542c12fef7e00.txt
task: image_retrieval
defaults: {model: dces, backbone: resnet50, attention: none, learners: 8, embedding_dim: 128, loss: {margin: 1.0}}
tolerance: 1.0
tables:
  tableS1:
    number: S1
    caption: "Evaluation of the individual learners. Recall@1 for every individual learner on the entire test set of Stanford Online Products [3]. The last column shows the indices of the corresponding dimensions of the embedding space assigned to the learners. The individual learners of our model yield significantly higher Recall@1 than the baseline model when they are concatenated and evaluated all together, since they learn less correlated representations."
    kind: accuracy
    layout: transposed
    row_header: [""]
    columns:
      - {id: sop.learner1.recall@1, dataset: sop, metric: recall@1, eval_dims: [1, 16], label: "Learner 1"}
      - {id: sop.learner2.recall@1, dataset: sop, metric: recall@1, eval_dims: [17, 32], label: "Learner 2"}
      - {id: sop.mean.recall@1, dataset: sop, metric: recall@1, label: "Mean", mean_of: [sop.learner1.recall@1, sop.learner2.recall@1]}
      - {id: sop.all.recall@1, dataset: sop, metric: recall@1, label: "All together (†)"}
      - {id: sop.corr_coeff, dataset: sop, metric: corr_coeff, label: "Corr. coeff. (\\downarrow)"}
    rows:
      - {label: [Baseline], cell: {learners: 1}, reported: {sop.learner1.recall@1: 37.0, sop.learner2.recall@1: 37.0, sop.mean.recall@1: 36.8, sop.all.recall@1: 72.7, sop.corr_coeff: 0.0602}, source: {table: S1, row: Baseline}}
      - {label: [Ours], cell: {}, reported: {sop.learner1.recall@1: 29.6, sop.learner2.recall@1: 29.7, sop.mean.recall@1: 29.5, sop.all.recall@1: 75.9, sop.corr_coeff: 0.0498}, source: {table: S1, row: Ours}}
  tableS2:
    number: S2
    caption: "Recall@k for k = 1, 5, 10 and mean average precision (mAP) on Market-1501 [9] with single-query mode. * denotes our own implementation based on ResNet-50 with d = 128. ** denotes methods that use ResNet-50 as backbone."
    kind: accuracy
    task: reid
    row_header: ["Recall@k"]
    columns:
      - {id: market1501.rank1, dataset: market1501, metric: rank1, label: "1"}
      - {id: market1501.rank5, dataset: market1501, metric: rank5, label: "5"}
      - {id: market1501.rank10, dataset: market1501, metric: rank10, label: "10"}
      - {id: market1501.map, dataset: market1501, metric: map, label: "mAP"}
    rows:
      - {label: ["PSE ** [4]"], reported_only: quoted, reported: {market1501.rank1: 87.7, market1501.rank5: 94.5, market1501.rank10: 96.8, market1501.map: 69.0}, source: {table: S2, row: "PSE ** [4]"}}
      - {label: ["Margin baseline* [7]"], cell: {learners: 1}, reported: {market1501.rank1: 98.2, market1501.rank5: 99.3, market1501.rank10: 99.3, market1501.map: 87.9}, source: {table: S2, row: "Margin baseline* [7]"}}
      - {label: ["Ours (Margin)"], cell: {}, reported: {market1501.rank1: 98.9, market1501.rank5: 99.5, market1501.rank10: 99.7, market1501.map: 88.8}, source: {table: S2, row: "Ours (Margin)"}}
figures:
  figS2:
    number: S2
    caption: "Evaluation of the individual learners."
    kind: sweep_curve
    dataset: sop
    metric: recall@1
    series: [{label: Baseline, cell: {learners: 1}}, {label: Ours, cell: {}}]
    x: {key: eval_dims_first, values: [16, 32, 48, 64, 80, 96, 112, 128]}
  figS1:
    number: S1
    caption: "Representative images for the learners and their corresponding subspaces. The model was trained on the Stanford Online Products dataset with K = 8. Best viewed zoomed in."
    kind: learner_examples
    dataset: sop
    cell: {}
""",
    "mhdml": r"""
paper: mhdml
title: "Multi-Head Deep Metric Learning Using Global and Local Representations"
source: 003_72cd4b33cee60b89.txt
task: image_retrieval
defaults: {model: mhdml, backbone: resnet50, attention: soa, attention_heads: multi, descriptors: [local, global], pooling: gap+gmp, embedding_dim: 512, loss: {ms: 1.0, proxy_anchor: 0.03}}
tolerance: 1.0
tables:
  table1:
    number: 1
    caption: "Recall@K (%) on the Cars-196 [29] and CUB-200-2011 [63] datasets. Superscripts indicate embedding sizes. Backbone networks of the models are denoted by abbreviations: G–GoogleNet [51], BN–Inception with batch normalization [22], R50–ResNet50 [21]. For each group of methods, the best performance is bolded and the second best is underlined."
    kind: accuracy
    row_header: [Algorithms, BackBone]
    columns:
      - {id: cars196.recall@1, dataset: cars196, metric: recall@1, label: "Cars-196 R@1"}
      - {id: cars196.recall@2, dataset: cars196, metric: recall@2, label: "Cars-196 R@2"}
      - {id: cars196.recall@4, dataset: cars196, metric: recall@4, label: "Cars-196 R@4"}
      - {id: cars196.recall@8, dataset: cars196, metric: recall@8, label: "Cars-196 R@8"}
      - {id: cub200.recall@1, dataset: cub200, metric: recall@1, label: "CUB-200-2011 R@1"}
      - {id: cub200.recall@2, dataset: cub200, metric: recall@2, label: "CUB-200-2011 R@2"}
      - {id: cub200.recall@4, dataset: cub200, metric: recall@4, label: "CUB-200-2011 R@4"}
      - {id: cub200.recall@8, dataset: cub200, metric: recall@8, label: "CUB-200-2011 R@8"}
    rows:
      - {label: ["Proxy-Anchor <sup>512</sup> [25]", "BN"], reported_only: quoted, reported: {cars196.recall@1: 86.1, cars196.recall@2: 91.7, cars196.recall@4: 95.0, cars196.recall@8: 97.3, cub200.recall@1: 68.4, cub200.recall@2: 79.2, cub200.recall@4: 86.8, cub200.recall@8: 91.6}, source: {table: 1, row: "Proxy-Anchor 512 [25] | BN"}}
      - {label: ["Proxy-Anchor <sup>512</sup> [25]", "R50"], reported_only: quoted, reported: {cars196.recall@1: 87.7, cars196.recall@2: 92.9, cars196.recall@4: 95.8, cars196.recall@8: 97.9, cub200.recall@1: 69.7, cub200.recall@2: 80.0, cub200.recall@4: 87.0, cub200.recall@8: 92.4}, source: {table: 1, row: "Proxy-Anchor 512 [25] | R50"}}
      - {label: ["Ours <sup>64</sup>", "R50"], cell: {embedding_dim: 64}, reported: {cars196.recall@1: 81.1, cars196.recall@2: 88.1, cars196.recall@4: 92.3, cars196.recall@8: 95.3, cub200.recall@1: 63.1, cub200.recall@2: 74.6, cub200.recall@4: 83.2, cub200.recall@8: 89.4}, source: {table: 1, row: "Ours 64 | R50"}}
  table2:
    number: 2
    caption: "Recall@K (%) on the SOP. Superscripts indicates embedding sizes. For each group of methods, the best performance is bolded and the second best is underlined."
    kind: accuracy
    row_header: [Recall@K]
    columns:
      - {id: sop.recall@1, dataset: sop, metric: recall@1, label: "1"}
      - {id: sop.recall@10, dataset: sop, metric: recall@10, label: "10"}
      - {id: sop.recall@100, dataset: sop, metric: recall@100, label: "100"}
      - {id: sop.recall@1000, dataset: sop, metric: recall@1000, label: "1000"}
    rows:
      - {label: ["Clustering <sup>64</sup> [40]"], reported_only: quoted, reported: {sop.recall@1: 67.0, sop.recall@10: 83.7, sop.recall@100: 93.2, sop.recall@1000: null}, source: {table: 2, row: "Clustering 64 [40]"}}
      - {label: ["Ours <sup>512</sup>"], cell: {}, reported: {sop.recall@1: 81.7, sop.recall@10: 92.0, sop.recall@100: 96.6, sop.recall@1000: 98.8}, source: {table: 2, row: "Ours 512"}}
figures:
  fig5:
    number: 5
    caption: "(a): The impact of local and global descriptors in terms of Recall@1 performance on both Cars-196 and CUB-200-2011 datasets. The blue and green colors illustrate the performance of the global and local descriptors, while the red indicates the performance of the combined global and local descriptors. The (a) part of this figure demonstrates the combination of local and global features are vital in our design. (b): The impact of the SOA component on the mentioned datasets. The blue color exhibits the model without second-order attention and red depicts the model with second-order attention."
    kind: bar_chart
    panels:
      - panel: a
        datasets: [cars196, cub200]
        metric: recall@1
        series:
          - {label: Global, cell: {descriptors: [global]}}
          - {label: Local, cell: {descriptors: [local]}}
          - {label: Global + Local, cell: {}}
      - panel: b
        datasets: [cars196, cub200]
        metric: recall@1
        series:
          - {label: w/o SOA, cell: {attention: none}}
          - {label: w/ SOA, cell: {}}
  fig8:
    number: 8
    caption: "Accuracy in terms of Recall@1 versus embedding dimension on both Cars-196 and CUB-200-2011 datasets."
    kind: sweep_curve
    datasets: [cars196, cub200]
    metric: recall@1
    series: [{label: Ours, cell: {}}]
    x: {key: embedding_dim, values: [64, 128, 256, 512, 1024, 2048]}
  fig1:
    number: 1
    caption: "Accuracy in Recall@1 versus epochs on the Cars-196 [29] dataset. Note that all methods were trained on a single Quadro p5000 GPU with a batch size of 100. Our method achieves the highest accuracy while converging at the same order as the proxy-based baselines in terms of the number of epochs."
    kind: training_curve
    dataset: cars196
    metric: recall@1
    series: [{label: Ours, cell: {}}, {label: Proxy-Anchor, cell: {loss: {proxy_anchor: 1.0}}}, {label: MS, cell: {loss: {ms: 1.0}}}]
    x: {key: epoch, values: [1, 20]}
""",
}


@pytest.mark.parametrize("paper", sorted(OTHER_PAPERS))
def test_the_schema_fits_excerpts_of_the_other_papers(tmp_path, paper):
    path = tmp_path / f"{paper}.yaml"
    path.write_text(OTHER_PAPERS[paper])
    spec = load_paper_spec(path)
    for _, table, _, row in iter_rows(spec):
        if "cell" in row:
            for column in table["columns"]:
                assert resolve_cell(spec, row, dataset=column.get("dataset"))["model"]
    if PAPERS is not None:
        paper_text = (PAPERS / spec["source"]).read_text(encoding="utf-8")
        assert transcription_problems(spec, reported_literals(path), paper_text) == []
        items = [*spec["tables"].items(), *spec.get("figures", {}).items()]
        assert [i for i, item in items if not _caption_found(item["caption"], paper_text)] == []


def test_dataset_defaults_sit_under_table_defaults_and_row_cells(tmp_path):
    path = tmp_path / "aianet.yaml"
    path.write_text(OTHER_PAPERS["aianet"])
    spec = load_paper_spec(path)
    # AiA-Net Sec. 4.4: r = 8 on CUHK03, 4 elsewhere; Table 3 fixes r = 4 for every dataset.
    table11 = spec["tables"]["table11"]["rows"][0]
    assert resolve_cell(spec, table11, dataset="cuhk03np")["reduction"] == 8
    assert resolve_cell(spec, table11, dataset="market1501")["reduction"] == 4
    assert resolve_cell(spec, table11, dataset="dukemtmc")["c_prime"] == 960
    table3 = spec["tables"]["table3"]["rows"][1]
    assert resolve_cell(spec, table3, dataset="cuhk03np")["reduction"] == 4
    series = spec["figures"]["fig11"]["series"][1]
    assert resolve_cell(spec, series)["attention"] == "lin"


# ------------------------------------------- results printed in the text (layout: text)

MHDML = SPEC_DIR / "mhdml.yaml"


def _mhdml_raw() -> dict:
    return json.loads(json.dumps(yaml.safe_load(MHDML.read_text())))


def test_the_single_head_result_is_a_text_table_with_its_two_numbers():
    """Sec. 4.5: "The single head attention obtained 86.6% and 66.6% ..." (003)."""
    spec = load_paper_spec(MHDML)
    table = spec["tables"]["tableT1"]
    assert (table["layout"], table["number"], table["section"]) == ("text", "T1", "4.5")
    single = table["rows"][0]
    assert single["cell"] == {"attention_heads": "single"}
    assert single["reported"] == {"cars196.recall@1": 86.6, "cub200.recall@1": 66.6}
    literals = reported_literals(MHDML)
    assert (literals[("tableT1", 0, "cars196.recall@1")], literals[("tableT1", 0, "cub200.recall@1")]) == ("86.6", "66.6")


@needs_papers
@pytest.mark.parametrize("first,second", [("86.5", "66.6"), ("66.6", "86.6"), ("90.1", "70.6")],
                         ids=["wrong-digit", "swapped", "the-multi-head-numbers"])
def test_the_transcription_check_reads_the_sentence_in_order(first, second):
    spec = load_paper_spec(MHDML)
    paper_text = (PAPERS / spec["source"]).read_text(encoding="utf-8")
    literals = reported_literals(MHDML)
    assert [p for p in transcription_problems(spec, literals, paper_text) if p.startswith("tableT1")] == []
    literals[("tableT1", 0, "cars196.recall@1")], literals[("tableT1", 0, "cub200.recall@1")] = first, second
    problems = transcription_problems(spec, literals, paper_text)
    assert any(p.startswith("tableT1 / single head attention: no line reads") for p in problems), problems


@pytest.mark.parametrize("mutate,expected", [
    (lambda t: t.pop("layout"), ["tableT1", "number"]),
    (lambda t: t.pop("section"), ["tableT1", "section"]),
    (lambda t: t.update(number=4), ["tableT1"]),
], ids=["T-number-without-text-layout", "text-without-section", "text-with-a-table-number"])
def test_a_text_table_needs_its_layout_section_and_T_number(tmp_path, mutate, expected):
    data = _mhdml_raw()
    mutate(data["tables"]["tableT1"])
    path = tmp_path / "mhdml.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(PaperSpecError) as info:
        load_paper_spec(path)
    assert "\n" not in str(info.value)
    for part in expected:
        assert part in str(info.value)
