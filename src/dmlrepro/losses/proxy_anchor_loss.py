"""Proxy-Anchor loss (003_72cd4b33cee60b89.txt, Eq. 5; Kim et al., CVPR 2020).

    l_p(X) = 1/|P+| sum_{p in P+} log(1 + sum_{x in X_p+} exp(-alpha (s(x, p) - delta)))
           + 1/|P|  sum_{p in P}  log(1 + sum_{x in X_p-} exp( alpha (s(x, p) + delta)))

s is the cosine similarity, P the proxies (one per class), P+ the proxies whose class occurs in the
batch, X_p+ / X_p- the batch embeddings of / not of proxy p's class. A proxy without positives (or
without negatives) in the batch contributes log(1 + 0) = 0 to that sum. alpha = 32, delta = 0.1
(Sec. 4.2). This is the form of the official code (``tjddus9597/Proxy-Anchor-CVPR2020``,
``code/losses.py``) and of pytorch-metric-learning's ``ProxyAnchorLoss`` without a miner, which the
tests hold equal to this module.

The proxies are ``self.proxies``, an ``nn.Parameter`` of shape (num_classes, embedding_size), so the
optimiser can give them their own learning rate (1e-2 in Sec. 4.2, against 1e-4 for the network).
Sec. 4.2 says only that they are "initialized with a normal distribution"; the default
``kaiming_normal_fan_out`` is the Proxy-Anchor code's and PML's N(0, 2 / num_classes), and
``standard_normal`` is N(0, 1). Since s is a cosine, the scale only changes how far one optimiser
step turns a proxy.
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
    check_positive_int,
    log1p_sum_exp,
)
from dmlrepro.losses.registry import register_loss

PROXY_INITS: Final[tuple[str, ...]] = ("kaiming_normal_fan_out", "standard_normal")


@register_loss("proxy_anchor")
class ProxyAnchorLoss(nn.Module):
    """Proxy-Anchor loss with one learnable proxy per class (Eq. 5).

    Args:
        num_classes: number of training classes; labels must be ``0 .. num_classes - 1``.
        embedding_size: the embedding dimension D.
        alpha: scaling factor (32).
        delta: margin (0.1).
        proxy_init: ``kaiming_normal_fan_out`` (default) or ``standard_normal``.
        generator: optional ``torch.Generator`` for the proxy initialisation.
    """

    def __init__(self, num_classes: int, embedding_size: int, alpha: float = 32.0,
                 delta: float = 0.1, proxy_init: str = "kaiming_normal_fan_out",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.embedding_size = check_positive_int(embedding_size, "embedding_size")
        self.alpha = check_positive(alpha, "alpha")
        self.delta = check_non_negative(delta, "delta")
        if proxy_init not in PROXY_INITS:
            raise UserError(f"unknown proxy_init {proxy_init!r}; valid: {', '.join(PROXY_INITS)}")
        self.proxy_init = proxy_init
        self.proxies = nn.Parameter(torch.empty(self.num_classes, self.embedding_size))
        with torch.no_grad():
            if proxy_init == "kaiming_normal_fan_out":
                nn.init.kaiming_normal_(self.proxies, mode="fan_out", generator=generator)
            else:
                self.proxies.normal_(0.0, 1.0, generator=generator)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, embedding_size={self.embedding_size}, "
                f"alpha={self.alpha}, delta={self.delta}, proxy_init={self.proxy_init!r}")

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_batch(embeddings, labels, self.num_classes, self.embedding_size)
        proxies = self.proxies.to(embeddings.dtype)
        cos = torch.nn.functional.normalize(embeddings, dim=1) @ \
            torch.nn.functional.normalize(proxies, dim=1).T  # (batch, classes)
        positive = torch.nn.functional.one_hot(labels, self.num_classes).bool()
        pos_term = log1p_sum_exp(-self.alpha * (cos - self.delta), positive, dim=0)
        neg_term = log1p_sum_exp(self.alpha * (cos + self.delta), ~positive, dim=0)
        num_with_positives = int(positive.any(0).sum())
        return pos_term.sum() / num_with_positives + neg_term.sum() / self.num_classes
