"""Random batches shared by the loss tests."""

from __future__ import annotations

import pytest
import torch


def make_batch(seed: int, batch: int = 48, dim: int = 32, num_classes: int = 20,
               dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Clustered embeddings (so that every term of the losses is active, at a spread drawn per seed)
    and labels with repeated classes, singletons, and classes absent from the batch."""
    g = torch.Generator().manual_seed(seed)
    present = torch.randperm(num_classes, generator=g)[: max(2, num_classes // 2)]
    labels = present[torch.randint(0, len(present), (batch,), generator=g)]
    centres = torch.randn(num_classes, dim, generator=g, dtype=torch.float64)
    spread = 0.2 + 2 * float(torch.rand((), generator=g))
    x = centres[labels] + spread * torch.randn(batch, dim, generator=g, dtype=torch.float64)
    return x.to(dtype), labels


@pytest.fixture
def random_batch():
    return make_batch
