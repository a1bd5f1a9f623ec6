"""Model families: what differs between the models one task trains.

A task (``dmlrepro.tasks.base.Task``) owns its datasets, their generators and loaders; a model
family owns everything that depends on the model a row names (``model:`` in the spec): which keys
of a row it honours, how a row resolves to a cell, which evaluation protocols its columns may
name, how the cell trains (its engine parts) and its paper-scale probe.  PCB / PCB-RPP (CSALR,
CSA) and AiA-Net are families of the re-ID task; the multi-head model (MHDML) and the
divide-and-conquer learners (DCES) of image retrieval.  A new paper's model adds one file under
``dmlrepro/families/`` that registers its family; no task, plan or rule changes.

A cell names its family (``cell["family"]``).  The cells of the two families that existed before
families did (``pcb``, ``mhdml``) carry no such key, so that their ids — and the finished results
under them — stay what they were; their task's ``default_family`` names them.

Evaluation protocols: a column may name a ``protocol`` (e.g. ``market1501@multi_query``, one
embedding slice ``dims@1-16``).  A family lists the protocols it evaluates on a dataset
(``protocols``); the cell's evaluation computes each of them once, into
``metrics["protocols"][<name>]``, and a column reads its metric there (``Task.metric``).  A
column without a protocol reads the flat ``metrics[<metric>]`` of the dataset's standard
protocol.  Evaluating every protocol the family knows, not only those some column names, keeps
the cell's id independent of which tables happen to read it (adding a column never retrains).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from dmlrepro.errors import UserError


class ModelFamily(ABC):
    #: the family's name (``cell["family"]`` of its cells)
    name: str = ""
    #: the task it belongs to (``Task.name``)
    task: str = ""
    #: the spec ``model`` values it trains
    models: tuple[str, ...] = ()

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        """The first key of a computed row's cell this family does not honour, as one line."""
        return None

    def protocols(self, dataset: str) -> tuple[str, ...]:
        """The named evaluation protocols a cell of this family computes on `dataset`."""
        return ()

    def column_problem(self, column: dict) -> str | None:
        """The first key of a computed accuracy column this family's evaluation does not honour
        (default: an unknown protocol name)."""
        return self.protocol_problem(column)

    def protocol_problem(self, column: dict) -> str | None:
        protocol = column.get("protocol")
        if protocol is None:
            return None
        known = self.protocols(column.get("dataset", ""))
        if protocol not in known:
            listed = ", ".join(known) if known else "none"
            return (f"protocol {protocol!r} is not evaluated by the {self.name} family on {column.get('dataset')} "
                    f"(it evaluates: {listed}); fix the column's protocol")
        return None

    @abstractmethod
    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        """The full configuration of one training cell (JSON-serialisable; hashed into its id)."""

    @abstractmethod
    def cell_id(self, cell: dict) -> str:
        """Readable and stable: a slug of what the cell varies plus a hash of the whole cell."""

    @abstractmethod
    def validate_cell(self, cell: dict) -> None:
        """Raise a one-line error if the cell cannot run (model built on the meta device)."""

    @abstractmethod
    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        """Train (or resume) and evaluate the cell through the engine; return the record."""

    @abstractmethod
    def paper_probe(self, batch_size: int = 2) -> dict:
        """One training step of the family's paper-scale model at the paper's input size on the
        CPU (see ``Task.paper_probe``): {"loss", "input_size", "parameters"}."""


_FAMILIES: dict[tuple[str, str], ModelFamily] = {}


def register_family(cls):
    """Class decorator: one instance of `cls` trains every row of `cls.task` whose model is in
    `cls.models`."""
    if not (cls.name and cls.task and cls.models):
        raise TypeError(f"{cls.__qualname__} needs a name, a task and its models")
    instance = cls()
    for model in cls.models:
        previous = _FAMILIES.get((cls.task, model))
        if previous is not None and type(previous).__qualname__ != cls.__qualname__:
            raise TypeError(f"model {model!r} of task {cls.task!r} is already trained by family {previous.name!r}")
    for model in cls.models:
        _FAMILIES[(cls.task, model)] = instance
    return cls


def families_of(task: str) -> list[ModelFamily]:
    """Every family of `task`, once each, by name."""
    unique = {f.name: f for (t, _), f in _FAMILIES.items() if t == task}
    return [unique[name] for name in sorted(unique)]


def all_families() -> list[ModelFamily]:
    unique = {(f.task, f.name): f for f in _FAMILIES.values()}
    return [unique[key] for key in sorted(unique)]


def family_for_model(task: str, model: str | None) -> ModelFamily | None:
    return _FAMILIES.get((task, model))


def family_named(task: str, name: str) -> ModelFamily:
    for family in families_of(task):
        if family.name == name:
            return family
    known = ", ".join(f.name for f in families_of(task))
    raise UserError(f"family: task {task!r} has no model family {name!r} (it has {known}); "
                    "the cell was written by other code: re-plan it")
