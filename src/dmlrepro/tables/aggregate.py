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


def collect_table(table_plan, paper_spec: dict, scale: str, seeds: list[int], result_path) -> MeasuredTable:
    """`result_path(cell_id, seed)` gives the metrics.json (or resources.json) of a job."""
    table = MeasuredTable(table_plan.paper, table_plan.table_id, table_plan.spec, paper_spec, scale, list(seeds))
    for row_index, by_dataset in table_plan.cells.items():
        for column in table_plan.spec["columns"]:
            key = "" if "" in by_dataset else column["dataset"]
            if key not in by_dataset:
                continue
            values = []
            for seed in seeds:
                record = _read(Path(result_path(by_dataset[key], seed)))
                metric = record["metrics"].get(column["metric"])
                if metric is None:
                    raise ValueError(f"{result_path(by_dataset[key], seed)} has no metric {column['metric']!r}")
                values.append(float(metric))
                provenance = record.get("provenance", {})
                if provenance.get("commit"):
                    table.commits.add(provenance["commit"][:10])
                table.dirty |= bool(provenance.get("dirty"))
                if provenance.get("device"):
                    table.devices.add(provenance["device"])
            table.cells[(row_index, column["id"])] = Measurement(values)
    return table
