"""CSALR Figure 4 (000_6bea8c3e96cdf0f5.txt Sec. 4.8): for a few selected points of a test image,
the original attention map (Eq. 10) beside the map reconstructed from landmarks (W·B, Eq. 14),
computed by the first CSALR module of a trained cell.

`python -m dmlrepro.figures.attention_maps --model results/cells/<cell>/seed0/model.pt --out fig4.png`,
or, as the workflow calls every renderer, `--manifest-json '<manifest>'` (dmlrepro.figures.manifest)
naming the one cell.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from dmlrepro.atomic_io import atomic_write  # noqa: E402
from dmlrepro.data import build_reid_dataset, build_transforms  # noqa: E402
from dmlrepro.data.image_dataset import ImageDataset  # noqa: E402
from dmlrepro.errors import UserError  # noqa: E402
from dmlrepro.models.build import build_reid_model  # noqa: E402
from dmlrepro.training.divergence import require_weights  # noqa: E402

#: Selected points as fractions of (height, width): head, chest, waist, knees.
POINTS = ((0.15, 0.5), (0.35, 0.3), (0.55, 0.6), (0.8, 0.4))
COLOURS = ("red", "lime", "cyan", "yellow")


#: The figure that draws each attention's maps, for the refusal of a cell of another attention.
FIGURE_OF = {"csalr": "Figure 4 needs a CSALR cell", "csa": "CSA Figure 5 needs a CSA cell"}


def load_trained(path: Path, attention: str = "csalr"):
    """(model in eval mode, cell) of a trained cell's model.pt whose attention is `attention`."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    require_weights(state, path)  # a diverged run's model.pt has none (training/divergence.py)
    cell = state["cell"]
    if cell["attention"] != attention:
        raise UserError(f"{path}: {FIGURE_OF[attention]}, this one has attention={cell['attention']!r}")
    model = build_reid_model(cell, state["num_classes"], load_pretrained=False)
    if state.get("refined"):
        model.refine()
    model.load_state_dict(state["model"])
    return model.eval(), cell


@torch.no_grad()
def attention_at_first_module(model, image: torch.Tensor, group: int = 0):
    """(original n×n, reconstructed n×n, map height, map width) at the first attention stage."""
    module, x = first_module_input(model, image)
    return module.full_attention(x, group)[0], module.reconstructed_attention(x, group)[0], x.shape[2], x.shape[3]


@torch.no_grad()
def first_module_input(model, image: torch.Tensor):
    """(the attention module after the earliest attention stage, its input feature map [1, C, h, w])
    for one normalised image [3, H, W]: the stages before it run with their own modules."""
    body = model.body
    first = min(int(k) for k in body.attention)
    x = body.backbone.stem(image[None])
    for index, stage in enumerate(body.backbone.stages(), start=1):
        x = stage(x)
        if index == first:
            break
        if str(index) in body.attention:
            x = body.attention[str(index)](x).out
    return body.attention[str(first)], x


def draw(image: torch.Tensor, original: torch.Tensor, reconstructed: torch.Tensor, height: int, width: int, caption: str):
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    picture = (image * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    size = image.shape[1:]
    figure, axes = plt.subplots(2, len(POINTS) + 1, figsize=(2.0 * (len(POINTS) + 1), 6.4))
    for row, (name, maps) in enumerate((("original", original), ("reconstructed", reconstructed))):
        axes[row, 0].imshow(picture)
        axes[row, 0].set_title("image" if row == 0 else "")
        for (py, px), colour in zip(POINTS, COLOURS):
            axes[row, 0].scatter([px * size[1]], [py * size[0]], c=colour, s=30, edgecolors="black")
        for col, ((py, px), colour) in enumerate(zip(POINTS, COLOURS), start=1):
            index = int(py * height) * width + int(px * width)
            heat = maps[index].reshape(1, 1, height, width)
            heat = F.interpolate(heat, size=tuple(size), mode="bilinear", align_corners=False)[0, 0]
            axes[row, col].imshow(picture)
            axes[row, col].imshow(heat.numpy(), cmap="jet", alpha=0.55)
            axes[row, col].scatter([px * size[1]], [py * size[0]], c=colour, s=30, edgecolors="black")
            axes[row, col].set_title(f"{name}", fontsize=8)
    for axis in axes.flat:
        axis.axis("off")
    error = float((reconstructed - original).norm() / original.norm())
    figure.suptitle(f"{caption}\nrelative error ‖WB − A‖/‖A‖ = {error:.3f}", fontsize=8)
    figure.tight_layout()
    return figure, error


def _from_manifest(args) -> tuple[Path, str]:
    """(model.pt, caption) of the one cell a manifest names."""
    from dmlrepro.figures.manifest import load_manifest, model_path

    manifest = load_manifest(args.manifest_json, args.manifest)
    found = [(panel, series, point) for panel in manifest["panels"] for series in panel["series"]
             for point in series["points"]]
    if len(found) != 1:
        raise UserError(f"{manifest['figure']}: attention maps of CSALR draw one cell, the manifest names {len(found)}")
    return model_path(manifest, *found[0]), manifest["caption"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--manifest", help="the figure manifest (JSON file), instead of --model")
    parser.add_argument("--manifest-json", help="the figure manifest as JSON text, instead of --model")
    parser.add_argument("--out", required=True)
    parser.add_argument("--caption", default="Original vs reconstructed attention maps")
    parser.add_argument("--query-index", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="accepted for the workflow's common call; the maps run on CPU")
    args = parser.parse_args(argv)
    if args.model is None:
        args.model, args.caption = _from_manifest(args)
    model, cell = load_trained(Path(args.model))
    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    height, width = cell["training"]["input_size"]
    image, _, _ = ImageDataset(data.query, build_transforms(height, width, train=False))[args.query_index]
    original, reconstructed, map_h, map_w = attention_at_first_module(model, image)
    figure, error = draw(image, original, reconstructed, map_h, map_w, f"{args.caption} [{cell['scale']} scale]")
    atomic_write(args.out, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    print(f"wrote {args.out} (relative reconstruction error {error:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
