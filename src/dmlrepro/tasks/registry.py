"""The task registry, filled by a decorator (after timm's ``_registry.py``): tasks register on
import of ``dmlrepro.tasks``; ``get_task("reid")`` returns the task a paper spec names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from dmlrepro.errors import UserError
from dmlrepro.tasks.base import Task

_REGISTRY: dict[str, Task] = {}

TaskClass = TypeVar("TaskClass", bound=type[Task])


def register_task(cls: TaskClass) -> TaskClass:
    """Class decorator: one instance of `cls` serves every spec whose `task` is `cls.name`."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__} has no task name")
    previous = _REGISTRY.get(cls.name)
    if previous is not None and type(previous).__qualname__ != cls.__qualname__:
        raise TypeError(f"task {cls.name!r} is already registered by {type(previous).__qualname__}")
    for other in _REGISTRY.values():
        shared = set(other.datasets) & set(cls.datasets)
        if other.name != cls.name and shared:
            raise TypeError(f"datasets {sorted(shared)} belong to task {other.name!r} already")
    _REGISTRY[cls.name] = cls()
    return cls


def list_tasks() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """The task registered under `name`; a one-line UserError listing the valid names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(f"task: unknown task {name!r}; this harness has: {', '.join(list_tasks())}") from None


def task_for_dataset(dataset: str) -> Task:
    """The task that reads `dataset` (each dataset belongs to one task)."""
    for task in _REGISTRY.values():
        if dataset in task.datasets:
            return task
    known = sorted(d for t in _REGISTRY.values() for d in t.datasets)
    raise UserError(f"dataset: no task reads {dataset!r}; known datasets: {', '.join(known)}")


def _spec_path(paper: str):
    """paper_tables/<paper>.yaml of this checkout (for a task's paper-scale probe)."""
    from dmlrepro.config import REPO_ROOT

    return REPO_ROOT / "paper_tables" / f"{paper}.yaml"
