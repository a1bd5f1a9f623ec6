"""Collect the measured value of every computed table cell from the jobs' result files, with what
each run recorded about itself: its deviations from the paper's setting (comparability.py), the
data it read, the machine it ran on, reused weights and nondeterministic kernels."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    """One table cell measured over seeds."""

    values: list[float]
    #: every deviation of the runs from the paper's setting, in order, without repeats (accuracy
    #: cells; resource rows are measured at the paper's architecture and have none)
    deviations: list[str] = field(default_factory=list)
    devices: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    #: (splits averaged per seed, the paper's split count) of a `mean_over_splits` column
    #: (dmlrepro.tables.splits); None for a column of one run per seed
    splits: tuple[int, int] | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else 0.0

    def half_width(self, confidence: float = 0.95) -> float | None:
        """Half the width of the Student-t interval of the mean; None with fewer than 2 seeds."""
        interval = self.interval(confidence)
        return None if interval is None else (interval[1] - interval[0]) / 2

    def interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Student-t confidence interval of the mean over seeds; None with fewer than 2 seeds."""
        if self.n < 2:
            return None
        from scipy import stats

        if self.std == 0.0:
            return (self.mean, self.mean)
        low, high = stats.t.interval(confidence, self.n - 1, loc=self.mean, scale=self.std / self.n**0.5)
        return (float(low), float(high))


@dataclass
class MeasuredTable:
    paper: str
    table_id: str
    spec: dict
    paper_spec: dict
    scale: str
    seeds: list[int]
    #: (row index, column id) → measurement
    cells: dict[tuple[int, str], Measurement] = field(default_factory=dict)
    commits: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    dirty: bool = False
    #: (row index, column id) → the reported number exactly as the spec writes it ("0.60")
    literals: dict[tuple[int, str], str] = field(default_factory=dict)
    #: what the accuracy cells' data was ("synthetic (data/synthetic)", "market1501 from /data")
    data: set[str] = field(default_factory=set)
    #: one line per run that reused finished weights (provenance `reused_weights`)
    reused_weights: set[str] = field(default_factory=set)
    #: nondeterministic kernels that warned in any run (provenance `nondeterministic_ops`)
    nondeterministic_ops: set[str] = field(default_factory=set)
    #: (row index, column id) → one line per run of the cell that diverged (training/divergence.py):
    #: such a cell has no measurement, not a mean of the seeds that survived
    diverged: dict[tuple[int, str], list[str]] = field(default_factory=dict)

    def deviations(self) -> list[str]:
        """Every deviation of any accuracy cell, in first-seen order."""
        seen: dict[str, None] = {}
        for measurement in self.cells.values():
            seen.update(dict.fromkeys(measurement.deviations))
        return list(seen)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"result file {path} is missing or unreadable ({exc}); rerun the workflow") from None


def _literals(table_id: str, paper: str, spec_path) -> dict[tuple[int, str], str]:
    from dmlrepro.specs.paper_spec import reported_literals

    if spec_path is None:
        from dmlrepro.plan import SPEC_DIR

        spec_path = SPEC_DIR / f"{paper}.yaml"
    if not Path(spec_path).is_file():
        return {}
    return {(index, column): text for (tid, index, column), text in reported_literals(spec_path).items() if tid == table_id}


def _reused_line(reused: dict) -> str:
    version = reused.get("code_version") or "unknown"
    commit = str(reused.get("commit") or "unknown")[:10]
    same = {True: "same code", False: "OTHER code"}.get(reused.get("same_code"), "code unknown")
    return f"code version {version}, commit {commit} ({same})"


