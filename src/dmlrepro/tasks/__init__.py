"""Tasks: re-ID, image retrieval, … behind one interface (`dmlrepro.tasks.base.Task`), found by
the spec's `task` (`get_task`) or by a dataset name (`task_for_dataset`); what depends on a row's
model lives in the tasks' model families (`dmlrepro.tasks.family`, modules of
`dmlrepro.families`).  Importing this package registers every task module in it, then every
family."""

from __future__ import annotations

import importlib
import pkgutil

from dmlrepro.tasks.base import EVAL_EVERY_EPOCH, Task
from dmlrepro.tasks.family import ModelFamily, all_families, families_of, register_family
from dmlrepro.tasks.registry import get_task, list_tasks, register_task, task_for_dataset

_NOT_TASKS = {"base", "family", "registry"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_TASKS:
        importlib.import_module(f"{__name__}.{_module.name}")

import dmlrepro.families  # noqa: E402,F401  (registers the model families)

__all__ = ["EVAL_EVERY_EPOCH", "ModelFamily", "Task", "all_families", "families_of", "get_task", "list_tasks",
           "register_family", "register_task", "task_for_dataset"]
