"""What every renderer shares: matplotlib without a display, the figure's title (what was measured,
where, and the paper's caption), readable dataset names, an atomic PNG write and the command line
(`python -m dmlrepro.figures.<kind> --manifest-json TEXT --out fig.png`)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dmlrepro.atomic_io import atomic_write  # noqa: E402
from dmlrepro.figures.manifest import load_manifest, title  # noqa: E402

DATASET_NAMES = {"cars196": "Cars-196", "cub200": "CUB-200-2011", "sop": "SOP", "inshop": "In-Shop",
                 "market1501": "Market-1501", "dukemtmc": "DukeMTMC-reID", "cuhk03np": "CUHK03-NP"}
METRIC_NAMES = {"recall@1": "Recall@1 (%)", "rank1": "Rank-1 (%)", "map": "mAP (%)"}
PANEL_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def dataset_name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def metric_name(metric: str | None) -> str:
    if metric is None:
        return ""
    return METRIC_NAMES.get(metric, metric.replace("recall@", "Recall@") + (" (%)" if "@" in metric else ""))


def subplots(rows: int, columns: int, width: float, height: float):
    """A figure of rows x columns axes (always a 2-d array), laid out by matplotlib's constrained
    layout so that titles, the suptitle and legends never overlap."""
    return plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained")


def draw_ranked_row(axes_row, query_image, query_title: str, retrieved) -> None:
    """One ranking list on a row of axes (MHDML Fig. 4, AiA-Net Fig. 10): the query image left
    (None: no image), then each retrieved (image, correct, title) boxed green when correct and red
    when false; axes past the list stay empty, and no axis has ticks."""
    if query_image is not None:
        axes_row[0].imshow(query_image)
    axes_row[0].set_title(query_title, fontsize=7)
    for axis, (image, correct, name) in zip(axes_row[1:], retrieved):
        axis.imshow(image)
        for spine in axis.spines.values():
            spine.set_edgecolor("limegreen" if correct else "red")
            spine.set_linewidth(3)
        axis.set_title(name, fontsize=7)
    for axis in axes_row[1 + len(retrieved):]:
        axis.axis("off")
    for axis in axes_row:
        axis.set_xticks([])
        axis.set_yticks([])


def set_title(figure, manifest: dict, cells: list[dict], quantitative: bool, extra: str = "") -> None:
    """First line: `manifest.title` (scale, data, seeds, "the paper prints no values"); then the
    paper's caption, wrapped; then `extra` (what the renderer chose, e.g. the queries)."""
    width = max(60, int(figure.get_figwidth() * 14))
    lines = textwrap.wrap(title(manifest, cells, quantitative), width)
    lines += textwrap.wrap(f"Paper's caption: {manifest['caption']}", width)
    if extra:
        lines += textwrap.wrap(extra, width)
    # The renderers' figures use the constrained layout, which keeps the axes below this title.
    figure.suptitle("\n".join(lines), fontsize=7, x=0.01, ha="left")


def save(figure, out: str) -> None:
    atomic_write(out, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)


def run_cli(draw: Callable[..., tuple[object, list[str]]], description: str, argv: list[str] | None = None) -> int:
    """Parse the renderer's command line, draw, write the PNG atomically and print what was drawn.
    `draw(manifest, device=...)` returns (matplotlib figure, summary lines)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--manifest", help="the figure manifest (JSON file)")
    parser.add_argument("--manifest-json", help="the figure manifest as JSON text")
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cpu", help="where qualitative renderers run the model (auto, cpu, cuda)")
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest_json, args.manifest)
    figure, summary = draw(manifest, device=args.device)
    save(figure, args.out)
    for line in summary:
        print(line)
    print(f"wrote {args.out}")
    return 0


def main_guard(draw, description: str) -> None:
    """`if __name__ == "__main__"` of a renderer: one-line user errors, as the CLI's."""
    from dmlrepro.errors import UserError

    try:
        sys.exit(run_cli(draw, description))
    except UserError as exc:
        print(f"dmlrepro: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
