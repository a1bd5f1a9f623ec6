"""From the paper specs and the run configuration to the jobs: which cells every table and figure
needs.  The Snakefile asks this module; nothing about tables is hard-coded in the workflow.

Each spec names its task (`task:`; a table may name its own); the task (``dmlrepro.tasks``) says
which rows it trains, how a row and a column's dataset resolve to a cell, and which keys it
honours, so nothing here knows re-ID from retrieval.  A cell is computed only when something can
compute every key it and its column set: an accuracy column of a row its task trains, a resource
column of a row a registered measurer measures, a figure the harness draws.  A key that would change nothing is refused here, one line
naming the spec file, the table and row, and the key (``dmlrepro.specs.honoured``), so that no
column ever reads a cell computed for another setting.  Rows nothing can compute yet (another
model family's accuracy columns) are left out of the plan, and their tables show them as such.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dmlrepro.resources.measurers  # noqa: F401  (fills the measurer registry)
from dmlrepro.config import REPO_ROOT, ConfigError, normalize_run_config, resolve_scale, validate_run_config
from dmlrepro.resources.registry import get_measurer, has_measurer
from dmlrepro.specs import PaperSpecError, load_all_specs, resolve_cell
from dmlrepro.specs.honoured import (figure_cell_problem, figure_problem, figure_renderer, resource_column_problem,
                                     task_problem)
from dmlrepro.tasks import Task, get_task, list_tasks
from dmlrepro.tasks.base import EVAL_EVERY_EPOCH
from dmlrepro.specs.paper_spec import RESOURCE_METRICS, row_name
from dmlrepro.tables.splits import dataset_splits, split_cells, split_problem

SPEC_DIR = REPO_ROOT / "paper_tables"
SYNTHETIC_ROOT = "data/synthetic"


@dataclass
class TablePlan:
    paper: str
    table_id: str
    spec: dict
    #: row index → column dataset → cell id (accuracy tables) or "" key for dataset-free rows
    cells: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FigurePoint:
    """One cell a figure shows: in panel `panel` (None without panels), series `series` (its index
    in the plot's `series`; None for a single-model figure), on `dataset`, at x value `x` (None
    without `x`; lists as tuples)."""

    panel: str | None
    series: int | None
    dataset: str
    x: Any = None


@dataclass
class FigurePlan:
    """A figure's renderer (a module of dmlrepro.figures) and the cell of every point it draws."""

    paper: str
    figure_id: str
    spec: dict
    renderer: str = ""
    points: dict[FigurePoint, str] = field(default_factory=dict)

    @property
    def cells(self) -> list[str]:
        """Every cell the figure needs, once each (points share cells: Fig. 8's D = 512 on Cars-196
        is Fig. 7's hybrid there)."""
        return sorted(set(self.points.values()))

    @property
    def cell(self) -> str:
        """The cell of a figure of one model on one dataset (CSALR Fig. 4)."""
        if len(self.cells) != 1:
            raise ValueError(f"{self.paper} {self.figure_id} draws {len(self.cells)} cells, not one")
        return self.cells[0]

    def plots(self) -> list[dict]:
        """The figure's panels, or the figure itself as its one plot."""
        return self.spec.get("panels") or [self.spec]


@dataclass
class Plan:
    config: dict
    scale: dict
    specs: dict[str, dict]
    cells: dict[str, dict] = field(default_factory=dict)
    tables: dict[tuple[str, str], TablePlan] = field(default_factory=dict)
    figures: dict[tuple[str, str], FigurePlan] = field(default_factory=dict)
    resource_cells: dict[str, dict] = field(default_factory=dict)
    #: resource row id → the metrics some table needs from it (cheap ones skip the timing runs)
    resource_metrics: dict[str, set[str]] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return self.config.get("data_root") in (None, "")

    def datasets(self) -> set[str]:
        return {cell["dataset"] for cell in self.cells.values()}

    def table_numbers(self) -> list[str]:
        return sorted({str(t.spec["number"]) for t in self.tables.values()}, key=_natural)

    def tables_numbered(self, number: str) -> list[TablePlan]:
        return [t for t in self.tables.values() if str(t.spec["number"]) == number]

    def target_names(self) -> list[str]:
        names = ["all", "resources_scaling"] + [f"table{n}" for n in self.table_numbers()]
        for paper in sorted(self.specs):
            names.append(paper)
            names += [f"{paper}_{tid}" for (p, tid) in self.tables if p == paper]
            names += [f"{paper}_{fid}" for (p, fid) in self.figures if p == paper]
        return names


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def data_key(data_root: str) -> str:
    """A readable, stable folder name for a data root: `synthetic`, `synthetic-tiny` for the embedded
    roots, `<folder name>-<hash of the absolute path>` for a real one."""
    import hashlib

    path = Path(data_root)
    if path.parent == Path(SYNTHETIC_ROOT).parent and path.name.startswith(Path(SYNTHETIC_ROOT).name):
        return path.name
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{path.name or 'root'}-{digest}"


