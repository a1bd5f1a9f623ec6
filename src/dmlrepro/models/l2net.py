"""L2-Net as HardNet and RAL-Net train it, with an optional SA or CSA module after its 3rd layer
(001_5fbd5da13318fd56.txt, "Local Descriptor Learning", Implementation Details: "We use L2Net ...
as the main network ... we place the CSA module on the 3rd layer of L2Net without deep supervision
and channel grouping").

The network (the authors' code: ``DagnyT/hardnet`` ``code/HardNet.py`` class ``HardNet`` and
``xuyanwu/RAL-Net`` ``RAL_net_cov.py``, the same layers; read, not copied):

    input 1×32×32 → per-patch (x − mean) / (std + 1e-7)
    1  conv3×3 1→32               BN ReLU   32×32
    2  conv3×3 32→32              BN ReLU   32×32
    3  conv3×3 32→64, stride 2    BN ReLU   16×16     ← attention here (``attention_after=3``)
    4  conv3×3 64→64              BN ReLU   16×16
    5  conv3×3 64→128, stride 2   BN ReLU    8×8
    6  conv3×3 128→128            BN ReLU    8×8
       Dropout(0.3)
    7  conv8×8 128→128            BN         1×1  → flatten → x / sqrt(|x|² + 1e-10)

Every conv has padding 1 (the 8×8 none) and no bias; every BatchNorm is ``affine=False`` (no
parameters), so the network has exactly the conv weights: 1,334,560 parameters
(``L2NET_PARAMETERS``). Convs are initialised orthogonally with gain 0.6, as in both codes. The mean
and std of the per-patch normalisation are detached, and the std is the unbiased one
(``torch.std``), as in the code. The L2-Net paper's own network (``yuruntian/L2-Net``, MatConvNet)
has no dropout and ends with a local response normalisation; HardNet's variant with dropout 0.3 is
the one the HardNet and RAL-Net rows train.

"The 3rd layer": the output of the third conv block (conv, BN, ReLU), 64 channels at 16×16, is
our reading. The module is a gated residual ``x + α·response`` with α = 0 at initialisation
(``dmlrepro.attention.base``), so a freshly built network computes what L2-Net computes. CSA is
built with one group (the paper: no channel grouping); its D base maps default to the CSA paper's
32 (the local-descriptor section does not say). The module's convs keep their own initialisation;
HardNet's orthogonal init is applied to L2-Net's seven convs only (the CSA code for this experiment
is not public).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import torch
from torch import Tensor, nn

from dmlrepro.attention import build_attention
from dmlrepro.cells import require_choice
from dmlrepro.errors import UserError

#: The layer widths ``(in, out, stride)`` of the six 3×3 conv blocks.
CONV_BLOCKS: Final[tuple[tuple[int, int, int], ...]] = (
    (1, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1),
)
#: Attention choices for the local-descriptor rows of Tables 7–8.
L2NET_ATTENTION: Final[tuple[str, ...]] = ("none", "sa", "csa")
#: Parameters of the network without attention, the seven conv weights and nothing else:
#: 9·(1·32 + 32·32 + 32·64 + 64·64 + 64·128 + 128·128) + 64·128·128 = 285,984 + 1,048,576.
L2NET_PARAMETERS: Final[int] = 1_334_560
INPUT_SIZE: Final[int] = 32
DESCRIPTOR_SIZE: Final[int] = 128


class L2Net(nn.Module):
    """L2-Net (HardNet's variant) producing 128-d unit descriptors of 32×32 grey patches.

    Args:
        attention: ``none``, ``sa`` or ``csa``.
        attention_params: keyword arguments of the attention module (``bases`` for CSA,
            ``qk_reduction`` for SA); CSA gets ``groups=1`` unless given.
        attention_after: the conv block (1–6) whose output the module refines (3).
        dropout: dropout before the 8×8 conv (0.3, HardNet's).
        init_gain: gain of the orthogonal init of the convs (0.6).

    ``forward(x)`` takes ``(B, 1, 32, 32)`` float patches (any scale: each patch is normalised to
    zero mean and unit std first) and returns ``(B, 128)`` unit descriptors.
    """

    def __init__(self, attention: str = "none", attention_params: Mapping[str, Any] | None = None,
                 attention_after: int = 3, dropout: float = 0.3, init_gain: float = 0.6) -> None:
        super().__init__()
        require_choice("attention", attention, L2NET_ATTENTION)
        if isinstance(attention_after, bool) or not isinstance(attention_after, int) or \
                not 1 <= attention_after <= len(CONV_BLOCKS):
            raise UserError(f"attention_after must be a conv block 1..{len(CONV_BLOCKS)}, got {attention_after!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise UserError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.attention_name = attention
        self.attention_after = attention_after
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
                          nn.BatchNorm2d(cout, affine=False), nn.ReLU())
            for cin, cout, stride in CONV_BLOCKS)
        self.dropout = nn.Dropout(float(dropout))
        self.head = nn.Conv2d(128, DESCRIPTOR_SIZE, kernel_size=8, bias=False)
        self.head_bn = nn.BatchNorm2d(DESCRIPTOR_SIZE, affine=False)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.orthogonal_(module.weight, gain=init_gain)
        # Built after the init loop: the module's own convs keep their own initialisation.
        self.attention: nn.Module | None = None
        if attention != "none":
            params = dict(attention_params or {})
            if attention == "csa":
                params.setdefault("groups", 1)
            channels = CONV_BLOCKS[attention_after - 1][1]
            self.attention = build_attention(attention, channels, **params)

    @staticmethod
    def normalise(x: Tensor) -> Tensor:
        """Per-patch ``(x − mean) / (std + 1e-7)`` with the statistics detached (HardNet's
        ``input_norm``; std unbiased)."""
        flat = x.flatten(1)
        mean = flat.mean(dim=1).detach()
        std = flat.std(dim=1).detach() + 1e-7
        return (x - mean[:, None, None, None]) / std[:, None, None, None]

    def feature_map(self, x: Tensor) -> Tensor:
        """The 128×8×8 map after conv block 6 (attention included), before dropout and the head."""
        check_patches(x)
        x = self.normalise(x)
        for index, block in enumerate(self.blocks, start=1):
            x = block(x)
            if self.attention is not None and index == self.attention_after:
                x = self.attention(x).out
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.head_bn(self.head(self.dropout(self.feature_map(x)))).flatten(1)
        return x / torch.sqrt((x * x).sum(dim=1, keepdim=True) + 1e-10)

    def load_hardnet_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load weights saved by the HardNet code (its ``nn.Sequential`` ``features.N.*`` keys,
        e.g. ``pretrained/train_liberty_with_aug/checkpoint_liberty_with_aug.pth``'s
        ``state_dict``), strictly: every key of the attention-free network must be matched."""
        renamed = {}
        for key, value in state_dict.items():
            prefix, _, rest = key.partition(".")
            index, _, name = rest.partition(".")
            if prefix != "features" or not index.isdigit():
                raise UserError(f"{key!r} is not a HardNet weight (expected features.<index>.<name>)")
            target = HARDNET_SEQUENTIAL_INDEX.get(int(index))
            if target is None:
                raise UserError(f"{key!r}: HardNet's features.{index} has no weights in L2-Net")
            renamed[f"{target}.{name}"] = value
        missing, unexpected = self.load_state_dict(renamed, strict=False)
        missing = [k for k in missing if not k.startswith("attention.")]
        if missing or unexpected:
            raise UserError(f"HardNet weights do not fit L2-Net: missing {missing}, unexpected {unexpected}")


#: HardNet's ``features`` Sequential index → this module's name (conv, BN of block k at 3k, 3k+1;
#: ReLUs and the dropout at 18 carry no weights; the 8×8 conv and its BN at 19, 20).
HARDNET_SEQUENTIAL_INDEX: Final[dict[int, str]] = {
    **{3 * k: f"blocks.{k}.0" for k in range(len(CONV_BLOCKS))},
    **{3 * k + 1: f"blocks.{k}.1" for k in range(len(CONV_BLOCKS))},
    19: "head",
    20: "head_bn",
}


def check_patches(x: Tensor) -> None:
    """``(B, 1, 32, 32)`` float, else a one-line ``UserError`` saying how to fix the input."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim != 4 or x.shape[1] != 1 or \
            tuple(x.shape[2:]) != (INPUT_SIZE, INPUT_SIZE):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise UserError(f"L2-Net takes (batch, 1, 32, 32) float patches, got {shape}: resize the patches "
                        f"to 32×32 (HardNet resizes Brown's 64×64 and HPatches' 65×65 patches to 32)")
