"""AiA-Net's failure cases on the person re-ID datasets (002_e585b7ac4801a221.txt Fig. 10: "In each
ranking list, to the left is the query person and to the right is the corresponding ranked list in
the gallery set. The correct and false matches are enclosed in green and red boxes"), from each
dataset's trained AiA-Net w/ Gau-attention cell (model.pt; the cells of Tables 10 and 11).

Sec. 5.6 ("Analysis of Failure Cases"): a failure case is a query whose "R-1 retrieved image" has
another identity.  Every query and gallery image is embedded as the evaluation embeds it
(`dmlrepro.training.aianet_eval.extract_features`: f = [f_a/|f_a|, f_p/|f_p|]) and the gallery is
ranked by squared Euclidean distance under the Market-1501 protocol of the evaluation
(`dmlrepro.evaluation.reid_metrics`: same-identity same-camera gallery images and junk, pid -1,
removed; ties keep the lower gallery index), on every dataset, CUHK03's vanilla protocol
included.  A query is valid when a true match is left after the removal (the evaluation's valid
queries); it fails when its first-ranked image has another identity.

Which failures are drawn (the paper does not say how it chose its own): `lists_for(dataset)`
ranking lists per dataset — two on DukeMTMC-reID ("the third and fourth ranking lists", Sec.
5.6), one on every other dataset — chosen evenly spaced over the failing queries in query order
(`ranking_examples.evenly_spaced`: the first failing query for one list, the first and the last
for two), the same ones on every run.  Each list shows the query and its top `TOP_K` gallery
images (the paper does not print k), as the image files are (not resized); a gallery image of the
query's identity has a green box, another identity a red one.

`python -m dmlrepro.figures.reid_failure_cases --manifest-json '<manifest>' --out fig10.png`
"""

from __future__ import annotations

import numpy as np
import torch

from dmlrepro.errors import UserError
from dmlrepro.figures.manifest import model_path
from dmlrepro.figures.plotting import PANEL_LETTERS, dataset_name, draw_ranked_row, main_guard, set_title, subplots
from dmlrepro.figures.ranking_examples import evenly_spaced

#: Gallery images shown per ranking list (the paper's figure does not say; CMC up to R-10 in Table 11).
TOP_K = 10
#: Sec. 5.6: "for the DukeMTMC-reID dataset ... (e.g., the third and fourth ranking lists)".
LISTS_PER_DATASET = {"dukemtmc": 2}
DEFAULT_LISTS = 1
#: Queries ranked at once (the evaluation's block size: a block holds about 32k distances).
_BLOCK_ELEMENTS = 1 << 15


def lists_for(dataset: str) -> int:
    return LISTS_PER_DATASET.get(dataset, DEFAULT_LISTS)


