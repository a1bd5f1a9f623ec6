"""Tests for pairwise_distance: chunking, agreement with torch.cdist, and value ranges."""

from __future__ import annotations

import pytest
import torch

from dmlrepro.evaluation import DISTANCE_METRICS, pairwise_distance


def features(num: int, dim: int = 16, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num, dim, generator=generator, dtype=dtype)


@pytest.mark.parametrize("metric", DISTANCE_METRICS)
@pytest.mark.parametrize("chunk_size", [1, 7, 50])
def test_chunked_equals_unchunked(metric: str, chunk_size: int) -> None:
    query, gallery = features(23, seed=1), features(31, seed=2)
    whole = pairwise_distance(query, gallery, metric, chunk_size=len(query))
    chunked = pairwise_distance(query, gallery, metric, chunk_size=chunk_size)
    assert chunked.shape == (23, 31)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)


def test_sqeuclidean_equals_squared_cdist() -> None:
    query, gallery = features(40, seed=3), features(60, seed=4)
    expected = torch.cdist(query, gallery, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    torch.testing.assert_close(pairwise_distance(query, gallery, "sqeuclidean", chunk_size=9),
                               expected, rtol=1e-10, atol=1e-10)


def test_euclidean_is_sqrt_of_sqeuclidean() -> None:
    query, gallery = features(10, seed=5), features(12, seed=6)
    torch.testing.assert_close(pairwise_distance(query, gallery, "euclidean"),
                               pairwise_distance(query, gallery, "sqeuclidean").sqrt())


def test_cosine_is_in_zero_two_and_hits_the_ends() -> None:
    base = features(20, seed=7, dtype=torch.float32)
    # Gallery holds scaled copies (distance 0), negated copies (2) and random vectors.
    gallery = torch.cat([3.0 * base, -0.5 * base, features(30, seed=8, dtype=torch.float32)])
    distances = pairwise_distance(base, gallery, "cosine", chunk_size=6)
    assert distances.min() >= 0.0 and distances.max() <= 2.0
    torch.testing.assert_close(distances[:, :20].diagonal(), torch.zeros(20), atol=1e-6, rtol=0)
    torch.testing.assert_close(distances[:, 20:40].diagonal(), torch.full((20,), 2.0),
                               atol=1e-6, rtol=0)
    expected = 1.0 - torch.nn.functional.cosine_similarity(base[:, None], gallery[None], dim=2)
    torch.testing.assert_close(distances, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_duplicates_are_not_negative(metric: str) -> None:
    # Large-norm float32 duplicates: ||q||^2 + ||g||^2 - 2 q.g cancels to tiny values of any sign.
    query = features(50, dim=512, seed=9, dtype=torch.float32) * 100.0
    distances = pairwise_distance(query, query.clone(), metric)
    assert (distances >= 0).all()
    assert not torch.isnan(distances).any()


def test_result_dtype_and_bad_inputs() -> None:
    query = features(3, dtype=torch.float32)
    assert pairwise_distance(query, features(4, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="valid metrics: sqeuclidean, euclidean, cosine"):
        pairwise_distance(query, query, "manhattan")
    with pytest.raises(ValueError, match="feature dimensions"):
        pairwise_distance(query, features(4, dim=8))
    with pytest.raises(ValueError, match="chunk_size"):
        pairwise_distance(query, query, chunk_size=0)
    with pytest.raises(TypeError, match="floating point"):
        pairwise_distance(query.long(), query.long())
