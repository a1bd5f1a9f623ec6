"""torchvision's ImageNet GoogLeNet weights mapped onto AiA-Net's backbone (002_e585b7ac4801a221.txt,
Sec. 4.4: "GoogLeNet-V1 [71], pretrained on ImageNet [72] with Batch Normalization [73]").

No ImageNet weights of the public code's BN-GoogLeNet are published (models/googlenet_bn.py), but
torchvision's ``googlenet`` *is* a BN-GoogLeNet with ImageNet weights (``GoogLeNet_Weights.
IMAGENET1K_V1``).  It differs from the public code's network in three places that decide the
shapes: its "5×5" branches are 3×3 convolutions, 4a's 3×3 branch has 208 filters (not 204), 5a's
5×5-reduce has 32 (not 48) and its convolutions have no bias (BN eps 1e-3).
``GoogLeNetBN(variant="torchvision")`` is the public code's network with those choices made
torchvision's way, so every convolution and
BN of torchvision's network has a place, one to one:

================================  ==========================================
torchvision key                   GoogLeNetBN key
================================  ==========================================
``conv1``, ``conv2``, ``conv3``   ``blk1.conv1``, ``blk1.conv2``, ``blk1.conv3``
``inception3a``, ``3b``           ``blk2.inception3a``, ``blk2.inception3b``
``inception4a`` – ``4e``          ``blk3.inception4a`` – ``blk3.inception4e``
``inception5a``, ``5b``           ``blk4.inception5a``, ``blk4.inception5b``
``*.conv.weight``, ``*.bn.*``     the same suffixes (branch indices equal)
================================  ==========================================

``aux1``, ``aux2`` and ``fc`` (the ImageNet heads) are dropped; the convolution biases, which
torchvision's convolutions do not have, are zero except conv1's (below).  The pooling layers stay
the public code's (torchvision pools with ``ceil_mode`` and a 2×2 pool before 5a), which changes
map sizes but no weight.

Input normalisation: torchvision's pretrained GoogLeNet re-normalises its ImageNet-normalised input
to (x − 0.5)/0.5 first (``transform_input=True``); that per-channel affine map is folded into
conv1 (weights scaled per input channel, the shift added to its bias), so the mapped network
takes this repository's ImageNet-normalised images.  The fold is exact away from the image border
(torchvision pads the re-normalised image with zeros, the folded conv pads the original one).
"""

from __future__ import annotations

import torch
from torch import Tensor

from dmlrepro.models.pretrained_weights import PretrainedWeightsError, torchvision_state_dict

#: torchvision top-level module → GoogLeNetBN module prefix.
PREFIXES = {
    "conv1": "blk1.conv1", "conv2": "blk1.conv2", "conv3": "blk1.conv3",
    **{f"inception{m}": f"blk2.inception{m}" for m in ("3a", "3b")},
    **{f"inception{m}": f"blk3.inception{m}" for m in ("4a", "4b", "4c", "4d", "4e")},
    **{f"inception{m}": f"blk4.inception{m}" for m in ("5a", "5b")},
}
#: Modules of torchvision's network that AiA-Net does not use.
DROPPED = ("aux1.", "aux2.", "fc.")
#: torchvision's ``GoogLeNet._transform_input``: x_c ← x_c · std_c / 0.5 + (mean_c − 0.5) / 0.5.
_TV_MEAN = (0.485, 0.456, 0.406)
_TV_STD = (0.229, 0.224, 0.225)


def map_torchvision_state(state: dict[str, Tensor], fold_transform_input: bool = True) -> dict[str, Tensor]:
    """The GoogLeNetBN(variant="torchvision") state dict of torchvision's GoogLeNet ``state``
    (module docstring); a key with no place is an error naming it."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith(DROPPED):
            continue
        top, _, rest = key.partition(".")
        if top not in PREFIXES:
            raise PretrainedWeightsError(f"torchvision GoogLeNet key {key!r} has no place in AiA-Net's backbone; "
                                         "pass torchvision's googlenet state dict (GoogLeNet_Weights.IMAGENET1K_V1)")
        out[f"{PREFIXES[top]}.{rest}"] = value.clone()
        if rest.endswith("conv.weight"):
            out[f"{PREFIXES[top]}.{rest[: -len('weight')]}bias"] = torch.zeros(value.shape[0], dtype=value.dtype)
    if fold_transform_input:
        weight = out["blk1.conv1.conv.weight"]
        scale = torch.tensor(_TV_STD, dtype=weight.dtype) / 0.5
        shift = (torch.tensor(_TV_MEAN, dtype=weight.dtype) - 0.5) / 0.5
        out["blk1.conv1.conv.bias"] = out["blk1.conv1.conv.bias"] + (weight * shift[None, :, None, None]).sum(dim=(1, 2, 3))
        out["blk1.conv1.conv.weight"] = weight * scale[None, :, None, None]
    return out


def torchvision_imagenet_state() -> dict[str, Tensor]:
    """torchvision's ImageNet GoogLeNet state dict, from the torch hub cache (or downloaded once);
    a one-line error saying where to put the file when neither works."""
    from torchvision.models import GoogLeNet_Weights

    return torchvision_state_dict(GoogLeNet_Weights.IMAGENET1K_V1, "torchvision's ImageNet GoogLeNet",
                                  "use --config pretrained=none")


def load_torchvision_googlenet(backbone, state: dict[str, Tensor] | None = None) -> None:
    """Load torchvision's ImageNet GoogLeNet (or ``state``, a torchvision-shaped state dict) into
    ``backbone``, a full-width ``GoogLeNetBN(variant="torchvision")``; strictly."""
    if getattr(backbone, "variant", None) != "torchvision" or backbone.width_divisor != 1:
        raise PretrainedWeightsError("torchvision's GoogLeNet weights fit backbone variant torchvision at "
                                     "width_divisor 1 only; set backbone.variant: torchvision in config/presets/aianet.yaml")
    mapped = map_torchvision_state(torchvision_imagenet_state() if state is None else state)
    missing, unexpected = backbone.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise PretrainedWeightsError(f"torchvision GoogLeNet weights do not fit the backbone: missing {missing[:3]}, "
                                     f"unexpected {unexpected[:3]}")
