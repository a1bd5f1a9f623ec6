"""The gated residual shared by every attention module (000_6bea8c3e96cdf0f5.txt, Eq. 2 and 17;
001_5fbd5da13318fd56.txt, Eq. 7): ``O = I + α · response(I)`` with α a learned scalar initialised
to 0, so that a freshly built module is the identity and a pretrained backbone is undisturbed.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from dmlrepro.cells import GROUP_MODES, require_choice
from dmlrepro.errors import UserError


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
    """Raise ``UserError`` naming ``name`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{name} must be a positive integer, got {value!r}")


def require_divisible(name: str, value: int, divisor_name: str, divisor: int) -> None:
    """Raise ``UserError`` naming both parameters unless ``divisor`` divides ``value``."""
    if value % divisor != 0:
        raise UserError(f"{name}={value} must be divisible by {divisor_name}={divisor}")


def require_group_index(group: int, groups: int) -> None:
    """Raise ``UserError`` unless ``0 <= group < groups``."""
    if not 0 <= group < groups:
        raise UserError(f"group must be in [0, {groups}), got {group}")


def projection(channels: int, out_channels: int, groups: int, group_mode: str) -> nn.Conv2d:
    """A 1×1 convolution C→C_out with bias, grouped by ``group_mode`` (``dmlrepro.cells.GROUP_MODES``).

    How a multi-head module forms its G groups (000_6bea8c3e96cdf0f5.txt, Sec. 3.2, last
    paragraph; 001_5fbd5da13318fd56.txt, the paragraph after Eq. 7): with ``partition``, the
    papers' reading, output channels [g·C_out/G, (g+1)·C_out/G) read only input channels
    [g·C/G, (g+1)·C/G), so splitting the output into G consecutive blocks gives each group its
    own projection of its own channels; with ``split_heads`` every output channel reads all C.
    """
    require_choice("group_mode", group_mode, GROUP_MODES)
    return nn.Conv2d(channels, out_channels, kernel_size=1, groups=groups if group_mode == "partition" else 1)
