"""Compressed self-attention, CSA (001_5fbd5da13318fd56.txt, Eq. 3–7, with channel groups)."""

from __future__ import annotations

from torch import Tensor, nn

from dmlrepro.attention.base import (
    GatedResidualAttention,
    projection,
    require_divisible,
    require_group_index,
    require_positive,
)
from dmlrepro.attention.registry import register_attention
from dmlrepro.cells import GROUP_MODES, require_choice


@register_attention("csa")
class CompressedSelfAttention(GatedResidualAttention):
    """Grouped compressed self-attention as the CSA paper writes it (001_5fbd5da13318fd56.txt,
    "Implementation of CSA module", Eq. 3–7, and the grouping paragraph after Eq. 7).

    "We partition the feature maps into several groups along the channel dimension and perform
    CSA within each group independently" (after Eq. 7). With the default
    ``group_mode="partition"`` group g's M_g (1×1 conv C/G→D) and V_g (1×1 conv C/G→C/G), both
    with bias, read only the g-th block of C/G input channels: each group is a single-group CSA
    of C/G channels. ``group_mode="split_heads"`` reads all C channels in each projection (one
    1×1 conv C→G·D for M, one C→C for V) and splits the outputs into G groups, as the public code
    does with its value conv and base vectors. For each group, with M_g its D maps and V_g its
    C/G value channels:

    - ``B_g = softmax over the HW positions of M_g`` — the D base attention maps (Eq. 3, 6);
    - ``W_g = softmax over the D maps at each position`` — the adaptive weights (Eq. 4, 7);
    - ``E_g = V_g B_gᵀ`` (C/G × D) — the elementary outputs (Eq. 5–6);
    - ``Y_g = E_g W_g`` (C/G × HW) (Eq. 7);

    and the response is the concatenation of the Y_g along channels (the paper fuses nothing:
    "the grouped CSA is very similar to the original CSA, except the channel grouping"). Computing
    E before W is the reordering of Eq. 5; it equals applying the reconstructed map
    ``A_ij = Σ_k W_ki B_kj`` (Eq. 4) to V (Eq. 1), which ``attention_map`` exposes.

    ``bases`` is D per group (paper default 32) and ``groups`` is G (paper default 2).

    Differences from the public code (czyczyyzc/Compressed_Self-Attention, ``PCB_CSA``), which we
    do not follow: its final revision computes M from a 1×1 query conv C→C/4 and a learned,
    orthogonally initialised set of G·D base vectors, L2-normalises both and scales the cosine by
    14, and passes the output through an extra 1×1 ``out_conv``; earlier revisions also applied
    ``torch.inverse(softmax(14·WWᵀ))`` between E and W. The paper has none of these.
    """

    def __init__(self, channels: int, bases: int = 32, groups: int = 2, group_mode: str = "partition") -> None:
        super().__init__()
        require_positive("channels", channels)
        require_positive("bases", bases)
        require_positive("groups", groups)
        require_choice("group_mode", group_mode, GROUP_MODES)
        require_divisible("channels", channels, "groups", groups)
        self.channels = channels
        self.bases = bases
        self.groups = groups
        self.group_mode = group_mode
        self.maps = projection(channels, groups * bases, groups, group_mode)
        self.value = projection(channels, channels, groups, group_mode)

    def base_maps_and_weights(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, W)``, each ``[batch, G, D, HW]``: B sums to 1 over positions, W over the D maps."""
        maps = self.maps(x).flatten(2).unflatten(1, (self.groups, self.bases))
        return maps.softmax(dim=-1), maps.softmax(dim=2)

    def grouped_value(self, x: Tensor) -> Tensor:
        """V split into its channel groups, ``[batch, G, C/G, HW]``."""
        return self.value(x).flatten(2).unflatten(1, (self.groups, self.channels // self.groups))

    def response(self, x: Tensor) -> Tensor:
        """``Y`` of Eq. 7 for all groups, ``[B, C, H, W]``, computed as E then W (Eq. 5)."""
        base_maps, weights = self.base_maps_and_weights(x)
        elementary = self.grouped_value(x) @ base_maps.transpose(-1, -2)
        return (elementary @ weights).reshape(x.shape)

    def attention_map(self, x: Tensor, group: int = 0) -> Tensor:
        """The reconstructed map ``A_ij = Σ_k W_ki B_kj`` (Eq. 4) of one group, ``[B, HW, HW]``.

        Built only for visualisation and tests: the forward pass never forms it.
        """
        require_group_index(group, self.groups)
        base_maps, weights = self.base_maps_and_weights(x)
        return weights[:, group].transpose(-1, -2) @ base_maps[:, group]
