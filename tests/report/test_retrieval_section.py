"""The report's retrieval variants: each regenerated Recall@K number with every variant's value and
how much it moves it (mean over the table's seeds), NMI per cell, and the reason for a cell that was
not re-measured."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dmlrepro.report.html import _table_html
from dmlrepro.report.retrieval_section import nmi_rows, recall_rows, retrieval_section


def _table():
    spec = {"columns": [{"id": "cars196.recall@1", "dataset": "cars196", "metric": "recall@1", "label": "R@1"},
                        {"id": "cars196.s", "dataset": "cars196", "metric": "recall@1", "protocol": "dims@1-16"}],
            "rows": [{"source": {"row": "Ours"}}, {"source": {"row": "Other"}}]}
    return SimpleNamespace(spec=spec, seeds=[0, 1])


def _entry(seed, recorded, moved):
    values = {"recall_cosine": recorded, "recall_euclidean": recorded + moved, "recall_drop_first": recorded,
              "recall_pessimistic": recorded - 1.0}
    return {"cell": "c0", "seed": seed, "recorded": {"recall@1": recorded},
            "recall": {k: {"recall@1": v} for k, v in values.items()},
            "nmi": {"nmi_faiss": 0.5 + seed / 10, "nmi_faiss_normalised": 0.5, "nmi_sklearn": None,
                    "nmi_faiss_seed_min": 0.4, "nmi_faiss_seed_max": 0.7, "num_clusters": 3}}


def test_rows_average_the_seeds_and_show_what_each_variant_moves():
    variants = {"results": [_entry(0, 40.0, 2.0), _entry(1, 50.0, 4.0),
                            {"cell": "c1", "seed": 0, "skipped": "no re-embedding for family 'x'"},
                            {"cell": "c1", "seed": 1, "skipped": "no re-embedding for family 'x'"}]}
    cell_ids = {("table1", 0, "cars196"): "c0", ("table1", 1, "cars196"): "c1"}
    rows = recall_rows({"table1": _table()}, variants, cell_ids)
    assert len(rows) == 2  # the protocol column is another evaluation: not listed
    assert rows[0]["recorded"] == 45.0 and rows[0]["values"]["recall_euclidean"] == pytest.approx(48.0)
    assert rows[0]["values"]["recall_pessimistic"] == pytest.approx(44.0)
    assert rows[1]["reason"] == "no re-embedding for family 'x'"
    nmi = nmi_rows(variants)
    assert nmi[0]["nmi_faiss"] == pytest.approx(0.55) and nmi[0]["nmi_sklearn"] is None
    page = retrieval_section(_table_html, {"table1": _table()}, variants, cell_ids)
    assert "48.00 (+3.00)" in page and "44.00 (-1.00)" in page and "no re-embedding for family" in page
    assert "recall_euclidean +2.00 to +3.00" not in page and "recall_euclidean +3.00 to +3.00" in page
    assert "0.5500" in page


def test_nothing_re_measured_is_no_section():
    assert retrieval_section(_table_html, {"table1": _table()}, {"results": []}, {}) == ""


def test_row_labels_keep_their_printed_inline_markup_only():
    from dmlrepro.report.html import _e_markup

    assert _e_markup("Clustering <sup>64</sup> [40]") == "Clustering <sup>64</sup> [40]"
    assert _e_markup("Zhao <i>et al.</i> <script>x</script>") == "Zhao <i>et al.</i> &lt;script&gt;x&lt;/script&gt;"