def market_top_k(distances, q_pids, g_pids, q_cams, g_cams, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(top [Q, k] gallery indices of each query's ranking after the Market-1501 removal, -1 past
    the end of a short list; valid [Q]: whether a true match is left), by the evaluation's own
    ranking (`reid_metrics.stable_argsort_rows`: ascending distance, ties by gallery index)."""
    from dmlrepro.evaluation.reid_metrics import JUNK_PID, prepare_reid_inputs, stable_argsort_rows

    inputs = prepare_reid_inputs(distances, q_pids, g_pids, q_cams, g_cams, max_rank=k)
    num_query, num_gallery = inputs.distmat.shape
    top = np.full((num_query, k), -1, dtype=np.int64)
    valid = np.zeros(num_query, dtype=bool)
    step = max(1, _BLOCK_ELEMENTS // max(num_gallery, 1))
    for start in range(0, num_query if num_gallery else 0, step):
        rows = slice(start, start + step)
        same_pid = inputs.q_pids[rows, None] == inputs.g_pids[None, :]
        removed = same_pid & (inputs.q_camids[rows, None] == inputs.g_camids[None, :])
        removed |= (inputs.g_pids == JUNK_PID)[None, :]
        order = stable_argsort_rows(inputs.distmat[rows], last=removed)[:, :k]
        kept = (~removed).sum(axis=1)
        block = np.where(np.arange(order.shape[1])[None, :] < kept[:, None], order, -1)
        top[rows, :block.shape[1]] = block
        valid[rows] = (same_pid & ~removed).any(axis=1)
    return top, valid


def failing_queries(top: np.ndarray, valid: np.ndarray, q_pids, g_pids) -> list[int]:
    """The valid queries whose first-ranked gallery image has another identity (Sec. 5.6), in query order."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    first = top[:, 0]
    return [int(q) for q in np.flatnonzero(valid & (first >= 0)) if g_pids[first[q]] != q_pids[q]]


def failure_cases(manifest: dict, device: str = "cpu") -> list[dict]:
    """Per dataset of the manifest: the chosen failing queries with their top-K gallery items."""
    from dmlrepro.evaluation import pairwise_distance
    from dmlrepro.figures.aianet_maps import load_aianet_cell
    from dmlrepro.tasks.reid import load_reid_data
    from dmlrepro.training.aianet_eval import extract_features
    from dmlrepro.training.determinism import resolve_device

    found = []
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                path = model_path(manifest, panel, series, point)
                model, cell = load_aianet_cell(path, "cpu")
                if cell.get("task") != "reid":
                    raise UserError(f"{path}: a {cell.get('task')!r} cell; this figure ranks image re-ID cells (aianet)")
                on = resolve_device(device)
                model = model.to(on)
                data = load_reid_data(cell["dataset"], cell["data_root"])
                batch = cell["training"]["eval_batch_size"]
                query = extract_features(model, data.query, cell, on, batch)
                gallery = extract_features(model, data.gallery, cell, on, batch)
                distances = pairwise_distance(query, gallery, metric="sqeuclidean").numpy()
                q_pids, g_pids = [p for _, p, _ in data.query], [p for _, p, _ in data.gallery]
                top, valid = market_top_k(distances, q_pids, g_pids, [c for _, _, c in data.query],
                                          [c for _, _, c in data.gallery], TOP_K)
                failing = failing_queries(top, valid, q_pids, g_pids)
                rows = [{"query": q, "item": data.query[q],
                         "retrieved": [(int(g), data.gallery[g], g_pids[g] == q_pids[q]) for g in top[q] if g >= 0]}
                        for q in evenly_spaced(failing, lists_for(point["dataset"]))]
                found.append({"dataset": point["dataset"], "cell": cell, "cell_id": point["cell"], "rows": rows,
                              "failing": len(failing), "valid": int(valid.sum())})
    return found


def draw(manifest: dict, device: str | None = "cpu"):
    from dmlrepro.data import read_image

    found = failure_cases(manifest, device or "cpu")
    lines = sum(max(len(f["rows"]), 1) for f in found)
    figure, axes = subplots(max(lines, 1), TOP_K + 1, 0.95 * (TOP_K + 1), 2.0 * max(lines, 1) + 1.3)
    summary, line = [], 0
    for letter, entry in zip(PANEL_LETTERS, found):
        name = f"({letter}) {dataset_name(entry['dataset'])}"
        counts = f"{entry['failing']} of {entry['valid']} valid queries fail at R-1"
        if not entry["rows"]:
            draw_ranked_row(axes[line], None, f"{name}\nno failure case", [])
            axes[line, 1].text(0.0, 0.5, counts, fontsize=8, transform=axes[line, 1].transAxes)
            summary.append(f"{entry['dataset']}: {counts} ({entry['cell_id']})")
            line += 1
            continue
        for row in entry["rows"]:
            path, pid, cam = row["item"]
            draw_ranked_row(axes[line], read_image(path), f"{name}\nquery {row['query']} (id {pid})",
                            [(read_image(g_path), correct, f"#{rank} id {g_pid}")
                             for rank, (_, (g_path, g_pid, _), correct) in enumerate(row["retrieved"], start=1)])
            summary.append(f"{entry['dataset']} query {row['query']} (id {pid}, cam {cam}): top-{TOP_K} "
                           f"{[g for g, _, _ in row['retrieved']]} correct {[c for _, _, c in row['retrieved']]}; "
                           f"{counts} ({entry['cell_id']})")
            line += 1
    set_title(figure, manifest, [f["cell"] for f in found], quantitative=False,
              extra=f"Failure: the R-1 gallery image has another identity (Sec. 5.6), Market-1501 ranking "
                    f"(same-identity same-camera and junk gallery images removed). Lists per dataset: two on "
                    f"DukeMTMC-reID (the paper's third and fourth), one elsewhere, evenly spaced over the failing "
                    f"queries in query order (the paper does not say how it chose its own); top-{TOP_K} shown; "
                    f"green box: same identity, red: another.")
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
