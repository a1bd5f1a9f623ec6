"""Numbers a paper averages over the splits of a protocol: one reported number, N training runs.

AiA-Net (002_e585b7ac4801a221.txt) Table 9 evaluates "the CUHK03 ... vanilla protocol ... 1,367
identities for training and 100 identities for test" over "20 splits" (Sec. 5.1; Li et al.'s
protocol): each split is its own 1,367-identity training set, so the printed number is the mean of
20 training runs, one per split.  Splits are not seeds: a seed is a replicate of the whole
experiment (the outer axis every claim pairs by), a split is part of the experiment.  Per seed the
column's value is the mean over the splits that ran with that seed; the seeds then give the mean,
spread and interval as for any other column.

Spec: `mean_over_splits: N` on an accuracy column, or on the table for all its accuracy columns,
says the paper's number is the mean over N splits.  The plan (dmlrepro.plan) then makes one cell
per split k (the row's cell with `split: k`), keyed `<dataset>` for split 0 (the cell a column
without `mean_over_splits` reads: the same cell, the same id as before splits existed) and
`<dataset>/split<k>` for the others.  Only datasets whose task lists them in `split_datasets`
(the re-ID task: cuhk03, cuhk03_labeled, and cuhk01, whose 485/486 number Table 12 reads as the
mean over torchreid's 20 splits) have splits; `split` or `mean_over_splits` anywhere else
is refused in one line.

How many run: the scale's `max_splits` (config/scales.yaml: 2 at smoke and tiny, so those runs
stay short) caps N; at `paper` there is none, so all N run.  A mean over fewer than N splits
(capped, or result files missing) is never the paper's number: it carries the deviation
"<k> of <N> splits", which makes the cell's verdict "not comparable" (tables/diff.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: a split key's separator: `cuhk03/split3`
SPLIT_SEP = "/split"


def splits_of(table: dict, column: dict) -> int | None:
    """The paper's split count N behind a column: its `mean_over_splits`, else its table's (for
    an accuracy column), else None (a single run per seed)."""
    from dmlrepro.specs.paper_spec import RESOURCE_METRICS

    if "mean_over_splits" in column:
        return int(column["mean_over_splits"])
    if column.get("metric") in RESOURCE_METRICS:
        return None
    value = table.get("mean_over_splits")
    return None if value is None else int(value)


def splits_to_run(paper_splits: int, scale: dict) -> int:
    """How many of the paper's splits (the first ones, 0..k-1) a run trains: all at a scale
    without `max_splits`, at most `max_splits` otherwise."""
    cap = scale.get("max_splits")
    return paper_splits if cap is None else max(1, min(paper_splits, int(cap)))


def split_key(dataset: str, split: int) -> str:
    """The table plan's key of split `split` of a column's dataset (split 0: the dataset)."""
    return dataset if split == 0 else f"{dataset}{SPLIT_SEP}{split}"


def dataset_splits(table: dict, columns: list[dict], dataset: str, trained_on: Callable[[dict], str | None]
                   ) -> tuple[int | None, str | None]:
    """(N, problem): the split count of the accuracy columns trained on `dataset`; a problem line
    when they ask for different counts (one set of split cells serves them all)."""
    counts = {splits_of(table, c) for c in columns if trained_on(c) == dataset} - {None}
    if len(counts) > 1:
        return None, (f"mean_over_splits: the columns on {dataset} ask for {sorted(counts)} splits; "
                      "give them one count")
    return (counts.pop() if counts else None), None


def split_problem(split_datasets: dict[str, int], paper_cell: dict, own: dict, dataset: str,
                  paper_splits: int | None) -> str | None:
    """The one-line refusal of a `split` or `mean_over_splits` the dataset cannot honour."""
    known = ", ".join(sorted(split_datasets)) or "none"
    if paper_splits is not None:
        if dataset not in split_datasets:
            return (f"mean_over_splits: dataset {dataset} has no splits (datasets with splits: {known}); "
                    "remove mean_over_splits")
        if paper_splits > split_datasets[dataset]:
            return (f"mean_over_splits: {paper_splits} is more than the {split_datasets[dataset]} splits "
                    f"of {dataset}; fix the count")
        if "split" in paper_cell:
            return (f"split: {paper_cell['split']!r} fixes one split, but the table averages over "
                    f"{paper_splits}; remove split from the row")
        return None
    if "split" not in paper_cell:
        return None
    value = paper_cell["split"]
    where = "" if "split" in own else " (inherited from the defaults)"
    if dataset not in split_datasets:
        return (f"split: {value!r}{where} does nothing on dataset {dataset} (datasets with splits: "
                f"{known}); remove it")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"split: {value!r} must be a split number 0..{split_datasets[dataset] - 1}"
    return None


def split_cells(paper_cell: dict, dataset: str, paper_splits: int | None, scale: dict) -> list[tuple[str, dict]]:
    """(table-plan key, paper cell) of every cell a row trains on `dataset`: the row's cell alone,
    or one cell per split that runs at this scale (the row's cell with `split: k`)."""
    if paper_splits is None:
        return [(dataset, paper_cell)]
    return [(split_key(dataset, k), {**paper_cell, "split": k}) for k in range(splits_to_run(paper_splits, scale))]


def planned_split_keys(by_dataset: dict[str, str], dataset: str) -> list[str]:
    """The keys of the split cells of `dataset` in a table plan's row, in split order."""
    prefix = dataset + SPLIT_SEP
    numbered = sorted(int(k[len(prefix):]) for k in by_dataset if k.startswith(prefix))
    return ([dataset] if dataset in by_dataset else []) + [split_key(dataset, k) for k in numbered]


def split_deviation(ran: int, paper_splits: int) -> str | None:
    """The deviation of a mean over fewer splits than the paper's ("2 of 20 splits")."""
    return f"{ran} of {paper_splits} splits" if ran < paper_splits else None


@dataclass
class SplitRuns:
    """The result files a split column reads, seed-major (every split that ran, for seed 0, then
    for seed 1, ...), and how to fold the values read from them back into one value per seed."""

    sources: list[Path]
    ran: int
    paper_splits: int

    def fold(self, values: list[float]) -> list[float]:
        """Per seed, the mean of its `ran` split values (sources' order)."""
        if len(values) != len(self.sources):
            raise ValueError(f"{len(values)} values for {len(self.sources)} split results")
        return [statistics.fmean(values[i:i + self.ran]) for i in range(0, len(values), self.ran)]


def split_runs(table: dict, column: dict, by_dataset: dict[str, str], key: str, seeds: list[int],
               result_path: Callable[[str, int], object]) -> SplitRuns | None:
    """The split results of an accuracy column that averages over splits (None otherwise).  A
    split counts as run when its result exists for every seed (claims pair by seed, so every seed
    averages the same splits); with none run, every planned one is listed, so that reading the
    first missing file names it."""
    paper_splits = splits_of(table, column)
    if paper_splits is None:
        return None
    keys = planned_split_keys(by_dataset, key)
    ran = [k for k in keys if all(Path(result_path(by_dataset[k], seed)).is_file() for seed in seeds)] or keys
    sources = [Path(result_path(by_dataset[k], seed)) for seed in seeds for k in ran]
    return SplitRuns(sources, len(ran), paper_splits)
