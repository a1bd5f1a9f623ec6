"""Metric-learning losses built by name from a registry (003_72cd4b33cee60b89.txt, Eq. 5–7).

Every module of the package registers its losses; a lookup imports them all, so ``list_losses()``
holds Multi-Head DML's ``hybrid``, ``multi_similarity`` and ``proxy_anchor`` and every other
``@register_loss`` in the package, whatever was imported first. Losses take ``(embeddings, labels)`` and return
a scalar; the ones with proxies expose them as ``loss.proxies`` (an ``nn.Parameter``) so that the
optimiser can give them their own learning rate.
"""

from dmlrepro.losses.hybrid_loss import HybridLoss
from dmlrepro.losses.multi_similarity_loss import MS_VARIANTS, MultiSimilarityLoss, ms_hard_pairs
from dmlrepro.losses.proxy_anchor_loss import PROXY_INITS, ProxyAnchorLoss
from dmlrepro.losses.registry import (
    build_loss,
    get_loss_class,
    list_losses,
    loss_parameters,
    register_loss,
)

__all__ = [
    "MS_VARIANTS",
    "PROXY_INITS",
    "HybridLoss",
    "MultiSimilarityLoss",
    "ProxyAnchorLoss",
    "build_loss",
    "get_loss_class",
    "list_losses",
    "loss_parameters",
    "ms_hard_pairs",
    "register_loss",
]
