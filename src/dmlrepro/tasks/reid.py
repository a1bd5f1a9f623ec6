"""Image person re-identification (CSALR, CSA; AiA-Net's and DCES's re-ID tables as their trainers
land): PCB / PCB-RPP with an attention framework on Market-1501, DukeMTMC-reID and CUHK03-NP,
evaluated with the Market-1501 single-query CMC/mAP protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.cells import REID_MODELS, cell_id, resolve_reid_cell
from dmlrepro.specs.honoured import reid_cell_problem, reid_column_problem
from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import register_task


@register_task
class ReIDTask(Task):
    name = "reid"
    datasets = ("market1501", "dukemtmc", "cuhk03np")

    def trainable(self, paper_cell: dict) -> bool:
        return paper_cell.get("model", "pcb") in REID_MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        return reid_cell_problem(paper_cell, own)

    def column_problem(self, column: dict) -> str | None:
        return reid_column_problem(column)

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        return resolve_reid_cell(paper_cell, dataset, scale, data_root)

    def cell_id(self, cell: dict) -> str:
        return cell_id(cell)

    def validate_cell(self, cell: dict) -> None:
        from dmlrepro.validate import validate_cell

        validate_cell(cell)

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        from dmlrepro.training.reid_trainer import train_reid_cell

        return train_reid_cell(cell, seed, Path(out_dir), Path(checkpoint_dir), **runtime)

    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        from dmlrepro.data.synthetic import generate_reid_dataset

        kwargs = {}
        if sizes.get("train_ids") is not None:
            kwargs["num_train_ids"] = sizes["train_ids"]
        if sizes.get("test_ids") is not None:
            kwargs["num_test_ids"] = sizes["test_ids"]
        return generate_reid_dataset(Path(out), dataset, seed=seed, **kwargs)

    def check_data(self, dataset: str, root: str | Path) -> dict:
        from dmlrepro.data import build_reid_dataset

        data = build_reid_dataset(dataset, root)
        return {
            "dataset": data.name, "root": str(data.root), "train_images": len(data.train),
            "train_ids": data.num_train_pids, "query_images": len(data.query), "gallery_images": len(data.gallery),
            "summary": data.summary(),
        }
