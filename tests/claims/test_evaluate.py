"""Claims over seeds on hand-made seed results: paired differences, the 95% t-interval against
scipy's, and each verdict (supported / contradicted / inconclusive / not comparable / too few
seeds / resource sign)."""

from __future__ import annotations

import statistics

import pytest
from scipy import stats

from dmlrepro.claims.evaluate import (CONTRADICTED, INCONCLUSIVE, NOT_COMPARABLE, NOT_COMPUTED, SUPPORTED, category,
                                      combine, evaluate_claim, evaluate_claims, paired_interval)
from dmlrepro.tables.aggregate import MeasuredTable, Measurement

COLUMNS = [{"id": "m.rank1", "dataset": "m", "metric": "rank1", "label": "M R-1"},
           {"id": "m.map", "dataset": "m", "metric": "map", "label": "M mAP"}]


def _table(rows: dict[str, dict[str, list[float] | None]], deviations=(), reported_only=(), resource=False):
    """A MeasuredTable whose row `name` has the given per-seed values per column."""
    columns = [{"id": "memory_mb", "metric": "memory_mb", "label": "Memory"}] if resource else COLUMNS
    spec_rows, cells = [], {}
    for index, (name, values) in enumerate(rows.items()):
        row = {"label": [name], "source": {"table": 1, "row": name},
               "reported": {c["id"]: (values.get(c["id"]) or [None])[0] if name in reported_only else 50.0 + index
                            for c in columns}}
        if name in reported_only:
            row["reported_only"] = "quoted"
        else:
            row["cell"] = {}
            for cid, vals in values.items():
                if vals is not None:
                    cells[(index, cid)] = Measurement(list(vals), list(deviations), {"cpu"} if resource else set())
        spec_rows.append(row)
    spec = {"number": 1, "columns": columns, "rows": spec_rows}
    table = MeasuredTable("p", "table1", spec, {"paper": "p"}, "tiny", [0, 1, 2])
    table.cells = cells
    return table


def _claim(**kw):
    claim = {"id": "c", "quote": "A is better than B", "table": "table1", "kind": "compare", "row": "A",
             "than": ["B"], "direction": "higher", "columns": ["m.rank1", "m.map"]}
    claim.update(kw)
    return claim


def test_paired_interval_equals_scipy():
    diffs = [1.2, 0.3, 2.9, 1.1]
    got = paired_interval(diffs)
    low, high = stats.t.interval(0.95, 3, loc=statistics.fmean(diffs), scale=statistics.stdev(diffs) / 2)
    assert got.mean == pytest.approx(statistics.fmean(diffs))
    assert (got.low, got.high) == pytest.approx((low, high))


def test_p_values_are_scipys_one_sample_t_test_and_the_papers_p_stands_beside_them():
    diffs = [1.2, 0.3, 2.9, 1.1]
    got = paired_interval(diffs)
    assert got.p_one_sided == pytest.approx(stats.ttest_1samp(diffs, 0.0, alternative="greater").pvalue)
    assert got.p_two_sided == pytest.approx(stats.ttest_1samp(diffs, 0.0).pvalue)
    assert paired_interval([1.0]).p_one_sided is None and paired_interval([2.0, 2.0]).p_one_sided is None
    # a quoted row enters with its printed number: the paired test is the one-sample test against it
    a = [74.0, 76.5, 75.1]
    table = _table({"A": {"m.rank1": a, "m.map": a}, "Q": {"m.rank1": [72.0], "m.map": [70.0]}}, reported_only=("Q",))
    result = evaluate_claim(_claim(than=["Q"], paper_p={"m.rank1": 0.0026}), table)
    rank1, mean_ap = result.comparisons
    assert rank1.paper_p == 0.0026 and mean_ap.paper_p is None
    assert rank1.measured.p_one_sided == pytest.approx(stats.ttest_1samp(a, 72.0, alternative="greater").pvalue)


