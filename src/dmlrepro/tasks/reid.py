"""Image person re-identification (CSALR, CSA; AiA-Net's and DCES's re-ID tables as their trainers
land): PCB / PCB-RPP with an attention framework on Market-1501, DukeMTMC-reID and CUHK03-NP,
evaluated with the Market-1501 single-query CMC/mAP protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import register_task


@register_task
class ReIDTask(Task):
    """Its datasets here; its models in dmlrepro/families (PCB / PCB-RPP: families/pcb.py)."""

    name = "reid"
    datasets = ("market1501", "dukemtmc", "cuhk03np")
    default_model = "pcb"
    default_family = "pcb"

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
