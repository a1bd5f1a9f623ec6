"""AiA-Net's ranking loss: the triplet loss of Eq. 18 with hard mining
(002_e585b7ac4801a221.txt, Sec. 4.3, Eq. 18; margins in Sec. 4.4).

    J_rank = 1/N_tri sum_{i=1}^{N_tri} [d_i^+ - d_i^- + tau]_+,
    d_i^+ = ||F(p_i) - F(p_i^+)||_2,  d_i^- = ||F(p_i) - F(p_i^-)||_2

"In the triplet mining, for each anchor, we mine one hard positive and 5 hard negatives, thus
obtaining 5 triplets per anchor sample." d is the plain (not squared) Euclidean distance between
the embeddings as they come out of the network (the paper normalises nothing; AiA-Net's f_a and
f_p are BN1d -> ReLU outputs, models/aianet.py). tau = 1.5 for CUHK03 and CUHK01, 1 otherwise
(Sec. 4.4; :func:`paper_margin`). The miners (``TRIPLET_MININGS``):

``paper`` (default): for every anchor, the hard positive is its farthest same-identity sample
    (max d^+, the anchor itself excluded) and the 5 hard negatives are its 5 nearest samples of
    other identities (smallest d^-); the 5 triplets share that positive. N_tri is the number of
    triplets mined, 5 per anchor. Reading "hard" as hardest is the usual batch-hard sense
    (Hermans et al. 2017), the one the AiA code's own ``TripletLoss`` (open-reid's) uses.
``batch_hard``: the common batch-hard triplet loss of Hermans et al.: the farthest positive and
    the single nearest negative, one triplet per anchor (``paper`` with 1 negative). Equals
    pytorch-metric-learning ``TripletMarginLoss`` with ``BatchHardMiner``, ``LpDistance(
    normalize_embeddings=False)`` and ``MeanReducer`` (the tests hold the two equal).
``public_code``: what the released AiA-Net code trains with (``losses.py``,
    ``SemiHardTripLoss``; shared/notes/implementation-facts.md §3). The paper cites FaceNet [69]
    for the strategy; the code pairs, for every anchor, its negatives from nearest to farthest
    with every positive (in batch order, the anchor excluded) that is *closer* than that
    negative (d^+ < d^-, FaceNet's semi-hard condition without its upper bound), and keeps the
    first ``num_negatives`` such pairs (``num_trip``, 5 in the training script). The hinge is
    ``torch.nn.functional.triplet_margin_loss``, whose distance is ||a - p + 1e-6||_2.

Remaining details, the same for every miner:

* An anchor with no positive (its identity alone in the batch) or no negative gives no triplet.
  With fewer than ``num_negatives`` negatives an anchor uses all it has. A batch with no triplet
  at all gives 0 (the public code would give NaN), connected to the graph so that backward runs.
* Mining is a selection, not differentiated through: it runs on exact pairwise differences of the
  detached embeddings (``torch.cdist`` without the matrix-product shortcut; the public code mines
  on sqrt(max(|x|^2 + |y|^2 - 2 x.y, 1e-10)), which can order near-ties differently). Ties keep
  the lowest batch index.
* ``reduction="mean"`` is Eq. 18's 1/N_tri over every mined triplet, zero hinges included;
  ``"mean_nonzero"`` averages only the triplets with a positive hinge (PML's default
  ``AvgNonZeroReducer``), a named variant.

The paper poses this loss and the cross-entropy of Eq. 19 on the appearance (f_a) and the part
(f_p) embeddings separately (Sec. 4.4); see the trainer for how the four terms are combined.
"""

from __future__ import annotations

from typing import Final

import torch
from torch import nn

from dmlrepro.errors import UserError
from dmlrepro.losses.common import check_batch, check_non_negative, check_positive_int
from dmlrepro.losses.registry import register_loss

TRIPLET_MININGS: Final[tuple[str, ...]] = ("paper", "batch_hard", "public_code")
TRIPLET_REDUCTIONS: Final[tuple[str, ...]] = ("mean", "mean_nonzero")
#: Hard negatives per anchor (Sec. 4.3: "one hard positive and 5 hard negatives").
PAPER_NUM_NEGATIVES: Final[int] = 5
#: The margin tau of Eq. 18 per dataset (Sec. 4.4): 1.5 for CUHK03 and CUHK01, 1 for the others.
PAPER_MARGINS: Final[dict[str, float]] = {"cuhk03": 1.5, "cuhk01": 1.5}
DEFAULT_PAPER_MARGIN: Final[float] = 1.0
#: The eps ``torch.nn.functional.pairwise_distance`` adds to the difference (public_code only).
PUBLIC_CODE_EPS: Final[float] = 1e-6


def paper_margin(dataset: str) -> float:
    """tau of Eq. 18 for ``dataset`` (Sec. 4.4): 1.5 for every CUHK03 protocol and box type
    (``cuhk03np``, ``cuhk03_classic``, ...) and for CUHK01, 1 for Market-1501, DukeMTMC-reID,
    MSMT17 and the rest (MARS's margin is in the unavailable supplement; 1 is assumed)."""
    name = str(dataset).lower()
    for prefix, margin in PAPER_MARGINS.items():
        if name.startswith(prefix):
            return margin
    return DEFAULT_PAPER_MARGIN


def pairwise_euclidean(embeddings: torch.Tensor) -> torch.Tensor:
    """(batch, batch) Euclidean distances from exact differences (no |x|^2 + |y|^2 - 2 x.y)."""
    return torch.cdist(embeddings, embeddings, compute_mode="donot_use_mm_for_euclid_dist")


