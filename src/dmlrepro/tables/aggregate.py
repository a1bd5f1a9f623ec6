"""Collect the measured value of every computed table cell from the jobs' result files."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    """One table cell measured over seeds."""

    values: list[float]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if self.n > 1 else 0.0

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


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"result file {path} is missing or unreadable ({exc}); rerun the workflow") from None


def collect_table(table_plan, paper_spec: dict, scale: str, seeds: list[int], result_path, resource_path=None) -> MeasuredTable:
    """`result_path(cell_id, seed)` gives a training cell's metrics.json; `resource_path(row_id)`
    a resource row's resources.json (measured once: machine, not seed, dependent)."""
    table = MeasuredTable(table_plan.paper, table_plan.table_id, table_plan.spec, paper_spec, scale, list(seeds))
    from dmlrepro.specs.paper_spec import RESOURCE_METRICS

    for row_index, by_dataset in table_plan.cells.items():
        for column in table_plan.spec["columns"]:
            key = "" if column["metric"] in RESOURCE_METRICS else column.get("dataset")
            if key not in by_dataset:
                continue
            values = []
            sources = [Path(resource_path(by_dataset[key]))] if key == "" else [Path(result_path(by_dataset[key], seed)) for seed in seeds]
            for source in sources:
                record = _read(source)
                if key == "":
                    metric = resource_value(record, table_plan.spec["rows"][row_index], column, source)
                else:
                    metric = record["metrics"].get(column["metric"])
                if metric is None:
                    raise ValueError(f"{source} has no metric {column['metric']!r}")
                values.append(float(metric))
                provenance = record.get("provenance", {})
                if provenance.get("commit"):
                    table.commits.add(provenance["commit"][:10])
                table.dirty |= bool(provenance.get("dirty"))
                if provenance.get("device"):
                    table.devices.add(provenance["device"])
            table.cells[(row_index, column["id"])] = Measurement(values)
    return table


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