def data_root_for(config: dict) -> str:
    """The run's data root: `data_root`, else the embedded data of the run's scale (the scale's
    `synthetic` sizes): data/synthetic at `smoke`, data/synthetic-<scale> at another scale, so that
    a `tiny` run never regenerates, and so retriggers, the datasets the `smoke` cells trained on."""
    if config.get("data_root"):
        return config["data_root"]
    scale = config.get("scale", "smoke")
    return SYNTHETIC_ROOT if scale == "smoke" else f"{SYNTHETIC_ROOT}-{scale}"


def build_plan(config: dict, spec_dir: Path = SPEC_DIR) -> Plan:
    """Validate the configuration and derive every cell from the registered paper specs."""
    config = normalize_run_config(copy.deepcopy(config))
    validate_run_config(config)
    scale = resolve_scale(config)
    specs = load_all_specs(spec_dir)
    if config.get("papers"):
        specs = {k: v for k, v in specs.items() if k in config["papers"]}
    plan = Plan(config=config, scale=scale, specs=specs)
    root = data_root_for(config)
    if not plan.synthetic and not Path(root).is_dir():
        raise ConfigError(
            f"data_root {root} is not a directory: give the folder holding the datasets in their layouts "
            f"(market1501/, dukemtmc-reid/, cuhk03-np/, CUB_200_2011/, cars196/, Stanford_Online_Products/, "
            f"Inshop_Clothes/), or leave data_root unset for the embedded synthetic data"
        )
    for paper, spec in specs.items():
        where = spec_dir / f"{paper}.yaml"
        for table_id, table in spec.get("tables", {}).items():
            plan.tables[(paper, table_id)] = _plan_table(plan, paper, spec, table_id, table, scale, root, where)
        for figure_id, figure in spec.get("figures", {}).items():
            figure_plan = _plan_figure(plan, paper, spec, figure_id, figure, scale, root, where)
            if figure_plan is not None:
                plan.figures[(paper, figure_id)] = figure_plan
    return plan


def _figure_points(spec: dict, figure: dict) -> dict[FigurePoint, tuple[dict, dict, str]]:
    """Every point of a figure: panel × series × dataset × x value → (the paper cell, the keys
    the figure sets itself, where it is for messages).  A series' cell lies over the paper's
    defaults; an x value sets its key over the series' cell."""
    points = {}
    for plot in figure.get("panels") or [figure]:
        panel = plot.get("panel")
        entries = list(enumerate(plot["series"])) if "series" in plot else [(None, figure)]
        x = plot.get("x")
        for index, entry in entries:
            for dataset in plot.get("datasets") or [plot["dataset"]]:
                for value in x["values"] if x else [None]:
                    paper_cell = resolve_cell(spec, entry, dataset)
                    own = dict(entry.get("cell", {}))
                    if x is not None:
                        paper_cell[x["key"]] = own[x["key"]] = copy.deepcopy(value)
                    where = "".join([f" panel {panel}" if panel else "",
                                     f" series '{entry['label']}'" if index is not None else "",
                                     f" on {dataset}", f" at {x['key']} = {value}" if x else ""])
                    frozen = tuple(value) if isinstance(value, list) else value
                    points[FigurePoint(panel, index, dataset, frozen)] = (paper_cell, own, where)
    return points


