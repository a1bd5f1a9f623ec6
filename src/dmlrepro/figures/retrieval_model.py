"""A trained image-retrieval cell back from its model.pt (003_72cd4b33cee60b89.txt Sec. 3): the
multi-head model with its weights, its cell, its data and its test-time transform, for the
qualitative figures (Figure 4's rankings, Figure 6's SOA maps)."""

from __future__ import annotations

from pathlib import Path

import torch

from dmlrepro.errors import UserError
from dmlrepro.training.divergence import require_weights


def load_retrieval_cell(path: Path, device: str = "cpu"):
    """(model in eval mode on `device`, cell) from a retrieval cell's model.pt."""
    from dmlrepro.models.multi_head_embedding import build_multi_head_model
    from dmlrepro.training.determinism import resolve_device

    state = torch.load(path, map_location="cpu", weights_only=False)
    require_weights(state, path)  # a diverged run's model.pt has none (training/divergence.py)
    cell = state.get("cell") or {}
    if cell.get("task") != "image_retrieval":
        raise UserError(f"{path}: not an image-retrieval cell (task {cell.get('task')!r}); "
                        "this figure draws multi-head retrieval models")
    training = cell["training"]
    model = build_multi_head_model({**cell["model"], "backbone": training["backbone"],
                                    "freeze_bn": training["freeze_bn"]}, load_pretrained=False)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise UserError(f"{path}: the weights do not fit this code's model ({str(exc).splitlines()[0]}); "
                        "retrain the cell") from None
    return model.to(resolve_device(device)).eval(), cell


def evaluation_data(cell: dict):
    """(dataset, queries, references, exclude_self, test transform) of a cell."""
    from dmlrepro.data.retrieval import build_retrieval_dataset
    from dmlrepro.training.retrieval_parts import retrieval_transforms

    data = build_retrieval_dataset(cell["dataset"], cell["data_root"])
    queries, references, exclude_self = data.retrieval_sets()
    return data, queries, references, exclude_self, retrieval_transforms(cell["training"], train=False)


def denormalise(image: torch.Tensor):
    """A normalised [3, H, W] tensor as an [H, W, 3] array in [0, 1] for imshow."""
    from dmlrepro.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (image.cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
