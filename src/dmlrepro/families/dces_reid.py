"""Divide and Conquer (004_82c542c12fef7e00.txt) as a model family of the re-ID task: Tab. S2,
Market-1501 single-query Recall@k (CMC rank-k) and mAP for "Margin baseline*" (K = 1) and "Ours
(Margin)" (K = 8), "our own implementation based on ResNet-50 with d = 128".  §3 gives no training
setting for Market-1501: the SOP recipe is assumed (config/presets/dces.reid.yaml).  The cell, its
checks and its trainer are the retrieval family's (``families/dces.py``, ``training/dces_parts.py``);
only the data (Market-1501's train / query / gallery) and the evaluation (the Market-1501 protocol on
the full embedding) differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.families.dces import (MODELS, dces_cell_id, dces_cell_problem, dces_paper_probe, resolve_dces_cell,
                                    train_dces_cell, validate_dces_cell)
from dmlrepro.specs.honoured import REID_METRICS
from dmlrepro.tasks.base import EVAL_EVERY_EPOCH
from dmlrepro.tasks.family import ModelFamily, register_family


@register_family
class DivideAndConquerReIDFamily(ModelFamily):
    name = "dces"
    task = "reid"
    models = MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        if paper_cell.get(EVAL_EVERY_EPOCH):
            return f"{EVAL_EVERY_EPOCH}: the Divide and Conquer trainer evaluates once, after training"
        return dces_cell_problem(paper_cell, figure_x=False)

    def column_problem(self, column: dict) -> str | None:
        problem = self.protocol_problem(column)
        if problem:
            return problem
        if column["metric"] not in REID_METRICS:
            return f"metric {column['metric']!r} is not computed by the re-ID evaluation ({', '.join(REID_METRICS)})"
        if column.get("query_mode", "single_query") != "single_query":
            return "query_mode: the Market-1501 evaluation is single-query; make the table's rows reported_only"
        for key in ("boxes", "train_dataset", "eval_dims", "mean_of", "scope"):
            if key in column:
                return f"{key} cannot be honoured by the re-ID evaluation; remove it or make the table's rows reported_only"
        return None

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        return resolve_dces_cell(self, paper_cell, dataset, scale, data_root, paper)

    def cell_id(self, cell: dict) -> str:
        return dces_cell_id(cell)

    def validate_cell(self, cell: dict) -> None:
        validate_dces_cell(cell)

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        return train_dces_cell(cell, seed, out_dir, checkpoint_dir, **runtime)

    def paper_probe(self, batch_size: int = 2) -> dict:
        """ResNet-50 at 256×128 (the Market-1501 preset), K = 8, d = 128."""
        return dces_paper_probe(self, "market1501", batch_size)
