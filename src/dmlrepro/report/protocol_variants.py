"""Evaluation-protocol variants measured on the same trained cells, without retraining.

Re-ID mAP two ways from one ranking (Market-1501 single-query protocol: same-id same-camera and
junk gallery items removed, Zheng et al. ICCV 2015):

* non-interpolated AP, torchreid's ``eval_market1501`` and the cells' own `map`
  (dmlrepro.evaluation.reid_metrics): AP = (1/n) Σ_j j / r_j over the true matches' ranks r_j;
* trapezoid AP, the official Market-1501 code (MATLAB ``compute_AP.m``; layumi's
  ``evaluate_gpu.py`` ``compute_mAP``): AP = (1/n) Σ_j (p_{j-1} + p_j) / 2 with p_j = j / r_j and
  p_{j-1} = (j − 1) / (r_j − 1), or 1 when the first item is a match (r_j = 1).

Both need only each query's ranks of its true matches after removal, so a cell is re-embedded
once from its saved model.pt (`python -m dmlrepro.report.protocol_variants`) and nothing else is
kept (no distance matrix is written).  CMC is the same under both codes.  Every re-ID family whose
cells save model.pt is re-embedded (PCB / PCB-RPP, AiA-Net, DCES on Market-1501:
dmlrepro.report.reembed); image-retrieval cells (MHDML, DCES on SOP) get the Recall@K and NMI
variants of dmlrepro.report.retrieval_variants.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from dmlrepro.evaluation.reid_metrics import JUNK_PID, stable_argsort_rows

NONINTERPOLATED = "map_noninterpolated"
TRAPEZOID = "map_trapezoid"
VARIANTS = {NONINTERPOLATED: "mAP, non-interpolated AP (torchreid eval_market1501; the cells' own)",
            TRAPEZOID: "mAP, trapezoid AP (official Market-1501 code, layumi evaluate_gpu.py)"}


def match_ranks(distmat, q_pids, g_pids, q_camids, g_camids) -> list[np.ndarray]:
    """Per query: the 1-based ranks of its true matches in its gallery list after removal."""
    distmat = np.asarray(distmat, dtype=np.float64)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    out = []
    for start in range(0, len(q_pids), 256):
        rows = slice(start, start + 256)
        same_pid = q_pids[rows, None] == g_pids[None, :]
        removed = (same_pid & (q_camids[rows, None] == g_camids[None, :])) | (g_pids == JUNK_PID)[None, :]
        order = stable_argsort_rows(distmat[rows], last=removed)
        is_match = np.take_along_axis(same_pid & ~removed, order, axis=1)
        out += [np.nonzero(line)[0] + 1 for line in is_match]
    return out


def average_precisions(ranks: np.ndarray) -> tuple[float, float]:
    """(non-interpolated, trapezoid) AP of one query from its matches' 1-based ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    j = np.arange(1, len(ranks) + 1, dtype=np.float64)
    precision = j / ranks
    old = np.where(ranks > 1, (j - 1) / np.maximum(ranks - 1, 1), 1.0)
    return float(precision.mean()), float(((old + precision) / 2).mean())


def map_variants(distmat, q_pids, g_pids, q_camids, g_camids) -> dict[str, float]:
    """Both mAPs in percent over the valid queries (those with a true match left)."""
    aps = [average_precisions(r) for r in match_ranks(distmat, q_pids, g_pids, q_camids, g_camids) if len(r)]
    if not aps:
        raise ValueError("no valid query: no query has a true match in the gallery after removal")
    values = np.asarray(aps)
    return {NONINTERPOLATED: 100 * float(values[:, 0].mean()), TRAPEZOID: 100 * float(values[:, 1].mean()),
            "num_valid_queries": len(aps)}


def measure_cell(model_path: Path, recorded: dict, device: str = "cpu", batch_size: int = 128) -> dict:
    """Every variant of one trained cell from its re-embedded model.pt (dmlrepro.report.reembed):
    re-ID: both mAPs; image retrieval: the Recall@K variants at the cell's own K and the NMI
    variants (dmlrepro.report.retrieval_variants).  `recorded`: the cell's metrics.json metrics."""
    from dmlrepro.report.reembed import ReidEmbedding, embed_cell
    from dmlrepro.report.retrieval_variants import nmi_variants, recall_variants

    embedding, why = embed_cell(model_path, device, batch_size)
    if embedding is None:
        return {"skipped": why}
    if isinstance(embedding, ReidEmbedding):
        return {"task": "reid", "recorded_map": recorded.get("map"),
                **map_variants(embedding.distances, embedding.q_pids, embedding.g_pids, embedding.q_cams, embedding.g_cams)}
    ks = sorted(int(k.split("@")[1]) for k in recorded if k.startswith("recall@"))
    out = {"task": "image_retrieval", "recorded": {f"recall@{k}": recorded[f"recall@{k}"] for k in ks},
           "recall": recall_variants(embedding.query, embedding.query_labels, embedding.reference,
                                     embedding.reference_labels, ks=ks or (1,))}
    if embedding.reference is None:
        out["nmi"] = nmi_variants(embedding.query, embedding.query_labels)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-dir", required=True)
    parser.add_argument("--cells", nargs="*", default=[], help="cell ids (the paper's trained cells)")
    parser.add_argument("--seeds", nargs="+", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import torch

    from dmlrepro.atomic_io import atomic_write_text
    from dmlrepro.report.retrieval_variants import NMI_VARIANTS, RECALL_VARIANTS

    torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    results = []
    for cell_id in args.cells:
        for seed in args.seeds:
            path = Path(args.cell_dir) / cell_id / f"seed{seed}" / "model.pt"
            metrics = json.loads((path.parent / "metrics.json").read_text())
            entry = {"cell": cell_id, "seed": seed, "recorded_map": metrics["metrics"].get("map")}
            entry.update(measure_cell(path, metrics["metrics"], device))
            results.append(entry)
            print(json.dumps(entry), flush=True)
    variants = {**VARIANTS, **RECALL_VARIANTS, **NMI_VARIANTS}
    atomic_write_text(args.out, json.dumps({"variants": variants, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
