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

What depends on the row's model (its keys, its cell, its trainer, its protocols) lives in the
task's model families (``dmlrepro.tasks.family``, one file each under ``dmlrepro/families/``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

#: The cell key of a per-epoch evaluation: the plan sets it on the cells of a `training_curve`
#: figure (the metric against epochs, e.g. MHDML Figure 1); a family that cannot evaluate every
#: epoch refuses it in `cell_problem`.  Not a spec key.
EVAL_EVERY_EPOCH = "eval_every_epoch"


class Task(ABC):
    """A task; what depends on the row's model is answered by the task's model families
    (``dmlrepro.tasks.family``), found by the row's ``model`` (or ``default_model``) and, for a
    resolved cell, by its ``family`` (or ``default_family``)."""

    #: the spec's `task` value
    name: str = ""
    #: datasets (schema names) this task reads
    datasets: tuple[str, ...] = ()
    #: datasets evaluated over numbered splits → their count (CUHK03 vanilla: 20); a cell's
    #: `split` selects one, a column's `mean_over_splits` averages them (dmlrepro.tables.splits)
    split_datasets: dict[str, int] = {}
    #: the model of a row that names none
    default_model: str | None = None
    #: the family of a cell that names none (the cells written before families existed)
    default_family: str = ""

    # -- the row's model family ------------------------------------------------------------------
    def family_of_row(self, paper_cell: dict):
        from dmlrepro.tasks.family import family_for_model

        return family_for_model(self.name, paper_cell.get("model", self.default_model))

    def family_of_cell(self, cell: dict):
        from dmlrepro.tasks.family import family_named

        return family_named(self.name, cell.get("family", self.default_family))

    def trainable(self, paper_cell: dict) -> bool:
        """Whether this repository can train the row's cell yet: a family trains its model."""
        return self.family_of_row(paper_cell) is not None

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        """The first key of a computed row's cell this task does not honour, as one line (None
        if every key changes the experiment); `own` is the row's own `cell`, not inherited."""
        return self.family_of_row(paper_cell).cell_problem(paper_cell, own)

    def column_problem(self, column: dict, paper_cell: dict | None = None) -> str | None:
        """The first key of a computed accuracy column the row's family does not honour (the
        row's cell given), or that none of the task's families honours (no row given)."""
        from dmlrepro.tasks.family import families_of

        if paper_cell is not None:
            return self.family_of_row(paper_cell).column_problem(column)
        problems = [family.column_problem(column) for family in families_of(self.name)]
        return None if not problems or None in problems else problems[0]

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        """The full configuration of one training cell (JSON-serialisable; hashed into its id)."""
        return self.family_of_row(paper_cell).resolve_cell(paper_cell, dataset, scale, data_root, paper)

    def cell_id(self, cell: dict) -> str:
        """Readable and stable: a slug of what the cell varies plus a hash of the whole cell."""
        return self.family_of_cell(cell).cell_id(cell)

    def validate_cell(self, cell: dict) -> None:
        """Raise a one-line error if the cell cannot run (model built and run on the meta device)."""
        self.family_of_cell(cell).validate_cell(cell)

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        """Train (or resume) and evaluate the cell; write model.pt and metrics.json; return the record."""
        return self.family_of_cell(cell).train_cell(cell, seed, Path(out_dir), Path(checkpoint_dir), **runtime)

    def paper_probe(self, batch_size: int = 2) -> dict:
        """One training step of the task's paper-scale model at the paper's input size on the CPU,
        with the task's own loss and optimizer, on random images (the datasets and ImageNet
        weights are not here): proves the paper path runs without a GPU.  Returns the loss, the
        input size and the parameter count.  The default family's; every family has its own
        (``ModelFamily.paper_probe``, all probed by tests/tasks/test_paper_probe.py)."""
        from dmlrepro.tasks.family import family_named

        return family_named(self.name, self.default_family).paper_probe(batch_size)

    # -- the task's datasets ---------------------------------------------------------------------
    @abstractmethod
    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        """Write the embedded synthetic stand-in of `dataset` under `out`, in the real layout."""

    @abstractmethod
    def check_data(self, dataset: str, root: str | Path) -> dict:
        """Read `dataset` from `root` with the real loader; return a summary (raise on a bad layout)."""

    def metric(self, record: dict, column: dict) -> float | None:
        """The number a column reads from a finished cell's metrics.json record.

        `metrics["protocols"][<protocol>][<metric>]` when the column names a protocol, else the
        flat `metrics[<metric>]` (the dataset's standard protocol)."""
        metrics = record.get("metrics", {})
        protocol = column.get("protocol")
        if protocol is not None:
            return metrics.get("protocols", {}).get(protocol, {}).get(column["metric"])
        return metrics.get(column["metric"])