def _plan_figure(plan: Plan, paper: str, spec: dict, figure_id: str, figure: dict, scale: dict, root: str,
                 where: Path) -> FigurePlan | None:
    """One cell per point of the figure (`_figure_points`), each resolved by the paper's task like
    a table row's, so a point with a table row's configuration IS that row's cell (one job).  A
    training_curve's cells also evaluate after every epoch (`eval_every_epoch`, the retrieval
    task), which makes them cells of their own.  None while no point's model has a trainer (drawn
    once one has); a figure only some of whose points have one is refused, as is any key the
    renderer or the task would ignore (dmlrepro.specs.honoured)."""
    task_name = figure.get("task") or spec["task"]
    task = task_of(task_name)
    points = _figure_points(spec, figure)
    untrained = [place for paper_cell, _, place in points.values() if task is None or not task.trainable(paper_cell)]
    if len(untrained) == len(points):
        return None  # drawn once its model has a trainer
    if untrained:
        _refuse(where, f"{figure_id}{untrained[0]}",
                f"task {task_name!r} has no trainer for this point's model; draw only trainable models or remove the point")
    _refuse(where, figure_id, figure_problem(figure))
    figure_plan = FigurePlan(paper, figure_id, figure)
    for plot in figure_plan.plots():
        if "metric" in plot:
            for dataset in plot.get("datasets") or [plot["dataset"]]:
                _refuse(where, f"{figure_id}{' panel ' + plot['panel'] if 'panel' in plot else ''}",
                        task.column_problem({"metric": plot["metric"], "dataset": dataset}))
    renderers = set()
    for point, (paper_cell, own, place) in points.items():
        _refuse(where, f"{figure_id}{place}", figure_cell_problem(figure, paper_cell, task_name))
        _refuse(where, f"{figure_id}{place}", split_problem(task.split_datasets, paper_cell, own, point.dataset, None))
        if figure["kind"] == "training_curve":
            paper_cell[EVAL_EVERY_EPOCH] = True
        _refuse(where, f"{figure_id}{place}", task.cell_problem(paper_cell, own))
        renderers.add(figure_renderer(figure, paper_cell))
        cell = task.resolve_cell(paper_cell, point.dataset, scale, root, paper)
        cid = task.cell_id(cell)
        plan.cells[cid] = cell
        figure_plan.points[point] = cid
    if len(renderers) > 1:
        _refuse(where, figure_id, f"its cells need different renderers ({', '.join(sorted(renderers))}); split the figure")
    figure_plan.renderer = renderers.pop()
    return figure_plan


def task_of(name: str) -> Task | None:
    """The registered task of a spec's `task`, or None while the harness has no trainer for it
    (the schema admits every task of the five papers; rows of one without a trainer stay
    reported-only, and their tables show them as such)."""
    return get_task(name) if name in list_tasks() else None


def _other_task_problem(task: Task, paper_cell: dict) -> str | None:
    """A row whose model another task trains, under a spec (or table) naming this task: the
    `task` key would silently change nothing for it, so it is refused."""
    for name in list_tasks():
        other = get_task(name)
        if other is not task and other.trainable(paper_cell):
            return (f"task {task.name!r} does not train model {paper_cell.get('model')!r} (task {name!r} does); "
                    f"set the table's task to {name!r} or mark the row reported_only")
    return None


def trainable(paper_cell: dict, task: str = "reid") -> bool:
    """Whether this repository can train the cell yet (other rows stay reported-only)."""
    found = task_of(task)
    return found is not None and found.trainable(paper_cell)


def measurable(paper_cell: dict) -> bool:
    """Whether a registered measurer measures the row's resource columns."""
    return has_measurer(paper_cell.get("model", "pcb"))


def _refuse(where: Path, place: str, problem: str | None) -> None:
    if problem is not None:
        raise PaperSpecError(f"{where}: {place}: {problem}")


