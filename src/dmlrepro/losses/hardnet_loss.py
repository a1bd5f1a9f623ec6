"""HardNet loss: the hardest in-batch negative with anchor swap and margin 1 (Mishchuk et al., NIPS
2017), the main loss of the "HardNet" rows of Tables 7–8 (001_5fbd5da13318fd56.txt, "Local
Descriptor Learning": "The main loss L_main is the same as the original method").

A batch is n matching pairs (a_i, p_i) of L2-normalised descriptors, every pair from a different
3-D point. With the distance matrix D_ij = d(a_i, p_j):

    L = 1/n sum_i max(0, margin + D_ii - min(min_{j != i} D_ij, min_{k != i} D_ki))

The inner minimum over row i (the positives closest to a_i) is the hardest negative of anchor a_i;
the one over column i (the anchors closest to p_i) is "anchor swap", which lets p_i play the anchor.

Taken from the authors' code (``DagnyT/hardnet``, ``code/Losses.py``: ``distance_matrix_vector``
and ``loss_HardNet`` with ``batch_reduce='min'``, ``loss_type='triplet_margin'``), read, not copied:

* ``D_ij = sqrt(|a_i|^2 + |p_j|^2 - 2 a_i.p_j + 1e-6) + 1e-8``: the 1e-6 inside the square root
  keeps the gradient finite when a_i = p_j; ``eps`` is that constant.
* A negative closer than 0.008 (``near_duplicate``) is taken for the same patch under another
  3-D point id and is not used: the code adds 10 to such entries (and to the diagonal) before the
  minimum rather than removing them, which is the same thing whenever a row keeps one entry
  below 10 (distances between unit vectors are at most 2); this module does the same.
* The mean is over all n pairs, zero terms included.

Called as ``loss(anchors, positives)`` (two float ``(n, dim)`` tensors) or, like the package's
other losses, ``loss(embeddings, labels)`` with every label exactly twice: the first embedding of a
label is its anchor, the second its positive (``as_pairs``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.errors import UserError
from dmlrepro.losses.common import check_batch, check_non_negative, check_positive
from dmlrepro.losses.registry import register_loss

#: What the diagonal and the near-duplicates get added before the minimum (the authors' constant).
MASK_PENALTY = 10.0


def as_pairs(first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
    """``(anchors, positives)`` from either form of the call: two float tensors, returned as they
    are; or embeddings and integer labels with every label exactly twice, split into the first and
    the second embedding of each label (labels in order of first appearance)."""
    if isinstance(second, Tensor) and not second.is_floating_point():
        labels = check_batch(first, second)
        _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        if not bool((counts == 2).all()):
            raise UserError("a pair loss needs every label exactly twice in the batch (two patches of "
                            "each 3-D point); pass (anchors, positives) or pair the labels")
        # Rows grouped by label, each label's two rows in their batch order.
        order = torch.argsort(inverse, stable=True)
        first_rows, second_rows = order[0::2], order[1::2]
        by_appearance = torch.argsort(first_rows)
        first_rows, second_rows = first_rows[by_appearance], second_rows[by_appearance]
        return first[first_rows], first[second_rows]
    check_pairs(first, second)
    return first, second


def check_pairs(anchors: Tensor, positives: Tensor) -> None:
    """Two float ``(n, dim)`` tensors of the same shape with n >= 2 (a pair needs a negative)."""
    for name, x in (("anchors", anchors), ("positives", positives)):
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim != 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise UserError(f"{name} must be a (n, dim) float tensor of descriptors, got {shape}")
    if anchors.shape != positives.shape:
        raise UserError(f"anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} must "
                        f"have the same shape: row i of each is one matching pair")
    if anchors.shape[0] < 2:
        raise UserError("a pair batch needs at least 2 pairs: the other pairs are the negatives")


def hardest_negatives(distances: Tensor, near_duplicate: float, anchor_swap: bool) -> Tensor:
    """The hardest negative distance of each pair i, ``(n,)``: the minimum over row i (and, with
    anchor swap, column i) of ``distances`` without the diagonal and without entries below
    ``near_duplicate`` — which, as in the authors' code, get ``MASK_PENALTY`` added rather than
    being removed."""
    eye = torch.eye(distances.shape[0], dtype=distances.dtype, device=distances.device)
    masked = distances + MASK_PENALTY * eye
    masked = masked + MASK_PENALTY * (masked < near_duplicate).to(distances.dtype)
    hardest = masked.min(dim=1).values
    if anchor_swap:
        hardest = torch.minimum(hardest, masked.min(dim=0).values)
    return hardest


@register_loss("hardnet")
class HardNetLoss(nn.Module):
    """Triplet margin loss on the hardest in-batch negative (HardNet).

    Args:
        margin: the margin (1.0).
        anchor_swap: also take the negatives closest to the positive (HardNet's default, True).
        near_duplicate: negatives closer than this are skipped (0.008).
        eps: added under the square root of the distance (1e-6).

    ``forward(anchors, positives)`` takes two ``(n, dim)`` tensors, row i of each from the same
    3-D point and rows of different points otherwise, and returns the scalar loss; ``forward(
    embeddings, labels)`` with every label twice is the same loss on the pairs ``as_pairs`` forms.
    """

    def __init__(self, margin: float = 1.0, anchor_swap: bool = True, near_duplicate: float = 0.008,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.margin = check_non_negative(margin, "margin")
        self.anchor_swap = bool(anchor_swap)
        self.near_duplicate = check_non_negative(near_duplicate, "near_duplicate")
        self.eps = check_positive(eps, "eps")

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, anchor_swap={self.anchor_swap}, "
                f"near_duplicate={self.near_duplicate}, eps={self.eps}")

    def distances(self, anchors: Tensor, positives: Tensor) -> Tensor:
        """``D_ij`` as the authors' code computes it (Gram identity, eps under the root, +1e-8)."""
        squared = (anchors * anchors).sum(1, keepdim=True) + (positives * positives).sum(1)[None, :] \
            - 2.0 * anchors @ positives.T
        return torch.sqrt(squared + self.eps) + 1e-8

    def forward(self, anchors: Tensor, positives: Tensor) -> Tensor:
        anchors, positives = as_pairs(anchors, positives)
        distances = self.distances(anchors, positives)
        hardest = hardest_negatives(distances, self.near_duplicate, self.anchor_swap)
        return torch.clamp(self.margin + distances.diagonal() - hardest, min=0.0).mean()