def test_pairing_is_by_seed_not_by_mean():
    # A beats B by exactly 1 at every seed although the seeds vary by 20 points: paired, the
    # interval is [1, 1] (supported); unpaired it would span 0.
    a = [60.0, 80.0, 70.0]
    b = [59.0, 79.0, 69.0]
    result = evaluate_claim(_claim(columns=["m.rank1"]), _table({"A": {"m.rank1": a}, "B": {"m.rank1": b}}))
    assert result.verdict == SUPPORTED
    assert result.comparisons[0].measured.mean == pytest.approx(1.0)
    assert result.comparisons[0].measured.half_width == pytest.approx(0.0)


def test_supported_contradicted_inconclusive():
    a = {"m.rank1": [70.0, 71.0, 72.0], "m.map": [50.0, 51.0, 52.0]}
    b_lower = {"m.rank1": [60.0, 60.5, 61.5], "m.map": [40.0, 41.0, 41.5]}
    b_higher = {"m.rank1": [80.0, 80.5, 81.5], "m.map": [60.0, 61.0, 61.5]}
    b_noisy = {"m.rank1": [65.0, 76.0, 71.0], "m.map": [45.0, 56.0, 51.0]}
    assert evaluate_claim(_claim(), _table({"A": a, "B": b_lower})).verdict == SUPPORTED
    assert evaluate_claim(_claim(), _table({"A": a, "B": b_higher})).verdict == CONTRADICTED
    result = evaluate_claim(_claim(), _table({"A": a, "B": b_noisy}))
    assert result.category == INCONCLUSIVE
    half = float(stats.t.ppf(0.975, 2)) * statistics.stdev([5.0, -5.0, 1.0]) / 3 ** 0.5
    assert result.verdict == f"inconclusive (interval ±{half:.2f})"
    # direction lower turns the same numbers around
    assert evaluate_claim(_claim(direction="lower"), _table({"A": a, "B": b_higher})).verdict == SUPPORTED


def test_one_contradicted_column_contradicts_the_claim():
    a = {"m.rank1": [70.0, 71.0, 72.0], "m.map": [50.0, 51.0, 52.0]}
    b = {"m.rank1": [60.0, 61.0, 62.0], "m.map": [55.0, 56.0, 57.0]}
    result = evaluate_claim(_claim(), _table({"A": a, "B": b}))
    assert [category(c.verdict) for c in result.comparisons] == [SUPPORTED, CONTRADICTED]
    assert result.verdict == CONTRADICTED
    # ... but on the mean of the two columns A is ahead by 2.5 at every seed
    assert evaluate_claim(_claim(over="mean"), _table({"A": a, "B": b})).verdict == SUPPORTED


def test_not_comparable_keeps_the_measured_direction():
    a = {"m.rank1": [70.0, 71.0, 72.0], "m.map": [50.0, 51.0, 52.0]}
    b = {"m.rank1": [60.0, 61.0, 62.0], "m.map": [40.0, 41.0, 42.0]}
    result = evaluate_claim(_claim(), _table({"A": a, "B": b}, deviations=["synthetic data", "16 epochs (paper 100)"]))
    assert result.verdict == NOT_COMPARABLE
    assert result.comparisons[0].verdict == "not comparable: synthetic data; 16 epochs (paper 100)"
    assert result.comparisons[0].measured.mean == pytest.approx(10.0)


def test_fewer_than_three_seeds_gives_no_interval_verdict():
    a = {"m.rank1": [70.0, 71.0], "m.map": [50.0, 51.0]}
    b = {"m.rank1": [60.0, 61.0], "m.map": [40.0, 41.0]}
    result = evaluate_claim(_claim(), _table({"A": a, "B": b}))
    assert result.category == INCONCLUSIVE
    assert result.comparisons[0].verdict == "inconclusive (n = 2 < 3 seeds: no interval)"


