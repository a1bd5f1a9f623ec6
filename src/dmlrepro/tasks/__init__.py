"""Tasks: re-ID, image retrieval, … behind one interface (`dmlrepro.tasks.base.Task`), found by
the spec's `task` (`get_task`) or by a dataset name (`task_for_dataset`).  Importing this package
registers every task module in it."""

from __future__ import annotations

from dmlrepro.tasks import reid, retrieval  # noqa: F401  (registers)
from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import get_task, list_tasks, register_task, task_for_dataset

__all__ = ["Task", "get_task", "list_tasks", "register_task", "task_for_dataset"]
