"""Shared by the losses: argument and input checks (each failure a one-line ``UserError``) and a
stable log(1 + sum exp)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from dmlrepro.errors import UserError


def check_positive(value: Any, name: str) -> float:
    """A finite number > 0, as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value > 0):
        raise UserError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_non_negative(value: Any, name: str) -> float:
    """A finite number >= 0, as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value >= 0):
        raise UserError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise UserError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_batch(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
                embedding_size: int | None = None) -> torch.Tensor:
    """Check a (batch, D) float embedding tensor and its integer labels; labels as int64."""
    if not isinstance(embeddings, torch.Tensor) or not embeddings.is_floating_point() or \
            embeddings.ndim != 2 or embeddings.shape[0] == 0:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else None
        raise UserError(f"embeddings must be a non-empty (batch, dim) float tensor, got {shape}")
    if embedding_size is not None and embeddings.shape[1] != embedding_size:
        raise UserError(f"embeddings have dimension {embeddings.shape[1]} but the loss was built "
                        f"for embedding_size={embedding_size}")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or \
            labels.shape[0] != embeddings.shape[0] or labels.is_floating_point() or \
            labels.dtype == torch.bool:
        raise UserError(f"labels must be a 1-D integer tensor with one label per embedding "
                        f"({embeddings.shape[0]})")
    labels = labels.to(device=embeddings.device, dtype=torch.int64)
    if num_classes is not None and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise UserError(f"labels must lie in 0..{num_classes - 1} (one proxy per training class); "
                        f"got {int(labels.min())}..{int(labels.max())}: remap the class ids")
    return labels


def log1p_sum_exp(logits: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """log(1 + sum over ``mask`` of exp(logits)) along ``dim``, stable for large logits (the
    "+sigma" reading of Eq. 6 has exponents up to 2 beta = 100); 0 where the mask is empty."""
    masked = logits.masked_fill(~mask, float("-inf"))
    zero = torch.zeros_like(masked.narrow(dim, 0, 1))
    return torch.logsumexp(torch.cat([masked, zero], dim=dim), dim=dim)
