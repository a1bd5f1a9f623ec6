"""The evaluation of a trained AiA-Net cell (002_e585b7ac4801a221.txt, Sec. 4.4 and 5.1): the
test feature f = [f_a/|f_a|, f_p/|f_p|] of every query and gallery image, squared Euclidean
distances, and the metrics of every protocol the AiA-Net family evaluates on the dataset
(`dmlrepro.families.aianet.protocols_for`), each computed once.

Single query (every dataset's standard protocol, the flat metrics): the Market-1501 protocol
(`dmlrepro.evaluation.reid_metrics.evaluate_market1501`, same-id same-camera gallery items and
junk removed), CMC rank-1/5/10/20 and mAP in percent.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from dmlrepro.data import ImageDataset, build_transforms
from dmlrepro.evaluation import evaluate_market1501, pairwise_distance

#: Every CMC rank AiA-Net's tables report (Table 12: R-1/5/10/20).
RANKS = (1, 5, 10, 20)


@torch.no_grad()
def extract_features(model, items, cell: dict, device: torch.device, batch_size: int) -> torch.Tensor:
    """The eval-mode test features of `items` ((img_path, pid, camid) or tracklets' frames)."""
    height, width = cell["training"]["input_size"]
    dataset = ImageDataset(items, build_transforms(height, width, train=False))
    model.eval()
    return torch.cat([model(images.to(device)).float().cpu() for images, _, _ in DataLoader(dataset, batch_size=batch_size)])


def market_metrics(distances, q_pids, g_pids, q_cams, g_cams) -> dict:
    result = evaluate_market1501(distances, q_pids, g_pids, q_cams, g_cams)
    metrics = result.as_percent_dict(ranks=RANKS)
    metrics["num_valid_queries"] = result.num_valid_queries
    return metrics


def evaluate_protocols(model, data, cell: dict, device: torch.device, batch_size: int) -> dict:
    """Flat single-query metrics plus metrics["protocols"][name] for each of the dataset's protocols."""
    from dmlrepro.families.aianet import protocols_for

    query = extract_features(model, data.query, cell, device, batch_size)
    gallery = extract_features(model, data.gallery, cell, device, batch_size)
    distances = pairwise_distance(query, gallery, metric="sqeuclidean").numpy()
    q_pids, g_pids = [p for _, p, _ in data.query], [p for _, p, _ in data.gallery]
    q_cams, g_cams = [c for _, _, c in data.query], [c for _, _, c in data.gallery]
    metrics = market_metrics(distances, q_pids, g_pids, q_cams, g_cams)
    protocols = {}
    for name in protocols_for(cell["dataset"]):
        if name == "single_query":
            protocols[name] = {k: v for k, v in metrics.items()}
    if protocols:
        metrics["protocols"] = protocols
    return metrics
