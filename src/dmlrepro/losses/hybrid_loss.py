"""The hybrid objective of Multi-Head DML (003_72cd4b33cee60b89.txt, Eq. 7).

    L = l_m + lambda l_p

l_m the Multi-Similarity loss (Eq. 6), l_p the Proxy-Anchor loss (Eq. 5); lambda = 3e-2 (Sec. 4.2)
weights the *proxy* term, as Eq. 7 is printed (the pairwise term has weight 1).
"""

from __future__ import annotations

import torch
from torch import nn

from dmlrepro.losses.common import check_non_negative
from dmlrepro.losses.multi_similarity_loss import MultiSimilarityLoss
from dmlrepro.losses.proxy_anchor_loss import ProxyAnchorLoss
from dmlrepro.losses.registry import register_loss


@register_loss("hybrid")
class HybridLoss(nn.Module):
    """l_m + lam * l_p (Eq. 7) with its own Proxy-Anchor proxies (``self.proxies``).

    Args:
        num_classes, embedding_size: of the Proxy-Anchor term.
        lam: weight of the Proxy-Anchor term (0.03).
        alpha, delta, proxy_init, generator: of the Proxy-Anchor term (32, 0.1).
        gamma, beta, sigma, ms_variant, epsilon: of the Multi-Similarity term (2, 50, 1,
            ``eq6_minus_sigma``, 0.1).
    """

    def __init__(self, num_classes: int, embedding_size: int, lam: float = 0.03,
                 alpha: float = 32.0, delta: float = 0.1,
                 proxy_init: str = "kaiming_normal_fan_out", gamma: float = 2.0,
                 beta: float = 50.0, sigma: float = 1.0, ms_variant: str = "eq6_minus_sigma",
                 epsilon: float = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.lam = check_non_negative(lam, "lam")
        self.multi_similarity = MultiSimilarityLoss(gamma=gamma, beta=beta, sigma=sigma,
                                                    variant=ms_variant, epsilon=epsilon)
        self.proxy_anchor = ProxyAnchorLoss(num_classes, embedding_size, alpha=alpha,
                                            delta=delta, proxy_init=proxy_init,
                                            generator=generator)

    @property
    def proxies(self) -> nn.Parameter:
        """The Proxy-Anchor proxies, for their own optimiser parameter group (lr 1e-2)."""
        return self.proxy_anchor.proxies

    def extra_repr(self) -> str:
        return f"lam={self.lam}"

    def terms(self, embeddings: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The two unweighted terms, for logging: ``{"multi_similarity": l_m, "proxy_anchor": l_p}``."""
        return {"multi_similarity": self.multi_similarity(embeddings, labels),
                "proxy_anchor": self.proxy_anchor(embeddings, labels)}

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        terms = self.terms(embeddings, labels)
        return terms["multi_similarity"] + self.lam * terms["proxy_anchor"]
