"""CSA Figure 5 (001_5fbd5da13318fd56.txt, "Visualization of Attention Maps"): "we select two base
attention maps and six reconstructed attention maps for each image to display ... the two base
attention maps focus on the parts with different semantics and each reconstructed attention map is
similar to one of the base attention maps".

The maps are those of the first CSA module of the figure's trained cell (the module after the
earliest attention stage, i.e. the highest-resolution one: the paper does not say which module it
shows) and of its first channel group (group 0; the paper does not say either), computed by the
module itself (``CompressedSelfAttention.base_maps_and_weights``, ``attention_map``):

* base attention map k: ``B_k = softmax over the HW positions of M_k`` (Eq. 3, 6);
* reconstructed map of position i: ``A_i = Σ_k W_ki B_k`` (Eq. 4), W the adaptive weights
  (softmax over the D maps at each position, Eq. 7).

What the paper leaves open, chosen here before looking at any result:

* images: the first ``IMAGES`` query images of the cell's test set, one row each;
* the two base maps: the two with the largest total adaptive weight over the image, ``Σ_i W_ki``
  — the two "clusters" (the paper's reading of base vectors) that most positions draw on;
* the six reconstructed maps: the maps of six fixed positions spread over a standing person
  (``POSITIONS``, fractions of height and width), the same for every image; a star marks each
  position's feature-map cell on the image and on its map;
* "similar to one of the base attention maps" is measured: above each reconstructed map is the
  base map of all D most correlated with it (Pearson correlation over the HW positions: the
  maps are positive and sum to 1, so their plain cosine is near 1 even for unrelated maps), that
  correlation and W_ki; the printed summary gives them per image.  Near-uniform weights
  (W_ki ≈ 1/D) make every A_i the mean base map, similar to none in particular.

`python -m dmlrepro.figures.csa_maps --manifest-json '<manifest>' --out fig5.png` (the workflow's
call, dmlrepro.figures.manifest).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from dmlrepro.figures.attention_maps import first_module_input, load_trained
from dmlrepro.figures.manifest import model_path
from dmlrepro.figures.plotting import PANEL_LETTERS, dataset_name, main_guard, set_title, subplots
from dmlrepro.figures.retrieval_model import denormalise

#: Query images drawn per dataset (rows).
IMAGES = 3
#: Base maps and reconstructed maps per image (the paper's "two base attention maps and six
#: reconstructed attention maps for each image").
BASE_MAPS = 2
#: (row, column) fractions of the feature map: head, both shoulders, waist, a knee, a foot.
POSITIONS = ((0.12, 0.5), (0.3, 0.25), (0.3, 0.75), (0.55, 0.5), (0.75, 0.3), (0.92, 0.7))
COLOURS = ("red", "lime", "cyan", "yellow", "magenta", "orange")
GROUP = 0


@dataclass
class CSAMaps:
    """One image's maps at the first CSA module, group `GROUP`."""

    height: int
    width: int
    #: [D, h, w] base attention maps B (each sums to 1 over positions)
    bases: torch.Tensor
    #: [D, h, w] adaptive weights W (sum to 1 over the D maps at each position)
    weights: torch.Tensor
    #: [h, w, h, w]: reconstructed[i, j] is the map A of position (i, j)
    reconstructed: torch.Tensor


def position_index(fraction: tuple[float, float], height: int, width: int) -> tuple[int, int]:
    """The feature-map cell (i, j) a fractional position falls in."""
    return min(int(fraction[0] * height), height - 1), min(int(fraction[1] * width), width - 1)


@torch.no_grad()
def csa_maps(model, image: torch.Tensor, group: int = GROUP) -> CSAMaps:
    """B, W and every reconstructed map A_i (Eq. 3-4) of the first CSA module for one image."""
    module, x = first_module_input(model, image)
    height, width = x.shape[2:]
    bases, weights = module.base_maps_and_weights(x)
    reconstructed = module.attention_map(x, group)[0]
    return CSAMaps(height, width, bases[0, group].reshape(-1, height, width),
                   weights[0, group].reshape(-1, height, width),
                   reconstructed.reshape(height, width, height, width))


def most_used_bases(maps: CSAMaps, count: int = BASE_MAPS) -> list[int]:
    """The `count` base maps with the largest total adaptive weight Σ_i W_ki, most used first
    (ties to the lower index)."""
    usage = maps.weights.flatten(1).sum(dim=1).tolist()
    return sorted(range(len(usage)), key=lambda k: (-usage[k], k))[:count]