def collect_table(table_plan, paper_spec: dict, scale: str, seeds: list[int], result_path, resource_path=None,
                  *, paper_setting: dict | None = None, spec_path=None) -> MeasuredTable:
    """`result_path(cell_id, seed)` gives a training cell's metrics.json; `resource_path(row_id)`
    a resource row's resources.json (measured once: machine, not seed, dependent).

    `paper_setting` is the setting the paper's numbers were obtained in (default: the `paper`
    preset, comparability.paper_setting); `spec_path` the spec file whose literals give the
    printed precision (default: paper_tables/<paper>.yaml)."""
    from dmlrepro.plan import trained_on
    from dmlrepro.specs.paper_spec import RESOURCE_METRICS
    from dmlrepro.tables.comparability import describe_data, paper_setting as default_setting, run_deviations
    from dmlrepro.tables.splits import split_deviation, split_runs
    from dmlrepro.training.divergence import diverged_runs

    table = MeasuredTable(table_plan.paper, table_plan.table_id, table_plan.spec, paper_spec, scale, list(seeds))
    table.literals = _literals(table_plan.table_id, table_plan.paper, spec_path)
    setting = None
    for row_index, by_dataset in table_plan.cells.items():
        for column in table_plan.spec["columns"]:
            key = "" if column["metric"] in RESOURCE_METRICS else trained_on(column)
            if key not in by_dataset:
                continue
            measurement = Measurement([])
            sources = [Path(resource_path(by_dataset[key]))] if key == "" else [Path(result_path(by_dataset[key], seed)) for seed in seeds]
            runs = split_runs(table_plan.spec, column, by_dataset, key, seeds, result_path) if key else None
            sources = runs.sources if runs is not None else sources
            records = [(source, _read(source)) for source in sources]
            diverged = diverged_runs((source.parent.parent.name, record) for source, record in records) if key else []
            if diverged:
                table.diverged[(row_index, column["id"])] = diverged
                continue
            for source, record in records:
                if key == "":
                    metric = resource_value(record, table_plan.spec["rows"][row_index], column, source)
                else:
                    metric = accuracy_value(record, column)
                if metric is None:
                    raise ValueError(f"{source} has no metric {column['metric']!r}")
                measurement.values.append(float(metric))
                provenance = record.get("provenance") or {}
                if provenance.get("commit"):
                    table.commits.add(provenance["commit"][:10])
                table.dirty |= bool(provenance.get("dirty"))
                # resources.json written before provenance carried the device kept it in `setup`.
                device = provenance.get("device") or (record.get("setup") or {}).get("device")
                if device:
                    table.devices.add(device)
                    measurement.devices.add(device)
                if provenance.get("host"):
                    measurement.hosts.add(provenance["host"])
                if key == "":
                    continue
                if setting is None:
                    setting = paper_setting if paper_setting is not None else default_setting(table_plan.paper, table_plan.spec.get("task") or paper_spec.get("task"))
                for deviation in run_deviations(record.get("cell"), provenance, setting):
                    if deviation not in measurement.deviations:
                        measurement.deviations.append(deviation)
                if isinstance(record.get("cell"), dict):
                    table.data.add(describe_data(record["cell"]))
                if isinstance(provenance.get("reused_weights"), dict):
                    table.reused_weights.add(_reused_line(provenance["reused_weights"]))
                table.nondeterministic_ops.update(str(op) for op in provenance.get("nondeterministic_ops") or [])
            if runs is not None:  # one value per seed: the mean over its splits
                measurement.values, measurement.splits = runs.fold(measurement.values), (runs.ran, runs.paper_splits)
                measurement.deviations += [d for d in [split_deviation(runs.ran, runs.paper_splits)] if d]
            table.cells[(row_index, column["id"])] = measurement
        _mean_columns(table, row_index)
    return table


def _mean_columns(table: MeasuredTable, row_index: int) -> None:
    """A `mean_of` column (CSA Table 7's "Mean") of a row whose named columns were all measured:
    per seed, the mean of those columns' values (so its spread over seeds is that of the mean),
    with their deviations, devices and hosts."""
    for column in table.spec["columns"]:
        diverged = [line for ref in column.get("mean_of", []) for line in table.diverged.get((row_index, ref), [])]
        if diverged:
            table.diverged[(row_index, column["id"])] = list(dict.fromkeys(diverged))
            continue
        parts = [table.cells.get((row_index, ref)) for ref in column.get("mean_of", [])]
        if not parts or any(p is None for p in parts) or len({p.n for p in parts}) != 1:
            continue
        mean = Measurement([statistics.fmean(values) for values in zip(*(p.values for p in parts))])
        for part in parts:
            mean.deviations += [d for d in part.deviations if d not in mean.deviations]
            mean.devices |= part.devices
            mean.hosts |= part.hosts
        table.cells[(row_index, column["id"])] = mean


def accuracy_value(record: dict, column: dict) -> float | None:
    """An accuracy column's number in a finished cell's record, as the cell's task reads it
    (`Task.metric`: the column's protocol, if it names one, else the standard protocol)."""
    from dmlrepro.tasks import get_task

    cell = record.get("cell") if isinstance(record.get("cell"), dict) else {}
    return get_task(cell.get("task", "reid")).metric(record, column)


def resource_value(record: dict, row: dict, column: dict, source: Path) -> float | None:
    """A resource row's value in the scope the spec names: the row's `scope` for this column, else
    the column's, else `network` (AiA-Net prints a block's size on attention rows, the network's on
    baseline rows).  Measurers that report one scope only (PCB rows) report the network."""
    scope = row.get("scope", {}).get(column["id"]) or column.get("scope") or "network"
    by_scope = record.get("metrics_by_scope")
    if by_scope is None:
        if scope != "network":
            raise ValueError(f"{source} reports no {scope!r} scope for {column['metric']!r}")
        return record["metrics"].get(column["metric"])
    return by_scope.get(scope, {}).get(column["metric"])
