"""PCB and PCB-RPP with an attention framework (CSALR 000_6bea8c3e96cdf0f5.txt, CSA
001_5fbd5da13318fd56.txt): the re-ID task's first model family, trained with PCB's part
cross-entropy plus deep supervision and evaluated with the Market-1501 single-query protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.cells import REID_MODELS, cell_id, resolve_reid_cell
from dmlrepro.specs.honoured import reid_cell_problem, reid_column_problem
from dmlrepro.tasks.family import ModelFamily, register_family


@register_family
class PCBFamily(ModelFamily):
    name = "pcb"
    task = "reid"
    models = REID_MODELS

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        return reid_cell_problem(paper_cell, own)

    def column_problem(self, column: dict) -> str | None:
        return reid_column_problem(column) or self.protocol_problem(column)

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        return resolve_reid_cell(paper_cell, dataset, scale, data_root, paper)

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
