"""What a task is: the part of an experiment that differs between re-ID, image retrieval, patch
descriptors and video re-ID, behind one interface that the plan, the workflow rules and the CLI
call without knowing which task they hold.

A task answers, for the paper specs that name it (`task:` in paper_tables/<paper>.yaml):

* which datasets it reads, how to generate each one's embedded stand-in and how to check a real one;
* how a spec row (over the paper's defaults) and a column's dataset resolve to a cell, the full
  configuration of one training run, and a readable id for it;
* whether the harness can train that row yet (other rows stay reported-only);
* how to validate a cell before any job runs (its model built on the meta device);
* how to train and evaluate a cell (through the one engine, `dmlrepro.training.engine`);
* how a column reads its number from a finished cell's metrics.json (a column names its
  protocol and metric; one trained cell is evaluated once per protocol).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


class Task(ABC):
    #: the spec's `task` value
    name: str = ""
    #: datasets (schema names) this task reads
    datasets: tuple[str, ...] = ()

    @abstractmethod
    def trainable(self, paper_cell: dict) -> bool:
        """Whether this repository can train the row's cell yet."""

    @abstractmethod
    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        """The full configuration of one training cell (JSON-serialisable; hashed into its id)."""

    @abstractmethod
    def cell_id(self, cell: dict) -> str:
        """Readable and stable: a slug of what the cell varies plus a hash of the whole cell."""

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        """The first key of a computed row's cell this task does not honour, as one line (None
        if every key changes the experiment); `own` is the row's own `cell`, not inherited."""
        return None

    def column_problem(self, column: dict) -> str | None:
        """The first key of a computed accuracy column this task's evaluation does not honour."""
        return None

    @abstractmethod
    def validate_cell(self, cell: dict) -> None:
        """Raise a one-line error if the cell cannot run (model built and run on the meta device)."""

    @abstractmethod
    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        """Train (or resume) and evaluate the cell; write model.pt and metrics.json; return the record."""

    @abstractmethod
    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        """Write the embedded synthetic stand-in of `dataset` under `out`, in the real layout."""

    @abstractmethod
    def check_data(self, dataset: str, root: str | Path) -> dict:
        """Read `dataset` from `root` with the real loader; return a summary (raise on a bad layout)."""

    @abstractmethod
    def paper_probe(self, batch_size: int = 2) -> dict:
        """One training step of the task's paper-scale model at the paper's input size on the CPU,
        with the task's own loss and optimizer, on random images (the datasets and ImageNet
        weights are not here): proves the paper path runs without a GPU.  Returns the loss, the
        input size and the parameter count."""

    def metric(self, record: dict, column: dict) -> float | None:
        """The number a column reads from a finished cell's metrics.json record.

        Default: `metrics[<protocol>][<metric>]` when the column names a protocol, else the flat
        `metrics[<metric>]` (the re-ID records of before protocols existed)."""
        metrics = record.get("metrics", {})
        protocol = column.get("protocol")
        if protocol is not None:
            return metrics.get("protocols", {}).get(protocol, {}).get(column["metric"])
        return metrics.get(column["metric"])
