"""From the paper specs and the run configuration to the jobs: which cells every table and figure
needs.  The Snakefile asks this module; nothing about tables is hard-coded in the workflow.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from dmlrepro.cells import cell_id, resolve_reid_cell
from dmlrepro.config import REPO_ROOT, ConfigError, resolve_scale, validate_run_config
from dmlrepro.specs import load_all_specs, resolve_cell

SPEC_DIR = REPO_ROOT / "paper_tables"
SYNTHETIC_ROOT = "data/synthetic"


@dataclass
class TablePlan:
    paper: str
    table_id: str
    spec: dict
    #: row index → column dataset → cell id (accuracy tables) or "" key for dataset-free rows
    cells: dict[int, dict[str, str]] = field(default_factory=dict)


@dataclass
class FigurePlan:
    paper: str
    figure_id: str
    spec: dict
    cell: str


@dataclass
class Plan:
    config: dict
    scale: dict
    specs: dict[str, dict]
    cells: dict[str, dict] = field(default_factory=dict)
    tables: dict[tuple[str, str], TablePlan] = field(default_factory=dict)
    figures: dict[tuple[str, str], FigurePlan] = field(default_factory=dict)
    resource_cells: dict[str, dict] = field(default_factory=dict)

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
        names = ["all"] + [f"table{n}" for n in self.table_numbers()]
        for paper in sorted(self.specs):
            names.append(paper)
            names += [f"{paper}_{tid}" for (p, tid) in self.tables if p == paper]
            names += [f"{paper}_{fid}" for (p, fid) in self.figures if p == paper]
        return names


def _natural(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def data_root_for(config: dict) -> str:
    return config.get("data_root") or SYNTHETIC_ROOT


def build_plan(config: dict, spec_dir: Path = SPEC_DIR) -> Plan:
    """Validate the configuration and derive every cell from the registered paper specs."""
    config = copy.deepcopy(config)
    validate_run_config(config)
    scale = resolve_scale(config)
    specs = load_all_specs(spec_dir)
    if config.get("papers"):
        specs = {k: v for k, v in specs.items() if k in config["papers"]}
    plan = Plan(config=config, scale=scale, specs=specs)
    root = data_root_for(config)
    if not plan.synthetic and not Path(root).is_dir():
        raise ConfigError(
            f"data_root {root} is not a directory: give the folder holding the datasets in torchreid's "
            f"layout (market1501/, dukemtmc-reid/, cuhk03-np/), or leave data_root unset for the embedded synthetic data"
        )
    for paper, spec in specs.items():
        for table_id, table in spec.get("tables", {}).items():
            table_plan = TablePlan(paper, table_id, table)
            for index, row in enumerate(table["rows"]):
                if "cell" not in row:
                    continue
                paper_cell = resolve_cell(spec, row)
                if table["kind"] == "resources":
                    rid = _resource_cell_id(paper_cell)
                    plan.resource_cells[rid] = paper_cell
                    table_plan.cells[index] = {"": rid}
                    continue
                datasets = sorted({c["dataset"] for c in table["columns"]})
                table_plan.cells[index] = {}
                for dataset in datasets:
                    cell = resolve_reid_cell(paper_cell, dataset, scale, root)
                    cid = cell_id(cell)
                    plan.cells[cid] = cell
                    table_plan.cells[index][dataset] = cid
            plan.tables[(paper, table_id)] = table_plan
        for figure_id, figure in spec.get("figures", {}).items():
            paper_cell = {**spec.get("defaults", {}), **figure.get("cell", {})}
            cell = resolve_reid_cell(paper_cell, figure["dataset"], scale, root)
            cid = cell_id(cell)
            plan.cells[cid] = cell
            plan.figures[(paper, figure_id)] = FigurePlan(paper, figure_id, figure, cid)
    return plan


def _resource_cell_id(paper_cell: dict) -> str:
    from dmlrepro.cells import ATTENTION_PARAMS, cell_hash

    attention = paper_cell.get("attention", "none")
    params = {k: paper_cell[k] for k in ATTENTION_PARAMS.get(attention, ()) if k in paper_cell}
    stages = sorted(paper_cell.get("stages", [])) if attention != "none" else []
    key = {"model": paper_cell.get("model", "pcb"), "attention": attention, "params": params, "stages": stages}
    slug = "-".join([key["model"].replace("_", ""), attention] + [f"{k[0]}{v}" for k, v in sorted(params.items())])
    return f"{slug}-{cell_hash(key)}"
