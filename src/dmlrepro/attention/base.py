"""The gated residual shared by every attention module (000_6bea8c3e96cdf0f5.txt, Eq. 2 and 17;
001_5fbd5da13318fd56.txt, Eq. 7): ``O = I + α · response(I)`` with α a learned scalar initialised
to 0, so that a freshly built module is the identity and a pretrained backbone is undisturbed.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class AttentionOutput(NamedTuple):
    """What an attention module returns.

    ``out`` is the gated residual ``x + α · response``. ``response`` is the attention term before
    the residual; the deep-supervision branch multiplies it element-wise with the module's input
    (000_6bea8c3e96cdf0f5.txt, Sec. 3.3: "we implement deep supervision before the residual
    connection"), so it is returned as well.
    """

    out: Tensor
    response: Tensor


class GatedResidualAttention(nn.Module):
    """Base class: subclasses implement ``response(x)``, a map from ``[B, C, H, W]`` to itself."""

    def __init__(self) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1))

    def response(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> AttentionOutput:
        response = self.response(x)
        return AttentionOutput(out=x + self.alpha * response, response=response)


def require_positive(name: str, value: int) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def require_divisible(name: str, value: int, divisor_name: str, divisor: int) -> None:
    """Raise ``ValueError`` naming both parameters unless ``divisor`` divides ``value``."""
    if value % divisor != 0:
        raise ValueError(f"{name}={value} must be divisible by {divisor_name}={divisor}")


def require_group_index(group: int, groups: int) -> None:
    """Raise ``ValueError`` unless ``0 <= group < groups``."""
    if not 0 <= group < groups:
        raise ValueError(f"group must be in [0, {groups}), got {group}")