def _plan_table(plan: Plan, paper: str, spec: dict, table_id: str, table: dict, scale: dict, root: str,
                where: Path) -> TablePlan:
    """Resource columns (params, FLOPs, memory, speed) become one measurement job per row, keyed "";
    accuracy columns one training cell per row and training dataset (`trained_on`), keyed by it
    (one per split for a column the paper averages over splits, dmlrepro.tables.splits).  Every key a
    computed cell or its column sets must be honoured (module docstring)."""
    table_plan = TablePlan(paper, table_id, table)
    resource_columns = [c for c in table["columns"] if c["metric"] in RESOURCE_METRICS]
    accuracy_columns = [c for c in table["columns"] if c["metric"] not in RESOURCE_METRICS]
    accuracy_datasets = sorted({trained_on(c) for c in accuracy_columns if trained_on(c)})
    task_name = table.get("task") or spec["task"]
    task = task_of(task_name)
    for index, row in enumerate(table["rows"]):
        if "cell" not in row:
            continue
        paper_cell = resolve_cell(spec, row)
        own = row.get("cell", {})
        place = f"{table_id} {row_name(row, index)}"
        table_plan.cells[index] = {}
        if resource_columns and measurable(paper_cell):
            measurer = get_measurer(paper_cell.get("model", "pcb"))
            _refuse(where, place, task_problem(task_name) or (measurer.check_cell and measurer.check_cell(paper_cell, own)))
            for column in resource_columns:
                scope = row.get("scope", {}).get(column["id"]) or column.get("scope") or "network"
                problem = resource_column_problem(column, measurer.metrics, measurer.scopes, scope, measurer.name)
                _refuse(where, f"{place}: column '{column['id']}'", problem)
            resource_cell = {"paper": paper, **paper_cell}
            rid = resource_cell_id(resource_cell)
            plan.resource_cells[rid] = resource_cell
            plan.resource_metrics.setdefault(rid, set()).update(c["metric"] for c in resource_columns)
            table_plan.cells[index][""] = rid
        if accuracy_columns and task is None and any(get_task(n).trainable(paper_cell) for n in list_tasks()):
            _refuse(where, place, task_problem(task_name, tuple(list_tasks())))
        if accuracy_columns and task is not None and not task.trainable(paper_cell):
            _refuse(where, place, _other_task_problem(task, paper_cell))
        if not accuracy_columns or task is None or not task.trainable(paper_cell):
            continue
        for column in accuracy_columns:
            _refuse(where, f"{place}: column '{column['id']}'", task.column_problem(column, paper_cell))
        for dataset in accuracy_datasets:
            on_dataset = resolve_cell(spec, row, dataset)
            # a column the paper averages over splits: one cell per split (dmlrepro.tables.splits)
            paper_splits, problem = dataset_splits(table, accuracy_columns, dataset, trained_on)
            _refuse(where, place, problem or split_problem(task.split_datasets, on_dataset, own, dataset, paper_splits))
            _refuse(where, place, task.cell_problem(on_dataset, own))
            for key, split_cell in split_cells(on_dataset, dataset, paper_splits, scale):
                if paper_splits is not None:
                    _refuse(where, place, task.cell_problem(split_cell, {**own, "split": split_cell["split"]}))
                cell = task.resolve_cell(split_cell, dataset, scale, root, paper)
                cid = task.cell_id(cell)
                plan.cells[cid] = cell
                table_plan.cells[index][key] = cid
    return table_plan


def trained_on(column: dict) -> str | None:
    """The dataset the cell behind an accuracy column trains on: the column's `train_dataset`
    where it names one (Brown: train on one subset, test on another; HPatches: trained on
    Liberty), else its `dataset`.  Columns trained on one dataset read one cell, whatever they
    are evaluated on (the family evaluates each test set as a protocol)."""
    return column.get("train_dataset") or column.get("dataset")


def resource_cell_id(resource_cell: dict) -> str:
    """`aianet-lin-aia-r4-1a2b3c4d`: readable model/attention slug plus a hash of the whole cell."""
    from dmlrepro.cells import ATTENTION_PARAMS, cell_hash

    attention = str(resource_cell.get("attention") or "none")
    parts = [str(resource_cell.get("model", "model")).replace("_", ""), attention]
    short = {"samples": "m", "groups": "g", "bases": "d", "reduction": "r", "c_prime": "c"}
    relevant = ATTENTION_PARAMS.get(attention, tuple(short) if attention != "none" else ())
    parts += [f"{short[k]}{resource_cell[k]}" for k in relevant if k in resource_cell and k in short]
    return "-".join(parts + [cell_hash(resource_cell)])