def nearest_base(maps: CSAMaps, i: int, j: int) -> tuple[int, float]:
    """(k, r): the base map most correlated (Pearson, over positions) with the reconstructed map
    of position (i, j), ties to the lower index."""
    bases = maps.bases.flatten(1)
    target = maps.reconstructed[i, j].flatten()[None]
    r = F.cosine_similarity(bases - bases.mean(dim=1, keepdim=True), target - target.mean(), dim=1)
    k = int(r.argmax())
    return k, float(r[k])


def _overlay(axis, picture, heat: torch.Tensor, size: tuple[int, int]) -> None:
    up = F.interpolate(heat[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    axis.imshow(picture)
    axis.imshow(up.numpy(), cmap="jet", alpha=0.55)


def _images(cell: dict) -> list[torch.Tensor]:
    from dmlrepro.data import build_reid_dataset, build_transforms
    from dmlrepro.data.image_dataset import ImageDataset

    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    height, width = cell["training"]["input_size"]
    queries = ImageDataset(data.query, build_transforms(height, width, train=False))
    return [queries[index][0] for index in range(min(IMAGES, len(queries)))]


def draw(manifest: dict, device: str | None = "cpu"):
    """The figure (a row per image: the image, `BASE_MAPS` base maps, one reconstructed map per
    position) and one summary line per image."""
    entries = []
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                model, cell = load_trained(model_path(manifest, panel, series, point), attention="csa")
                for index, image in enumerate(_images(cell)):
                    entries.append((point, cell, index, image, csa_maps(model, image)))
    columns = 1 + BASE_MAPS + len(POSITIONS)
    figure, axes = subplots(len(entries), columns, 1.5 * columns, 2.6 * len(entries) + 1.2)
    summary = []
    for row, (letter, (point, cell, index, image, maps)) in enumerate(zip(PANEL_LETTERS, entries)):
        picture = denormalise(image)
        size = tuple(image.shape[1:])
        cells = [position_index(p, maps.height, maps.width) for p in POSITIONS]
        centres = [((j + 0.5) * size[1] / maps.width, (i + 0.5) * size[0] / maps.height) for i, j in cells]
        axes[row, 0].imshow(picture)
        axes[row, 0].set_title(f"({letter}) {dataset_name(point['dataset'])}\nquery {index}, "
                               f"{maps.height}x{maps.width} maps", fontsize=7)
        for (x, y), colour in zip(centres, COLOURS):
            axes[row, 0].scatter([x], [y], marker="*", s=70, c=colour, edgecolors="black", linewidths=0.5)
        shown = most_used_bases(maps)
        usage = maps.weights.flatten(1).sum(dim=1) / (maps.height * maps.width)
        for col, k in enumerate(shown, start=1):
            _overlay(axes[row, col], picture, maps.bases[k], size)
            axes[row, col].set_title(f"base map B{k}\nused by {100 * float(usage[k]):.0f}%", fontsize=7)
        near = []
        for col, ((i, j), (x, y), colour) in enumerate(zip(cells, centres, COLOURS), start=1 + BASE_MAPS):
            k, r = nearest_base(maps, i, j)
            near.append((k, r))
            _overlay(axes[row, col], picture, maps.reconstructed[i, j], size)
            axes[row, col].scatter([x], [y], marker="*", s=70, c=colour, edgecolors="black", linewidths=0.5)
            for spine in axes[row, col].spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
            axes[row, col].set_title(f"A at ({i}, {j})\n≈B{k} r {r:.2f} w {float(maps.weights[k, i, j]):.2f}",
                                     fontsize=7)
        mean_r = sum(r for _, r in near) / len(near)
        summary.append(f"{point['dataset']} query {index}: base maps {shown} shown; nearest base of each "
                       f"reconstructed map {[k for k, _ in near]}, correlation {[round(r, 3) for _, r in near]} "
                       f"(mean {mean_r:.3f}; {sum(k in shown for k, _ in near)}/{len(near)} among the shown); "
                       f"largest W_ki per position {float(maps.weights.amax(dim=0).mean()):.3f} on average "
                       f"(uniform: 1/D = {1 / maps.weights.shape[0]:.3f}) "
                       f"({point['cell']})")
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    set_title(figure, manifest, [cell for _, cell, *_ in entries], quantitative=False,
              extra=f"First CSA module (earliest stage), group {GROUP}; first {IMAGES} query images.  Base maps: the "
                    f"{BASE_MAPS} with the largest total adaptive weight; reconstructed maps A_i = sum_k W_ki B_k "
                    "(Eq. 4) at six fixed positions (stars), each titled with its most correlated base map (r, Pearson "
                    "over positions) and that map's weight W_ki (uniform weights: 1/D).")
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
