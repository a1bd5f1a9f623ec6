"""Multi-Similarity loss (003_72cd4b33cee60b89.txt, Eq. 6; Wang et al., CVPR 2019).

    l_m(X) = 1/m sum_i ( 1/gamma log(1 + sum_{k in P_i} exp(-gamma (S_ik - sigma)))
                       + 1/beta  log(1 + sum_{k in N_i} exp( beta  (S_ik -/+ sigma))) )

S is the cosine similarity within the batch, m the batch size, P_i / N_i the positives (same
label, k != i) and negatives of anchor i; gamma = 2, beta = 50, sigma = 1 (Sec. 4.2). An anchor
without positives (or negatives) contributes log(1 + 0) = 0 to that part and still counts in m.

Eq. 6 as printed has "+sigma" in the negative term; the MS loss of Wang et al. has "-lambda" in
both terms, and Sec. 4.2's (gamma, beta, sigma) = (2, 50, 1) are the MS paper's (alpha, beta,
lambda) = (2, 50, 1) (PML's documentation gives lambda = 1 for the paper): sigma is its lambda
renamed. The MS paper also keeps only hard
pairs (its "pair mining", margin epsilon = 0.1) before weighting; Eq. 6 takes P_i, N_i as all
positives and negatives, and the paper says its method needs no tuple-sampling hyperparameter
(Sec. 1) and converges "without any careful data sampling technique" (Sec. 5). The variants
(``MS_VARIANTS``):

``eq6_minus_sigma`` (default): Eq. 6 over all pairs with the MS paper's sign, -sigma. The text's
    own description of sigma and its hyperparameters are the MS paper's; only the sign of one
    term differs, which reads as a typo. Equals pytorch-metric-learning
    ``MultiSimilarityLoss(alpha=2, beta=50, base=1)`` without a miner.
``eq6_as_printed``: Eq. 6 exactly as printed, +sigma, all pairs. The negative term is then about
    max_n S_in + sigma (a soft maximum), never small, so it does not saturate.
``wang2019_mined``: the MS paper's whole loss: -sigma and its hard-pair mining, a negative kept if
    S_in + epsilon > min_k S_ik over positives, a positive kept if S_ik - epsilon < max_n S_in over
    negatives (strict; ties dropped), then the same 1/m mean. Equals PML ``MultiSimilarityLoss``
    with ``MultiSimilarityMiner(epsilon)``, except that PML returns 0 when the miner finds at most
    one positive and one negative pair in the whole batch. The MS authors' code
    (``MalongTech/research-ms-loss``) also drops positives with S >= 1 - 1e-5 and skips an anchor
    unless both of its mined sets are non-empty; PML (and this module) keeps the lone part.
Mining is a selection of pairs, not differentiated through.
"""

from __future__ import annotations

from typing import Final

import torch
from torch import nn

from dmlrepro.errors import UserError
from dmlrepro.losses.common import (
    check_batch,
    check_non_negative,
    check_positive,
    log1p_sum_exp,
)
from dmlrepro.losses.registry import register_loss

# variant: (sign of sigma in the negative term, hard-pair mining)
MS_VARIANTS: Final[dict[str, tuple[float, bool]]] = {
    "eq6_minus_sigma": (-1.0, False),
    "eq6_as_printed": (+1.0, False),
    "wang2019_mined": (-1.0, True),
}


def ms_hard_pairs(sims: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                  epsilon: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The MS paper's hard pairs (Wang et al. 2019, pair mining; PML ``MultiSimilarityMiner``):
    (hard positives, hard negatives) as boolean masks."""
    min_pos = sims.masked_fill(~positive, float("inf")).amin(1, keepdim=True)
    max_neg = sims.masked_fill(~negative, float("-inf")).amax(1, keepdim=True)
    return positive & (sims - epsilon < max_neg), negative & (sims + epsilon > min_pos)


@register_loss("multi_similarity")
class MultiSimilarityLoss(nn.Module):
    """Multi-Similarity loss (Eq. 6) in one of ``MS_VARIANTS``.

    Args:
        gamma: positive scale (2), the MS paper's alpha.
        beta: negative scale (50).
        sigma: similarity offset (1), the MS paper's lambda.
        variant: ``eq6_minus_sigma`` (default), ``eq6_as_printed`` or ``wang2019_mined``.
        epsilon: mining margin of ``wang2019_mined`` (0.1); unused by the other variants.
    """

    def __init__(self, gamma: float = 2.0, beta: float = 50.0, sigma: float = 1.0,
                 variant: str = "eq6_minus_sigma", epsilon: float = 0.1) -> None:
        super().__init__()
        self.gamma = check_positive(gamma, "gamma")
        self.beta = check_positive(beta, "beta")
        self.sigma = check_non_negative(sigma, "sigma")
        if variant not in MS_VARIANTS:
            raise UserError(f"unknown multi-similarity variant {variant!r}; valid: "
                            f"{', '.join(MS_VARIANTS)}")
        self.variant = variant
        self.epsilon = check_non_negative(epsilon, "epsilon")
        self.negative_sign, self.mined = MS_VARIANTS[variant]

    def extra_repr(self) -> str:
        mining = f", epsilon={self.epsilon}" if self.mined else ""
        return (f"gamma={self.gamma}, beta={self.beta}, sigma={self.sigma}, "
                f"variant={self.variant!r}{mining}")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_batch(embeddings, labels)
        x = torch.nn.functional.normalize(embeddings, dim=1)
        sims = x @ x.T
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=sims.device)
        negative = ~same
        if self.mined:
            with torch.no_grad():
                positive, negative = ms_hard_pairs(sims, positive, negative, self.epsilon)
        pos_term = log1p_sum_exp(-self.gamma * (sims - self.sigma), positive, dim=1) / self.gamma
        neg_term = log1p_sum_exp(self.beta * (sims + self.negative_sign * self.sigma), negative,
                                 dim=1) / self.beta
        return (pos_term + neg_term).mean()