def mine_triplets(distances: torch.Tensor, labels: torch.Tensor, mining: str = "paper",
                  num_negatives: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anchor, positive and negative batch indices ``(a, p, n)`` of the triplets ``mining``
    selects (module docstring) from a (batch, batch) distance matrix; ``num_negatives`` defaults
    to 5 (``paper``, ``public_code``) or 1 (``batch_hard``, which accepts no other value).
    Triplets are ordered by anchor, then as the miner ranks them."""
    mining, num_negatives = _check_mining(mining, num_negatives)
    distances = distances.detach()
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive, negative = same & ~eye, ~same
    if mining == "public_code":
        return _mine_public_code(distances, positive, negative, num_negatives)
    # Hardest positive: the first index of the largest distance among the positives.
    pos_dist = distances.masked_fill(~positive, float("-inf"))
    hardest_positive = pos_dist.argmax(dim=1)
    # Nearest negatives in a stable order, so ties keep the lowest index.
    neg_dist = distances.masked_fill(~negative, float("inf"))
    order = torch.sort(neg_dist, dim=1, stable=True).indices[:, :num_negatives]
    valid = negative.gather(1, order) & positive.any(dim=1, keepdim=True)
    anchors = torch.arange(len(labels), device=labels.device)[:, None].expand_as(order)
    a, n = anchors[valid], order[valid]
    return a, hardest_positive[a], n


def _mine_public_code(distances: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                      num_trip: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    anchors, positives, negatives = [], [], []
    for i in range(distances.shape[0]):
        pos_idx = positive[i].nonzero().flatten()  # batch order
        neg_idx = negative[i].nonzero().flatten()
        if len(pos_idx) == 0 or len(neg_idx) == 0:
            continue
        neg_idx = neg_idx[torch.sort(distances[i, neg_idx], stable=True).indices]
        # closer[j, k]: positive k is closer to the anchor than the j-th nearest negative;
        # nonzero() walks it row-major, i.e. negatives nearest first, positives in batch order.
        closer = distances[i, pos_idx][None, :] < distances[i, neg_idx][:, None]
        pairs = closer.nonzero()[:num_trip]
        anchors.append(torch.full((len(pairs),), i, dtype=torch.long, device=distances.device))
        positives.append(pos_idx[pairs[:, 1]])
        negatives.append(neg_idx[pairs[:, 0]])
    if not anchors:
        empty = torch.zeros(0, dtype=torch.long, device=distances.device)
        return empty, empty, empty
    return torch.cat(anchors), torch.cat(positives), torch.cat(negatives)


def _check_mining(mining: object, num_negatives: object) -> tuple[str, int]:
    if mining not in TRIPLET_MININGS:
        raise UserError(f"unknown triplet mining {mining!r}; valid: {', '.join(TRIPLET_MININGS)}")
    if num_negatives is None:
        return str(mining), 1 if mining == "batch_hard" else PAPER_NUM_NEGATIVES
    num_negatives = check_positive_int(num_negatives, "num_negatives")
    if mining == "batch_hard" and num_negatives != 1:
        raise UserError(f"batch_hard mining takes exactly 1 negative per anchor, got "
                        f"num_negatives={num_negatives}; use mining='paper' for more")
    return str(mining), num_negatives


@register_loss("hard_triplet")
class HardTripletLoss(nn.Module):
    """Triplet loss with hard mining (Eq. 18).

    Args:
        margin: tau (1.0; 1.5 for CUHK03 and CUHK01, :func:`paper_margin`).
        mining: one of ``TRIPLET_MININGS`` (``paper``).
        num_negatives: negatives (``public_code``: triplets) per anchor; 5, or 1 for
            ``batch_hard``.
        reduction: ``mean`` (Eq. 18) or ``mean_nonzero``.

    After a forward pass ``last_num_triplets`` holds N_tri, the number of triplets mined.
    """

    def __init__(self, margin: float = DEFAULT_PAPER_MARGIN, mining: str = "paper",
                 num_negatives: int | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.margin = check_non_negative(margin, "margin")
        self.mining, self.num_negatives = _check_mining(mining, num_negatives)
        if reduction not in TRIPLET_REDUCTIONS:
            raise UserError(f"unknown triplet reduction {reduction!r}; valid: "
                            f"{', '.join(TRIPLET_REDUCTIONS)}")
        self.reduction = reduction
        self.last_num_triplets = 0

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, mining={self.mining!r}, num_negatives={self.num_negatives}, "
                f"reduction={self.reduction!r}")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_batch(embeddings, labels)
        with torch.no_grad():
            distances = pairwise_euclidean(embeddings.detach())
        a, p, n = mine_triplets(distances, labels, self.mining, self.num_negatives)
        self.last_num_triplets = len(a)
        if len(a) == 0:
            return embeddings.sum() * 0.0
        if self.mining == "public_code":
            hinge = nn.functional.triplet_margin_loss(
                embeddings[a], embeddings[p], embeddings[n], margin=self.margin, p=2,
                eps=PUBLIC_CODE_EPS, reduction="none")
        else:
            d_pos = torch.linalg.vector_norm(embeddings[a] - embeddings[p], dim=1)
            d_neg = torch.linalg.vector_norm(embeddings[a] - embeddings[n], dim=1)
            hinge = torch.relu(d_pos - d_neg + self.margin)
        if self.reduction == "mean_nonzero":
            active = hinge > 0
            if not active.any():
                return hinge.sum() * 0.0
            return hinge[active].mean()
        return hinge.mean()
