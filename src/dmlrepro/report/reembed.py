"""A trained cell's test embeddings back from its saved model.pt, exactly as its own evaluation
computed them, so that evaluation-protocol variants are measured on the same trained cells without
retraining (dmlrepro.report.protocol_variants).

* re-ID (PCB / PCB-RPP, AiA-Net, DCES on Market-1501): query and gallery features with their
  identities and cameras, and the squared Euclidean distances the cell's evaluation ranks by
  (PCB: reid_trainer.extract_features; AiA-Net: f = [f_a/|f_a|, f_p/|f_p|], aianet_eval; DCES: the
  concatenated learners re-normalised, dces_parts.evaluate_dces_reid);
* image retrieval (MHDML, DCES on SOP / CUB / Cars / In-Shop): query (and, In-Shop, gallery)
  embeddings *as the model outputs them* with their labels (the cells' own Recall@K normalises;
  a variant may not).

`None` from `embed_cell` with a reason when a cell's family has no re-embedding here (AiA-Net-V
on MARS: tracklet pooling and two gallery conventions are already protocols of its own cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dmlrepro.training.divergence import describe, divergence_of


@dataclass
class ReidEmbedding:
    distances: object  # numpy [queries, gallery], squared Euclidean
    q_pids: list
    g_pids: list
    q_cams: list
    g_cams: list


@dataclass
class RetrievalEmbedding:
    query: torch.Tensor
    query_labels: list
    reference: torch.Tensor | None  # None: leave-one-out over the query set
    reference_labels: list | None


#: family -> why it is not re-embedded here.
NOT_REEMBEDDED = {
    "aianet_v": "AiA-Net-V (MARS, video): its gallery and pooling variants are protocols of the cell itself",
}


def _reid_lists(data):
    return ([p for _, p, _ in data.query], [p for _, p, _ in data.gallery],
            [c for _, _, c in data.query], [c for _, _, c in data.gallery])


def _pcb(state: dict, device: torch.device, batch_size: int) -> ReidEmbedding:
    from dmlrepro.data import build_reid_dataset
    from dmlrepro.evaluation.distance import pairwise_distance
    from dmlrepro.models.build import build_reid_model
    from dmlrepro.training.reid_trainer import extract_features

    cell = state["cell"]
    model = build_reid_model(cell, state["num_classes"], load_pretrained=False)
    if state.get("refined"):
        model.refine()
    model.load_state_dict(state["model"])
    model = model.to(device).eval()
    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    query = extract_features(model, data.query, cell, device, batch_size)
    gallery = extract_features(model, data.gallery, cell, device, batch_size)
    return ReidEmbedding(pairwise_distance(query, gallery, metric="sqeuclidean").numpy(), *_reid_lists(data))


def _aianet(state: dict, device: torch.device, batch_size: int) -> ReidEmbedding:
    from dmlrepro.evaluation import pairwise_distance
    from dmlrepro.tasks.reid import load_cell_data
    from dmlrepro.training.aianet_eval import extract_features
    from dmlrepro.training.aianet_parts import build_model

    cell = state["cell"]
    model = build_model(cell, state["num_classes"], load_pretrained=False)
    model.load_state_dict(state["model"])
    model = model.to(device).eval()
    data = load_cell_data(cell)
    query = extract_features(model, data.query, cell, device, batch_size)
    gallery = extract_features(model, data.gallery, cell, device, batch_size)
    return ReidEmbedding(pairwise_distance(query, gallery, metric="sqeuclidean").numpy(), *_reid_lists(data))


def _dces_model(state: dict, device: torch.device):
    from dmlrepro.models.divide_and_conquer import build_divide_and_conquer_model
    from dmlrepro.training.dces_parts import model_config

    model = build_divide_and_conquer_model(model_config(state["cell"]), load_pretrained=False)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def _dces_reid(state: dict, device: torch.device, batch_size: int) -> ReidEmbedding:
    from dmlrepro.data import ImageDataset, build_reid_dataset, build_transforms
    from dmlrepro.evaluation import pairwise_distance
    from dmlrepro.training.dces_parts import embed

    cell = state["cell"]
    model = _dces_model(state, device)
    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    size = cell["training"]["input"]
    test = build_transforms(size["height"], size["width"], train=False)
    q = torch.nn.functional.normalize(embed(model, ImageDataset(data.query, test), device, batch_size), dim=1)
    g = torch.nn.functional.normalize(embed(model, ImageDataset(data.gallery, test), device, batch_size), dim=1)
    return ReidEmbedding(pairwise_distance(q, g, metric="sqeuclidean").numpy(), *_reid_lists(data))


def _retrieval(state: dict, device: torch.device, batch_size: int, family: str) -> RetrievalEmbedding:
    from dmlrepro.data.retrieval import RetrievalImageDataset, build_retrieval_dataset
    from dmlrepro.training.retrieval_parts import retrieval_transforms

    cell = state["cell"]
    if family == "dces":
        from dmlrepro.training.dces_parts import embed as dces_embed

        model = _dces_model(state, device)

        def run(items):
            return dces_embed(model, RetrievalImageDataset(items, transform), device, batch_size)
    else:
        from dmlrepro.figures.retrieval_model import load_retrieval_cell
        from dmlrepro.training.retrieval_parts import embed

        model = load_retrieval_cell(state["_path"], str(device))[0]

        def run(items):
            return embed(model, items, cell["training"], device, batch_size)
    transform = retrieval_transforms(cell["training"], train=False)
    data = build_retrieval_dataset(cell["dataset"], cell["data_root"])
    queries, references, exclude_self = data.retrieval_sets()
    query = run(queries)
    if exclude_self:
        return RetrievalEmbedding(query, [lb for _, lb in queries], None, None)
    return RetrievalEmbedding(query, [lb for _, lb in queries], run(references), [lb for _, lb in references])


def embed_cell(model_path: Path, device: str = "cpu", batch_size: int = 128):
    """(embedding, None) of a cell's model.pt, or (None, why not)."""
    state = torch.load(model_path, map_location="cpu", weights_only=False)
    state["_path"] = Path(model_path)
    if divergence_of(state):  # training/divergence.py: no weights to re-embed
        return None, f"the run {describe(state)}; it has no weights"
    cell = state.get("cell") or {}
    family, task = cell.get("family"), cell.get("task")
    dev = torch.device(device)
    if family in NOT_REEMBEDDED:
        return None, NOT_REEMBEDDED[family]
    if task == "reid":
        if cell.get("model") in ("pcb", "pcb_rpp"):
            return _pcb(state, dev, batch_size), None
        if family == "aianet":
            return _aianet(state, dev, batch_size), None
        if family == "dces":
            return _dces_reid(state, dev, batch_size), None
    if task == "image_retrieval" and family in ("mhdml", "dces", None):
        return _retrieval(state, dev, batch_size, family), None
    return None, f"no re-embedding for family {family!r} (task {task!r}) yet"
