"""Reading the pretrained weights a paper-scale backbone starts from: torchvision's ImageNet weights
(from the torch hub cache, downloaded once where the network allows) or a state-dict file the user
supplies (`--config pretrained=/path/to/state_dict.pth`).  Every failure is one line saying where
to put the file or what to pass; mapping the keys onto a backbone stays with the backbone's module.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from dmlrepro.errors import UserError


class PretrainedWeightsError(UserError, RuntimeError):
    """The ImageNet weights a paper-scale run needs cannot be had on this machine (a user error:
    the message says where to put them; also a RuntimeError, as it was before UserError existed)."""


def torch_hub_checkpoints() -> Path:
    """Where torchvision looks for (and caches) downloaded weights."""
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


def torchvision_state_dict(weights, name: str, otherwise: str) -> dict[str, Tensor]:
    """The state dict of torchvision's `weights` enum entry (`name` for the message); on failure a
    one-line error naming the file, its URL, the cache folder and `otherwise` (the alternative)."""
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:  # URLError, SSL errors, a read-only cache ...
        raise PretrainedWeightsError(
            f"{name} weights could not be loaded ({type(exc).__name__}): put {Path(weights.url).name} from "
            f"{weights.url} into {torch_hub_checkpoints()}, or {otherwise}") from None


def state_dict_file(source: str | Path, expected: str) -> dict[str, Tensor]:
    """The state dict in the user's file `source`; `expected` says what it should hold."""
    path = Path(source)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file {path} does not exist; pass an existing .pth state dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, a truncated download, a pickled model ...
        raise PretrainedWeightsError(f"pretrained weights file {path} cannot be read as a state dict "
                                     f"({type(exc).__name__}); pass a .pth file holding {expected}") from None
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"pretrained weights file {path} holds a {type(state).__name__}, not a state "
                                     "dict; save model.state_dict() instead")
    return state


def read_pretrained(source: str, weights, name: str, expected: str) -> dict[str, Tensor]:
    """`source` 'imagenet': torchvision's `weights`; anything else: the user's state-dict file."""
    if source == "imagenet":
        return torchvision_state_dict(weights, f"ImageNet {name}",
                                      "pass --config pretrained=/path/to/state_dict.pth")
    return state_dict_file(source, expected)