def test_trend_uses_consecutive_rows():
    rows = {"r1": {"m.rank1": [60.0, 61.0, 62.0]}, "r2": {"m.rank1": [61.0, 62.0, 63.0]},
            "r3": {"m.rank1": [60.5, 61.5, 62.5]}}
    claim = _claim(kind="trend", rows=["r1", "r2", "r3"], direction="increasing", columns=["m.rank1"])
    del claim["row"], claim["than"]
    result = evaluate_claim(claim, _table(rows))
    assert [c.verdict for c in result.comparisons] == [SUPPORTED, CONTRADICTED]
    assert result.comparisons[0].label.startswith("r2 > r1")


def test_reported_only_row_enters_with_its_printed_number():
    table = _table({"A": {"m.rank1": [72.0, 72.5, 73.0]}, "Q": {"m.rank1": [69.0]}}, reported_only=("Q",))
    result = evaluate_claim(_claim(than=["Q"], columns=["m.rank1"]), table)
    assert result.verdict == SUPPORTED
    assert result.comparisons[0].measured.mean == pytest.approx(3.5)
    # against a quoted 72.0 the differences 0, 0.5, 1 (±1.24) do not clear 0
    table.spec["rows"][1]["reported"]["m.rank1"] = 72.0
    assert evaluate_claim(_claim(than=["Q"], columns=["m.rank1"]), table).category == INCONCLUSIVE


def test_missing_cell_is_not_computed():
    table = _table({"A": {"m.rank1": [70.0, 71.0, 72.0]}, "B": {"m.rank1": None}})
    result = evaluate_claim(_claim(columns=["m.rank1"]), table)
    assert result.verdict == NOT_COMPUTED
    assert evaluate_claims({"claims": [_claim(table="table9")]}, {})[0].category == NOT_COMPUTED


def test_resource_claim_decides_by_its_one_measurement():
    table = _table({"A": {"memory_mb": [165.0]}, "B": {"memory_mb": [300.7]}}, resource=True)
    claim = _claim(direction="lower", columns=["memory_mb"])
    assert evaluate_claim(claim, table).verdict == SUPPORTED
    assert evaluate_claim(_claim(direction="higher", columns=["memory_mb"]), table).verdict == CONTRADICTED


def test_paper_numbers_are_checked_too():
    # reported numbers of _table: row index i prints 50 + i, so B (51) > A (50)
    table = _table({"A": {"m.rank1": [70.0, 71.0, 72.0]}, "B": {"m.rank1": [60.0, 61.0, 62.0]}})
    result = evaluate_claim(_claim(columns=["m.rank1"]), table)
    assert result.verdict == SUPPORTED and result.paper_holds is False
    assert result.paper_exceptions == ["A > B on M R-1 (-1.00 in the paper)"]


def test_combine_order():
    assert combine([SUPPORTED, "not comparable: x", CONTRADICTED]) == NOT_COMPARABLE
    assert combine([SUPPORTED, "inconclusive (interval ±0.40)", "inconclusive (interval ±1.20)"]) == \
        "inconclusive (interval ±1.20)"
    assert combine([SUPPORTED, SUPPORTED]) == SUPPORTED


def test_a_dash_in_a_quoted_row_does_not_decide_the_claim():
    # Q prints a number on R-1 and a dash on mAP: the mAP comparison is listed, not decisive.
    table = _table({"A": {"m.rank1": [70.0, 71.0, 72.0], "m.map": [60.0, 61.0, 62.0]},
                    "Q": {"m.rank1": [50.0], "m.map": None}}, reported_only=("Q",))
    result = evaluate_claim(_claim(than=["Q"]), table)
    assert [c.verdict for c in result.comparisons] == [SUPPORTED, "not computed (the paper prints no number for the quoted row)"]
    assert result.verdict == SUPPORTED
    only_dash = evaluate_claim(_claim(than=["Q"], columns=["m.map"]), table)
    assert only_dash.category == NOT_COMPUTED
