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


def cuhk03_metrics(distances, q_pids, g_pids, q_cams, g_cams, repeats: int) -> dict:
    """CUHK03 vanilla: single-gallery-shot CMC over `repeats` draws, mAP not sampled."""
    from dmlrepro.evaluation.cuhk03_single_shot import single_shot_cmc

    cmc, valid = single_shot_cmc(distances, q_pids, g_pids, q_cams, g_cams, repeats=repeats, max_rank=max(RANKS))
    metrics = {f"rank{k}": 100.0 * float(cmc[k - 1]) for k in RANKS}
    metrics["map"] = market_metrics(distances, q_pids, g_pids, q_cams, g_cams)["map"]
    metrics.update(num_valid_queries=valid, repeats=repeats)
    return metrics


def evaluate_protocols(model, data, cell: dict, device: torch.device, batch_size: int) -> dict:
    """Flat metrics of the dataset's standard protocol plus metrics["protocols"][name] for each
    of the dataset's named protocols (`dmlrepro.families.aianet.PROTOCOLS`):

    * market1501: ``single_query`` (= the flat metrics) and ``multi_query`` (a query's feature is
      the mean of its identity's same-camera gt_bbox images, `dmlrepro.evaluation.multi_query`);
    * cuhk03, cuhk03_labeled: the flat metrics are the single-gallery-shot CMC over 10 draws
      (torchreid's count) with the unsampled mAP; ``single_gallery_shot@100`` the AiA-Net code's
      100 draws; ``market`` the Market-1501 metric on the same distances;
    * every other dataset: the Market-1501 single-query metric.
    """
    from dmlrepro.evaluation.cuhk03_single_shot import DEFAULT_REPEATS, PUBLIC_CODE_REPEATS
    from dmlrepro.families.aianet import protocols_for

    query = extract_features(model, data.query, cell, device, batch_size)
    gallery = extract_features(model, data.gallery, cell, device, batch_size)
    distances = pairwise_distance(query, gallery, metric="sqeuclidean").numpy()
    q_pids, g_pids = [p for _, p, _ in data.query], [p for _, p, _ in data.gallery]
    q_cams, g_cams = [c for _, _, c in data.query], [c for _, _, c in data.gallery]
    market = market_metrics(distances, q_pids, g_pids, q_cams, g_cams)
    vanilla = cell["dataset"] in ("cuhk03", "cuhk03_labeled")
    metrics = cuhk03_metrics(distances, q_pids, g_pids, q_cams, g_cams, DEFAULT_REPEATS) if vanilla else dict(market)
    protocols = {}
    for name in protocols_for(cell["dataset"]):
        if name == "single_query":
            protocols[name] = dict(market)
        elif name == "market":
            protocols[name] = dict(market)
        elif name == "single_gallery_shot@100":
            protocols[name] = cuhk03_metrics(distances, q_pids, g_pids, q_cams, g_cams, PUBLIC_CODE_REPEATS)
        elif name == "multi_query":
            protocols[name] = multi_query_metrics(model, data, cell, device, batch_size, gallery, q_pids, q_cams,
                                                  g_pids, g_cams)
        else:
            raise ValueError(f"protocol {name!r} has no evaluation")
    if protocols:
        metrics["protocols"] = protocols
    return metrics


def multi_query_metrics(model, data, cell, device, batch_size, gallery, q_pids, q_cams, g_pids, g_cams) -> dict:
    from dmlrepro.data.market1501_gt_bbox import read_gt_bbox
    from dmlrepro.evaluation.multi_query import multi_query_features

    items = read_gt_bbox(data.root)
    mq = extract_features(model, items, cell, device, batch_size)
    features = multi_query_features(q_pids, q_cams, mq, [p for _, p, _ in items], [c for _, _, c in items])
    distances = pairwise_distance(features, gallery, metric="sqeuclidean").numpy()
    metrics = market_metrics(distances, q_pids, g_pids, q_cams, g_cams)
    metrics["gt_bbox_images"] = len(items)
    return metrics
