"""pairwise_distance's squared Euclidean path is torchreid's arithmetic exactly (bit for bit),
clamped at 0, and within float rounding of a slow float64 difference-based reference."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.evaluation import pairwise_distance
from dmlrepro.evaluation.distance import squared_euclidean


def torchreid_euclidean_squared_distance(input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
    """torchreid/metrics/distance.py ``euclidean_squared_distance`` (KaiyangZhou/deep-person-reid),
    re-stated from reading it: expanded norms summed, then ``addmm_(beta=1, alpha=-2)``."""
    m, n = input1.size(0), input2.size(0)
    mat1 = torch.pow(input1, 2).sum(dim=1, keepdim=True).expand(m, n)
    mat2 = torch.pow(input2, 2).sum(dim=1, keepdim=True).expand(n, m).t()
    distmat = mat1 + mat2
    distmat.addmm_(input1, input2.t(), beta=1, alpha=-2)
    return distmat


def slow_squared_euclidean(query: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    q, g = query.double(), gallery.double()
    return ((q[:, None, :] - g[None, :, :]) ** 2).sum(dim=2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 300, 33), (700, 900, 256)])
def test_bit_identical_to_torchreid(dtype, shape) -> None:
    num_query, num_gallery, dim = shape
    generator = torch.Generator().manual_seed(sum(shape))
    query = torch.rand(num_query, dim, generator=generator, dtype=dtype)
    gallery = torch.rand(num_gallery, dim, generator=generator, dtype=dtype)
    expected = torchreid_euclidean_squared_distance(query, gallery)
    assert (expected > 0).all()  # random vectors: nothing to clamp, so bits must agree
    # A different arithmetic (here: in float64, rounded once) changes bits on these inputs.
    if dtype == torch.float32 and num_query > 1:
        assert not torch.equal(slow_squared_euclidean(query[:20], gallery).float(), expected[:20])
    for actual in (squared_euclidean(query, gallery), pairwise_distance(query, gallery),
                   pairwise_distance(query, gallery, chunk_size=5)):
        assert actual.dtype == dtype
        assert torch.equal(actual, expected)
    torch.testing.assert_close(pairwise_distance(query, gallery, "euclidean"), expected.sqrt(),
                               rtol=0, atol=0)


def test_near_duplicates_clamped_and_close_to_the_slow_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(40, 64, generator=generator) * 30.0
    gallery = torch.cat([query[:20] + 1e-4, torch.randn(30, 64, generator=generator)])
    expected = torchreid_euclidean_squared_distance(query, gallery)
    assert (expected < 0).any()  # cancellation: torchreid returns tiny negative values here
    actual = pairwise_distance(query, gallery)
    assert torch.equal(actual, expected.clamp_min(0.0))
    slow = slow_squared_euclidean(query, gallery)
    # float32 cancellation error scales with the squared norms (~6e4 here): atol 4e-6 of that.
    torch.testing.assert_close(actual.double(), slow, rtol=1e-5, atol=0.25)
