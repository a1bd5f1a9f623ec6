"""Queries with their top retrievals (003_72cd4b33cee60b89.txt Figure 4: "For each query image
(left-most), top 4 retrievals are exhibited. The results with red boundaries are false cases"),
from each dataset's trained cell (model.pt).

Every test image is embedded by the cell's model as the evaluation embeds it (centre crop, the
L2-normalised embedding) and ranked by cosine similarity under the dataset's protocol: the test
set against itself without the query (Cars-196, CUB-200-2011, SOP), or the In-Shop queries against
the gallery.  Ties keep the lower index first.  The paper does not say how it chose its queries:
here `QUERIES_PER_DATASET` queries evenly spaced over the queries that have a positive, so
different classes, the same ones on every run.  A retrieval of the query's class has a green
border, another class a red one.

`python -m dmlrepro.figures.ranking_examples --manifest-json '<manifest>' --out fig4.png`
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from dmlrepro.figures.manifest import model_path
from dmlrepro.figures.plotting import PANEL_LETTERS, dataset_name, draw_ranked_row, main_guard, set_title, subplots
from dmlrepro.figures.retrieval_model import denormalise, evaluation_data, load_retrieval_cell

#: Figure 4: "top 4 retrievals".
TOP_K = 4
QUERIES_PER_DATASET = 2


def chosen_queries(query_labels: list[int], reference_labels: list[int], exclude_self: bool, count: int) -> list[int]:
    """`count` query indices evenly spaced over the queries that have a positive."""
    from collections import Counter

    available = Counter(reference_labels)
    need = 2 if exclude_self else 1
    return evenly_spaced([i for i, label in enumerate(query_labels) if available[label] >= need], count)


def evenly_spaced(items: list, count: int) -> list:
    """`count` of `items` evenly spaced from the first to the last, in order (all when fewer)."""
    if not items:
        return []
    picks = np.linspace(0, len(items) - 1, min(count, len(items))).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def top_k(query: torch.Tensor, references: torch.Tensor, self_index: int | None, k: int) -> list[int]:
    """The k references most similar to `query` (cosine; the query itself left out by index when
    it is in the reference set); equal similarities keep the lower index first."""
    similarity = torch.nn.functional.normalize(references, dim=1) @ torch.nn.functional.normalize(query, dim=0)
    if self_index is not None:
        similarity[self_index] = -float("inf")
    order = torch.sort(similarity, descending=True, stable=True).indices
    return order[:k].tolist()


@torch.no_grad()
def _embed(model, dataset, device, batch_size: int = 128) -> torch.Tensor:
    return torch.cat([model(images.to(device)).float().cpu()
                      for images, _ in DataLoader(dataset, batch_size=batch_size)])


def rankings(manifest: dict, device: str = "cpu") -> list[dict]:
    """Per dataset: the queries' images and their top-K images with correctness."""
    from dmlrepro.data.retrieval import RetrievalImageDataset

    found = []
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                model, cell = load_retrieval_cell(model_path(manifest, panel, series, point), device)
                data, queries, references, exclude_self, transform = evaluation_data(cell)
                on = next(model.parameters()).device
                query_set = RetrievalImageDataset(queries, transform)
                reference_set = query_set if exclude_self else RetrievalImageDataset(references, transform)
                query_embeddings = _embed(model, query_set, on)
                reference_embeddings = query_embeddings if exclude_self else _embed(model, reference_set, on)
                query_labels = [label for _, label in queries]
                reference_labels = [label for _, label in references]
                rows = []
                for q in chosen_queries(query_labels, reference_labels, exclude_self, QUERIES_PER_DATASET):
                    hits = top_k(query_embeddings[q], reference_embeddings, q if exclude_self else None, TOP_K)
                    rows.append({"query": q, "image": query_set[q][0],
                                 "retrieved": [(r, reference_set[r][0], reference_labels[r] == query_labels[q]) for r in hits]})
                found.append({"dataset": point["dataset"], "cell": cell, "cell_id": point["cell"], "rows": rows})
    return found


def draw(manifest: dict, device: str | None = "cpu"):
    found = rankings(manifest, device or "cpu")
    total = sum(len(f["rows"]) for f in found)
    figure, axes = subplots(max(total, 1), TOP_K + 1, 1.6 * (TOP_K + 1), 1.75 * max(total, 1) + 1.0)
    summary, line = [], 0
    for letter, entry in zip(PANEL_LETTERS, found):
        for row in entry["rows"]:
            draw_ranked_row(axes[line], denormalise(row["image"]), f"({letter}) {dataset_name(entry['dataset'])}\nquery {row['query']}",
                            [(denormalise(image), correct, f"#{col}") for col, (_, image, correct) in enumerate(row["retrieved"], start=1)])
            summary.append(f"{entry['dataset']} query {row['query']}: top-{TOP_K} "
                           f"{[i for i, _, _ in row['retrieved']]} correct {[c for _, _, c in row['retrieved']]} ({entry['cell_id']})")
            line += 1
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    set_title(figure, manifest, [f["cell"] for f in found], quantitative=False,
              extra=f"Queries: {QUERIES_PER_DATASET} per dataset, evenly spaced over the queries with a positive "
                    f"(the paper does not say how it chose its own); green border: same class, red: another class.")
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
