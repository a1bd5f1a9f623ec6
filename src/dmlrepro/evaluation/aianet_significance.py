"""AiA-Net Sec. 5.6's significance test, regenerated (002_e585b7ac4801a221.txt): "We adopt the
AiA-Net w/ Gau-attention and CUHK03 (See Table 9) in this study, and we obtain the p-value of
0.0026/0.0033 ... Thus we believe that our AiA-Net is superior to the MuDeep [13]."

The paper does not say which t-test.  MuDeep's numbers are single reported values (Table 9: R-1
95.8 labeled, 93.7 detected), so the test that can be run is the one-sample t-test of AiA-Net w/
Gau's R-1 over training seeds against MuDeep's reported R-1 (interpretation, README), here
one-sided (H1: AiA-Net's mean is higher, the paper's claim) with the two-sided p-value beside it;
scipy.stats.ttest_1samp computes both.

The seeds' R-1 are the Table 9 column's own values: Table 9 averages over CUHK03 vanilla's 20
splits (`mean_over_splits`, dmlrepro.tables.splits), so per seed the value is the mean R-1 over
the splits that ran, collected by dmlrepro.tables.aggregate.collect_table from the same files
with the same seeds as the table (the two cannot differ).  Beside the p-value stand how many of
the paper's splits ran and the column's verdict: "not comparable: ...; 2 of 20 splits" when fewer
than 20 ran (or with any other deviation), as the table says.  A seed with no result for any
split is listed as missing and left out; a seed whose run diverged (training/divergence.py) makes
the test "not computed: <cell>: seed s diverged at ..." (never a test on the survivors).

    python -m dmlrepro.evaluation.aianet_significance --scale smoke --seeds 0 1 2 [--results results]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

#: (Table 9 column, MuDeep's R-1 there, the paper's p-value): labeled, detected.
PAPER_TESTS = (("cuhk03_labeled.rank1", 95.8, 0.0026), ("cuhk03.detected.rank1", 93.7, 0.0033))
ROW = "AiA-Net w/ Gau-attention"


def one_sample_t_test(values: list[float], reference: float) -> dict:
    """t, the one-sided p (mean > reference) and the two-sided p; NaN with fewer than 2 values
    or no spread."""
    from scipy import stats

    if len(values) < 2 or len(set(values)) < 2:
        return {"n": len(values), "mean": sum(values) / len(values) if values else math.nan,
                "t": math.nan, "p_one_sided": math.nan, "p_two_sided": math.nan}
    two = stats.ttest_1samp(values, reference)
    one = stats.ttest_1samp(values, reference, alternative="greater")
    return {"n": len(values), "mean": float(sum(values) / len(values)), "t": float(two.statistic),
            "p_one_sided": float(one.pvalue), "p_two_sided": float(two.pvalue)}


def significance(plan, results: Path, seeds: list[int]) -> list[dict]:
    """Sec. 5.6's two tests from the finished Table 9 cells of `plan`: per seed the column's value
    (the mean over the splits that ran), as Table 9 collects it; missing seeds are listed."""
    from dataclasses import replace

    from dmlrepro.plan import trained_on
    from dmlrepro.tables.aggregate import collect_table
    from dmlrepro.tables.diff import not_comparable
    from dmlrepro.tables.splits import planned_split_keys, splits_of

    table_plan = plan.tables[("aianet", "table9")]
    spec = table_plan.spec
    index = next(i for i, row in enumerate(spec["rows"]) if row["label"][0] == ROW)
    columns = {c["id"]: c for c in spec["columns"]}
    by_dataset = table_plan.cells[index]

    def result_path(cid: str, seed: int) -> Path:
        return Path(results) / "cells" / cid / f"seed{seed}" / "metrics.json"

    out = []
    for column_id, mudeep, paper_p in PAPER_TESTS:
        column = columns[column_id]
        key = trained_on(column)
        cells = [by_dataset[k] for k in planned_split_keys(by_dataset, key)] or [by_dataset[key]]
        missing = [s for s in seeds if not any(result_path(cid, s).is_file() for cid in cells)]
        present = [s for s in seeds if s not in missing]
        entry = {"column": column_id, "cell": by_dataset[key], "split_cells": cells, "mudeep_rank1": mudeep,
                 "paper_p": paper_p, "seeds": present, "missing_seeds": missing,
                 "paper_splits": splits_of(spec, column), "splits_ran": 0}
        values: list[float] = []
        if not present:
            entry["status"] = "not computed: no result for any seed"
        else:
            # Table 9 collected for this one row and column: the table's own numbers.
            one = replace(table_plan, spec={**spec, "columns": [column]}, cells={index: by_dataset})
            measured = collect_table(one, plan.specs["aianet"], plan.scale.get("name", ""), present, result_path)
            diverged = measured.diverged.get((index, column_id))
            if diverged:
                entry["status"] = "not computed: " + "; ".join(diverged)
            else:
                measurement = measured.cells[(index, column_id)]
                values = list(measurement.values)
                ran, paper_splits = measurement.splits or (1, None)
                entry.update(splits_ran=ran, paper_splits=paper_splits, values=values,
                             status="computed",
                             verdict=not_comparable(measurement.deviations) if measurement.deviations else "comparable")
                if paper_splits is not None:
                    entry["splits"] = f"{ran} of {paper_splits} splits"
        out.append({**entry, **one_sample_t_test(values, mudeep)})
    return out


def main(argv=None) -> int:
    from dmlrepro.plan import build_plan

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--results", default="results")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args(argv)
    plan = build_plan({"scale": args.scale, "seeds": args.seeds, "device": "auto", "pretrained": "auto",
                       "data_root": args.data_root, "papers": ["aianet"]})
    print(json.dumps(significance(plan, Path(args.results), args.seeds), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
