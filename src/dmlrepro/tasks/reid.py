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

    def paper_probe(self, batch_size: int = 2) -> dict:
        """CSALR's default cell (PCB + CSALR, 96 landmarks × 2 groups after stages 1–3, deep
        supervision) at `paper` scale: ResNet-50 at 384×128, 751 identities (Market-1501)."""
        import torch

        from dmlrepro.config import resolve_scale
        from dmlrepro.models.build import build_reid_model
        from dmlrepro.models.pcb import pcb_loss
        from dmlrepro.specs import load_paper_spec
        from dmlrepro.training.optim import build_optimizer, learning_rate, set_learning_rate
        from dmlrepro.tasks.registry import _spec_path

        spec = load_paper_spec(_spec_path("csalr"))
        scale = resolve_scale({"scale": "paper", "pretrained": "none"})
        cell = self.resolve_cell(dict(spec["defaults"]), "market1501", scale, "unused", "csalr")
        model = build_reid_model(cell, num_classes=751, load_pretrained=False).train()
        optimizer = build_optimizer(model, cell["training"])
        set_learning_rate(optimizer, learning_rate(0, cell["training"]))
        height, width = cell["training"]["input_size"]
        loss, _ = pcb_loss(model(torch.randn(batch_size, 3, height, width)), torch.arange(batch_size), cell["ds_lambda"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "input_size": [height, width],
                "parameters": sum(p.numel() for p in model.parameters())}

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
