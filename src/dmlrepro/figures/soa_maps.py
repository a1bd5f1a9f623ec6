"""Second-order attention maps (003_72cd4b33cee60b89.txt Figure 6: "Each row depicts the source
image and four corresponding SOA maps obtained for specific spatial locations (marked by stars)";
SOA of Sec. 3.2, Eq. 1: row (i, j) of a = softmax(ζ qᵀk) is where location (i, j) attends), from
each dataset's trained cell (model.pt).

For one test image per dataset (the first, as the evaluation orders them; the paper does not say
which it shows), each head's map `model(x, return_attention=True).attention[head][0, i, j]` is
drawn for the four `LOCATIONS` (fractions of height and width: one in a corner, likely background,
three near the centre, likely the object), upsampled bilinearly onto the image, each framed in its
star's colour.  The paper does not say which head Figure 6 shows: every head of the model is drawn
(local: conv4_x, global: conv5_x), one row each.  A star marks the centre of the feature-map
location it stands for.

`python -m dmlrepro.figures.soa_maps --manifest-json '<manifest>' --out fig6.png`
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dmlrepro.data.retrieval import RetrievalImageDataset
from dmlrepro.errors import UserError
from dmlrepro.figures.manifest import model_path
from dmlrepro.figures.plotting import PANEL_LETTERS, dataset_name, main_guard, set_title, subplots
from dmlrepro.figures.retrieval_model import denormalise, evaluation_data, load_retrieval_cell

#: (row, column) as fractions of the feature map: a corner and three points near the centre.
LOCATIONS = ((0.1, 0.1), (0.5, 0.5), (0.35, 0.65), (0.65, 0.35))
COLOURS = ("yellow", "red", "cyan", "magenta")


def location_index(fraction: tuple[float, float], height: int, width: int) -> tuple[int, int]:
    """The feature-map location (i, j) a fractional position falls in."""
    return min(int(fraction[0] * height), height - 1), min(int(fraction[1] * width), width - 1)


@torch.no_grad()
def soa_maps(model, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """head → `[h, w, h, w]` SOA maps of one image (rows sum to 1 over the last two axes)."""
    device = next(model.parameters()).device
    out = model(image[None].to(device), return_attention=True)
    if not out.attention:
        raise UserError("the cell's model has no second-order attention (attention: none); Figure 6 needs an SOA cell")
    return {head: a[0].float().cpu() for head, a in out.attention.items()}


def draw(manifest: dict, device: str | None = "cpu"):
    entries = []
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                model, cell = load_retrieval_cell(model_path(manifest, panel, series, point), device or "cpu")
                _, queries, _, _, transform = evaluation_data(cell)
                image = RetrievalImageDataset(queries[:1], transform)[0][0]
                entries.append((point, cell, image, soa_maps(model, image)))
    rows = sum(len(maps) for *_, maps in entries)
    figure, axes = subplots(rows, len(LOCATIONS) + 1, 1.8 * (len(LOCATIONS) + 1), 2.0 * rows + 1.0)
    summary, line = [], 0
    for letter, (point, cell, image, maps) in zip(PANEL_LETTERS, entries):
        picture = denormalise(image)
        size = tuple(image.shape[1:])
        for head, a in maps.items():
            height, width = a.shape[:2]
            stars = [location_index(f, height, width) for f in LOCATIONS]
            centres = [((j + 0.5) * size[1] / width, (i + 0.5) * size[0] / height) for i, j in stars]
            axes[line, 0].imshow(picture)
            axes[line, 0].set_title(f"({letter}) {dataset_name(point['dataset'])}\n{head} head, {height}x{width}", fontsize=7)
            for (x, y), colour in zip(centres, COLOURS):
                axes[line, 0].scatter([x], [y], marker="*", s=90, c=colour, edgecolors="black", linewidths=0.5)
            for col, ((i, j), (x, y), colour) in enumerate(zip(stars, centres, COLOURS), start=1):
                heat = F.interpolate(a[i, j][None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
                axes[line, col].imshow(picture)
                axes[line, col].imshow(heat.numpy(), cmap="jet", alpha=0.55)
                axes[line, col].scatter([x], [y], marker="*", s=90, c=colour, edgecolors="black", linewidths=0.5)
                for spine in axes[line, col].spines.values():
                    spine.set_edgecolor(colour)
                    spine.set_linewidth(3)
                axes[line, col].set_title(f"location ({i}, {j})", fontsize=7)
            summary.append(f"{point['dataset']} {head} head {height}x{width}: locations {stars} ({point['cell']})")
            line += 1
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    set_title(figure, manifest, [cell for _, cell, _, _ in entries], quantitative=False,
              extra="First test image of each dataset; every head of the model (the paper does not say which it shows); "
                    "each map is the SOA row of the starred location (Eq. 1), upsampled onto the image.")
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
