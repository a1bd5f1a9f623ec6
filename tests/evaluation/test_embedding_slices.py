"""Evaluation of individual learners (004_82c542c12fef7e00.txt, §2, Tab. S1, Fig. S1, Fig. S2):
per-slice Recall@K is the recall of that slice alone (and finds the informative slice), the mean and
"all together", first-m-dims Recall@K with and without re-normalisation, the learner correlation
against np.corrcoef (1 for duplicated learners, ~0 for independent ones, in both measures), and the
Figure S1 selection."""

from __future__ import annotations

import numpy as np
import pytest

from dmlrepro.errors import UserError
from dmlrepro.evaluation.embedding_slices import (
    embedding_slices,
    evaluate_slices,
    first_m_dimensions,
    learner_correlation,
    specialised_queries,
)
from dmlrepro.evaluation.recall_at_k import recall_at_k


def unit_slices(x: np.ndarray, k: int) -> np.ndarray:
    return np.concatenate([s / np.linalg.norm(s, axis=1, keepdims=True) for s in np.split(x, k, axis=1)], axis=1)


def informative_in(slot: int, k: int = 4, width: int = 4, classes: int = 30, per: int = 4, seed: int = 0):
    """Slice ``slot`` carries the class (tight class centres); the other slices are noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per)
    x = rng.normal(size=(len(labels), k * width))
    x[:, slot * width:(slot + 1) * width] = rng.normal(size=(classes, width))[labels] * 3 \
        + 0.1 * rng.normal(size=(len(labels), width))
    return x, labels


def test_slices_partition_the_embedding():
    slices = embedding_slices(128, 8)
    assert [(s.start, s.stop) for s in slices] == [(16 * k, 16 * k + 16) for k in range(8)]
    with pytest.raises(UserError, match="do not divide"):
        embedding_slices(128, 3)


def test_each_slice_is_evaluated_alone_and_the_informative_one_is_found():
    x, y = informative_in(2)
    result = evaluate_slices(x, y, 4, ks=(1, 5))
    r1 = [r.recall[1] for r in result.per_slice]
    assert int(np.argmax(r1)) == 2 and r1[2] > 0.95 and max(r1[:2] + r1[3:]) < 0.3
    for s, r in zip(result.slices, result.per_slice):
        assert r.recall == recall_at_k(x[:, s], y, ks=(1, 5)).recall
    assert result.all_together.recall == recall_at_k(x, y, ks=(1, 5)).recall
    assert result.mean[1] == pytest.approx(np.mean(r1))
    rows = result.rows(1)
    assert list(rows) == [f"learner_{i}" for i in range(1, 5)] + ["mean", "all_together"]
    assert rows["learner_3"] == pytest.approx(100 * r1[2]) and rows["mean"] == pytest.approx(100 * np.mean(r1))


def test_a_slice_is_ranked_by_its_own_cosine_whatever_the_other_slices_scale():
    """The baseline's slices come from a whole-normalised vector: each slice's recall must not depend
    on how large the other slices are."""
    x, y = informative_in(0, seed=1)
    base = evaluate_slices(x, y, 4)
    scaled = x.copy()
    scaled[:, 4:] *= np.random.default_rng(2).uniform(0.1, 10, size=(len(x), 1))
    assert evaluate_slices(scaled, y, 4).per_slice[0].recall == base.per_slice[0].recall


def test_query_gallery_slices_equal_direct_recall():
    x, y = informative_in(1, seed=3)
    q, g = x[::2].copy(), x[1::2].copy()
    qy, gy = y[::2].copy(), y[1::2].copy()
    result = evaluate_slices(q, qy, 4, reference=g, reference_labels=gy, protocol="query_gallery", ks=(1,))
    s = result.slices[1]
    assert result.per_slice[1].recall == recall_at_k(q[:, s], qy, g[:, s], gy, ks=(1,),
                                                      protocol="query_gallery").recall


def test_first_m_dimensions_is_the_recall_of_the_truncated_embedding():
    x, y = informative_in(0, k=8, width=2, seed=4)
    out = first_m_dimensions(x, y, ks=(1, 10), step=2)
    assert list(out) == list(range(2, 17, 2))
    for m, r in out.items():
        assert r.recall == recall_at_k(x[:, :m], y, ks=(1, 10)).recall


def test_renormalising_the_truncation_matters_for_the_baseline_but_not_for_unit_learners():
    rng = np.random.default_rng(5)
    y = np.repeat(np.arange(40), 3)
    x = rng.normal(size=(120, 8))[:, :] + np.repeat(rng.normal(size=(40, 8)), 3, axis=0)
    ours = unit_slices(x, 4)
    a = first_m_dimensions(ours, y, ms=[4, 6], ks=(1,), renormalize=True)
    b = first_m_dimensions(ours, y, ms=[4, 6], ks=(1,), renormalize=False)
    np.testing.assert_array_equal(a[4].first_positive_rank, b[4].first_positive_rank)
    baseline = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = first_m_dimensions(baseline, y, ms=[4], ks=(1,), renormalize=True)
    d = first_m_dimensions(baseline, y, ms=[4], ks=(1,), renormalize=False)
    assert not np.array_equal(c[4].first_positive_rank, d[4].first_positive_rank)


def test_bad_m_is_a_user_error():
    x, y = informative_in(0)
    with pytest.raises(UserError, match="m must be an integer in 1..16"):
        first_m_dimensions(x, y, ms=[0])
    with pytest.raises(UserError, match="divisible by 16"):
        first_m_dimensions(x[:, :12], y)


# --- the correlation coefficient --------------------------------------------------------------


def test_mean_abs_pearson_equals_np_corrcoef_blocks():
    x = np.random.default_rng(0).normal(size=(500, 12)) @ np.random.default_rng(1).normal(size=(12, 12))
    result = learner_correlation(x, 3)
    c = np.abs(np.corrcoef(x, rowvar=False))
    expected = np.mean([c[a * 4:(a + 1) * 4, b * 4:(b + 1) * 4].mean() for a in range(3) for b in range(3) if a < b])
    assert result.value == pytest.approx(expected, rel=1e-12)
    within = c[:4, :4]
    assert result.matrix[0, 0] == pytest.approx((within.sum() - 4) / 12, rel=1e-12)
    assert result.matrix[0, 1] == pytest.approx(c[:4, 4:8].mean(), rel=1e-12)


def test_duplicated_learners_correlate_perfectly_and_independent_ones_hardly():
    rng = np.random.default_rng(2)
    signal = rng.normal(size=(4000, 1))
    duplicated = np.concatenate([signal, -2 * signal + 1, 3 * signal], axis=1)  # three 1-d learners
    assert learner_correlation(duplicated, 3).value == pytest.approx(1.0, abs=1e-12)
    independent = rng.normal(size=(4000, 3 * 16))
    value = learner_correlation(independent, 3).value
    assert value < 0.02  # E|r| = sqrt(2 / (π n)) ≈ 0.013 for n = 4000


def test_rv_is_one_for_a_rotated_copy_and_small_for_independent_learners():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3000, 16)) @ rng.normal(size=(16, 16))
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    copy = learner_correlation(np.concatenate([a, 2.5 * a @ rotation], axis=1), 2, measure="rv")
    assert copy.value == pytest.approx(1.0, abs=1e-10)
    independent = learner_correlation(rng.normal(size=(3000, 32)), 2, measure="rv")
    assert independent.value < 0.02
    # The dimension-wise measure of a rotated copy is far from 1: the two measures differ.
    assert learner_correlation(np.concatenate([a, a @ rotation], axis=1), 2).value < 0.6


def test_baseline_like_correlated_slices_score_higher_than_decorrelated_ones():
    rng = np.random.default_rng(4)
    shared = rng.normal(size=(2000, 4))
    mixed = np.concatenate([shared @ rng.normal(size=(4, 8)) + rng.normal(size=(2000, 8)) for _ in range(4)], axis=1)
    separate = rng.normal(size=(2000, 32))
    assert learner_correlation(mixed, 4).value > 3 * learner_correlation(separate, 4).value


def test_constant_dimensions_count_as_uncorrelated_and_are_reported():
    x = np.random.default_rng(5).normal(size=(100, 4))
    x[:, 3] = 1.0
    result = learner_correlation(x, 2)
    assert result.constant_dims == 1 and np.isfinite(result.value)


def test_correlation_bad_input():
    with pytest.raises(UserError, match="unknown correlation measure"):
        learner_correlation(np.zeros((3, 4)), 2, measure="spearman")
    with pytest.raises(UserError, match="at least two learners"):
        learner_correlation(np.zeros((3, 4)), 1)


# --- Figure S1 ------------------------------------------------------------------------------------


def test_specialised_queries_hit_at_1_for_one_learner_and_miss_at_30_for_all_others():
    ranks = np.array([
        # q0  q1  q2  q3  q4  q5
        [1,   1,  1, 40,  1,  0],   # learner 0
        [31, 50, 10, 1,  99, 40],   # learner 1
        [35, 60, 45, 50, 32, 40],   # learner 2
    ])
    chosen = specialised_queries(ranks, per_learner=10)
    # q2 fails (learner 1 has it at 10); q5 has no positive; hardest elsewhere first: q1 (50), q0/q4 (31, 32)
    assert chosen[0].tolist() == [1, 4, 0]
    assert chosen[1].tolist() == [3]
    assert chosen[2].tolist() == []
    assert specialised_queries(ranks, per_learner=2)[0].tolist() == [1, 4]


def test_specialised_queries_from_real_rankings():
    """Learner 0 knows classes 0-29, learner 1 classes 30-59, learners 2 and 3 know nothing."""
    rng = np.random.default_rng(6)
    y = np.repeat(np.arange(60), 3)
    x = rng.normal(size=(180, 16))
    centres = rng.normal(size=(60, 4)) * 3
    first, second = y < 30, y >= 30
    x[first, 0:4] = centres[y[first]] + 0.1 * rng.normal(size=(first.sum(), 4))
    x[second, 4:8] = centres[y[second]] + 0.1 * rng.normal(size=(second.sum(), 4))
    result = evaluate_slices(x, y, 4, ks=(1, 30))
    chosen = specialised_queries([r.first_positive_rank for r in result.per_slice])
    for k, idx in enumerate(chosen):
        for q in idx:
            assert result.per_slice[k].first_positive_rank[q] == 1
            assert all(result.per_slice[j].first_positive_rank[q] > 30 for j in range(4) if j != k)
    assert len(chosen[0]) == len(chosen[1]) == 10
    assert (y[chosen[0]] < 30).all() and (y[chosen[1]] >= 30).all()
    assert len(chosen[2]) == len(chosen[3]) == 0


def test_specialised_queries_need_two_learners():
    with pytest.raises(UserError, match="at least two learners"):
        specialised_queries([np.ones(3, dtype=int)])
