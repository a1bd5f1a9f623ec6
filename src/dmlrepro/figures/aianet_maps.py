"""AiA-Net's attention heat maps (002_e585b7ac4801a221.txt Fig. 8: "the feature map from
Lin-attention and its alternatives (e.g., SE block and NL block)", one row per series; Fig. 9: "(1) the input person image,
(2) the input feature map to attention and (3) the masked feature map.  The heat maps are
generated in AiA-Net with Gau-attention"), from each dataset's trained cell (model.pt).

For the first query image of each dataset (the paper does not say which it shows), the input X
of the attention block after Blk 2 (the block Table 8 describes, 480x16x8 at 256x128; the earliest
one where the cell has no block at Blk 2) and its output X^z are reduced to one heat map each by
the mean over channels (the paper does not say how it draws a map), min-max scaled and upsampled
bilinearly onto the image.  The paper's black/red rectangles are its authors' annotations and
are not drawn.

A figure is one model: on a dataset with numbered splits (CUHK03 vanilla, whose tables average
over them: dmlrepro.tables.splits) it draws the split its cell trained on (`split`, 0 when the
cell names none), reads that split's query image, and says which split in the panel titles and
the summary; it never averages maps over splits.

`python -m dmlrepro.figures.aianet_maps --manifest-json '<manifest>' --out fig9.png`
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dmlrepro.errors import UserError
from dmlrepro.figures.manifest import model_path
from dmlrepro.figures.plotting import PANEL_LETTERS, dataset_name, main_guard, set_title, subplots
from dmlrepro.training.divergence import require_weights

MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
#: The block whose attention is drawn when the cell has one there (Table 8's 480x16x8 input).
PREFERRED_STAGE = 2


def load_aianet_cell(path, device: str = "cpu"):
    """(eval-mode AiA-Net, its cell) from a model.pt the AiA-Net trainer wrote."""
    from dmlrepro.training.aianet_parts import build_model

    state = torch.load(path, map_location=device, weights_only=False)
    require_weights(state, path)  # a diverged run's model.pt has none (training/divergence.py)
    cell = state["cell"]
    if cell.get("family") not in ("aianet", "aianet_v"):
        raise UserError(f"{path}: not an AiA-Net cell (family {cell.get('family')!r}); this figure draws AiA-Net attention")
    model = build_model(cell, state["num_classes"], load_pretrained=False)
    model.load_state_dict(state["model"])
    return model.eval().to(device), cell


@torch.no_grad()
def attention_input_output(model, image: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(stage, X [C, h, w], X^z [C, h, w]) of the drawn attention block for one normalised image."""
    from dmlrepro.models.aianet import _attended

    if not len(model.attention):
        raise UserError("the cell's model has no attention block (attention: none); this figure needs one")
    stages = sorted(int(k) for k in model.attention)
    drawn = PREFERRED_STAGE if PREFERRED_STAGE in stages else stages[0]
    x = model.backbone.stem(image[None].to(next(model.parameters()).device))
    for index, stage in enumerate(model.backbone.stages(), start=1):
        x = stage(x)
        if str(index) in model.attention:
            out = _attended(model.attention[str(index)], x)
            if index == drawn:
                return drawn, x[0].cpu(), out[0].cpu()
            x = out
    raise AssertionError("unreachable")


def heat(feature: torch.Tensor, size) -> torch.Tensor:
    """Channel mean, min-max scaled to [0, 1], upsampled to `size`."""
    m = feature.float().mean(dim=0)
    m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-12)
    return F.interpolate(m[None, None], size=tuple(size), mode="bilinear", align_corners=False)[0, 0]


def draw(manifest: dict, device: str | None = "cpu"):
    from dmlrepro.data import ImageDataset, build_transforms
    from dmlrepro.tasks.reid import SPLIT_DATASETS, load_reid_data

    entries = []
    for panel in manifest["panels"]:
        for series in panel["series"]:
            for point in series["points"]:
                model, cell = load_aianet_cell(model_path(manifest, panel, series, point), "cpu")
                height, width = cell["training"]["input_size"]
                split = int(cell.get("split", 0))  # the split the model trained on (one model: no mean)
                data = load_reid_data(cell["dataset"], cell["data_root"], split)
                image = ImageDataset(data.query[:1], build_transforms(height, width, train=False))[0][0]
                point = {**point, "label": series.get("label"),
                         "split": f" (split {split})" if cell["dataset"] in SPLIT_DATASETS else ""}
                entries.append((point, cell, image, *attention_input_output(model, image)))
    figure, axes = subplots(len(entries), 3, 6.0, 2.6 * len(entries) + 1.2)
    summary = []
    for row, (letter, (point, cell, image, stage, x, xz)) in enumerate(zip(PANEL_LETTERS, entries)):
        picture = (image * STD + MEAN).clamp(0, 1).permute(1, 2, 0).numpy()
        size = image.shape[1:]
        panels = (("input image", None), (f"input X (Blk {stage})", x), ("masked X^z", xz))
        for col, (name, feature) in enumerate(panels):
            axes[row, col].imshow(picture)
            if feature is not None:
                axes[row, col].imshow(heat(feature, size).numpy(), cmap="jet", alpha=0.55)
            label = f"{point['label']}, " if point.get("label") else ""
            axes[row, col].set_title(f"({letter}) {label}{dataset_name(point['dataset'])}{point['split']}: {name}" if col == 0 else name,
                                     fontsize=7)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        summary.append(f"{point['dataset']}{point['split']}: attention after Blk {stage}, {tuple(x.shape)} ({point['cell']})")
    set_title(figure, manifest, [e[1] for e in entries], quantitative=False,
              extra="First query image of each dataset; channel-mean heat maps of the attention block's input and "
                    "output (after Blk 2 where the cell has a block there), min-max scaled.")
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
