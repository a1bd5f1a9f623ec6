"""Robust angular loss of RAL-Net (Xu, Gong, Liu, Batmanghelich, Wang; ACCV 2018, arXiv 1901.07076),
the main loss of the "RALNet" rows of Tables 7–8 (001_5fbd5da13318fd56.txt, "Local Descriptor
Learning"; the CSA paper's related work calls it "a robust angular loss to tackle the incorrect
correspondences").

The CSA paper gives no formula. What the RAL-Net paper's abstract states: the loss "uses cosine
similarity instead of L2 distance to compare descriptors" and "gives smaller penalty to triplets
with negative relative similarity" (a bounded penalty). The authors' code (``xuyanwu/RAL-Net``,
``RAL_loss.py``, ``loss_RAL``; read, not copied) makes that precise, and this module follows it:

    D_ij = 2 (1 - a_i . p_j) + 1e-8        (= |a_i - p_j|^2 for unit vectors)
    L    = 1/n sum_i ( 1 + tanh(D_ii - min(min_{j != i} D_ij, min_{k != i} D_ki)) )

with HardNet's hardest in-batch negative and anchor swap (the code says it is "intercepted from
HardNet"), negatives with D < 0.000064 (= 0.008², the HardNet threshold on the squared scale)
skipped, and the mean over all n pairs. The +1 only shifts the value into [0, 2]; the gradient is
that of tanh, which saturates for a pair whose negative is much closer than its positive — the
"robust" part (a mislabelled pair cannot dominate), where the margin loss grows linearly.

Assumed, because the paper's own equation was not available to us (only its abstract and the code
were): that the printed loss is this code's, including the factor 2 in D (``scale``; a reading with
``D = 1 - cos`` is ``scale=1``), and that there is no margin inside the tanh. The code takes
``a . p`` of the network's L2-normalised outputs as the cosine and does not normalise again; nor
does this module (on descriptors that are not unit vectors it is ``scale (1 - a.p)``, not a cosine).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dmlrepro.losses.common import check_non_negative, check_positive
from dmlrepro.losses.hardnet_loss import as_pairs, hardest_negatives
from dmlrepro.losses.registry import register_loss


@register_loss("ral")
class RALLoss(nn.Module):
    """RAL-Net's robust angular loss on the hardest in-batch negative.

    Args:
        anchor_swap: also take the negatives closest to the positive (the code always does; True).
        near_duplicate: negatives with D below this are skipped (0.000064).
        scale: D = scale · (1 − a·p) (2.0, the code's; 1.0 is the plain cosine distance).

    ``forward(anchors, positives)`` takes two ``(n, dim)`` tensors of L2-normalised descriptors, row
    i of each from the same 3-D point, and returns the scalar loss; ``forward(embeddings, labels)``
    with every label twice is the same loss on the pairs ``hardnet_loss.as_pairs`` forms.
    """

    def __init__(self, anchor_swap: bool = True, near_duplicate: float = 0.000064, scale: float = 2.0) -> None:
        super().__init__()
        self.anchor_swap = bool(anchor_swap)
        self.near_duplicate = check_non_negative(near_duplicate, "near_duplicate")
        self.scale = check_positive(scale, "scale")

    def extra_repr(self) -> str:
        return f"anchor_swap={self.anchor_swap}, near_duplicate={self.near_duplicate}, scale={self.scale}"

    def distances(self, anchors: Tensor, positives: Tensor) -> Tensor:
        """``D_ij = scale (1 − a_i·p_j) + 1e-8`` as the authors' code computes it."""
        return self.scale * (1.0 - anchors @ positives.T) + 1e-8

    def forward(self, anchors: Tensor, positives: Tensor) -> Tensor:
        anchors, positives = as_pairs(anchors, positives)
        distances = self.distances(anchors, positives)
        hardest = hardest_negatives(distances, self.near_duplicate, self.anchor_swap)
        return (1.0 + torch.tanh(distances.diagonal() - hardest)).mean()
