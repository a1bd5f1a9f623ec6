"""Image-retrieval protocol variants: each equals an independent reference on random inputs (PML's
AccuracyCalculator, a float64 per-query loop, a literal top-(1+K)-drop-first loop), and hand-made
cases move a number (an exact duplicate of another class; a tie with the best positive)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmlrepro.report.retrieval_variants import (COSINE, DROP_FIRST, EUCLIDEAN, PESSIMISTIC, drop_first_recall,
                                                euclidean_recall, nmi_variants, recall_variants)

KS = (1, 2, 4, 8)


def _loop_euclidean(x, labels, ks, ref=None, ref_labels=None):
    """Per query: squared distances, the query's own index removed, rank of the nearest positive."""
    x = np.asarray(x, dtype=np.float64)
    r, rl = (x, labels) if ref is None else (np.asarray(ref, dtype=np.float64), ref_labels)
    ranks = []
    for i, q in enumerate(x):
        d = ((r - q) ** 2).sum(axis=1)
        keep = np.ones(len(r), bool)
        if ref is None:
            keep[i] = False
        pos = keep & (rl == labels[i])
        if not pos.any():
            continue
        ranks.append(1 + int((d[keep] < d[pos].min()).sum()))
    ranks = np.asarray(ranks)
    return {f"recall@{k}": 100.0 * float((ranks <= k).mean()) for k in ks}


def _loop_drop_first(x, labels, ks):
    """Proxy-Anchor's evaluate_cos, literally: cosine, a stable sort (ties by index), drop column 0."""
    x = np.asarray(x, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    hits, n = dict.fromkeys(ks, 0), 0
    for i in range(len(x)):
        if (labels == labels[i]).sum() < 2:
            continue
        n += 1
        order = np.argsort(-(x @ x[i]), kind="stable")[1:max(ks) + 1]
        for k in ks:
            hits[k] += int((labels[order[:k]] == labels[i]).any())
    return {f"recall@{k}": 100.0 * hits[k] / n for k in ks}


@pytest.mark.parametrize("seed", [0, 1])
def test_euclidean_equals_a_loop_and_pml(seed):
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(90, 6)) * rng.uniform(0.2, 3.0, size=(90, 1))  # norms vary: not cosine
    labels = rng.integers(0, 15, 90)
    got = euclidean_recall(x, labels, None, None, KS)
    assert got == pytest.approx(_loop_euclidean(x, labels, KS), abs=1e-9)
    pml = AccuracyCalculator(include=("precision_at_1",), device=torch.device("cpu"))
    value = pml.get_accuracy(torch.tensor(x, dtype=torch.float32), torch.tensor(labels))["precision_at_1"]
    assert got["recall@1"] == pytest.approx(100 * value, abs=1e-9)
    cosine = recall_variants(x, labels, ks=KS)[COSINE]
    assert cosine != pytest.approx(got, abs=1e-6)  # the unnormalised ranking is another number here


def test_euclidean_query_gallery_equals_a_loop():
    rng = np.random.default_rng(3)
    q, g = rng.normal(size=(30, 5)), rng.normal(size=(50, 5)) * 2
    ql, gl = rng.integers(0, 8, 30), rng.integers(0, 8, 50)
    assert euclidean_recall(q, ql, g, gl, KS) == pytest.approx(_loop_euclidean(q, ql, KS, g, gl), abs=1e-9)
    variants = recall_variants(q, ql, g, gl, ks=KS)
    assert variants[DROP_FIRST] == variants[COSINE]  # nothing to drop against a separate gallery


@pytest.mark.parametrize("seed", [0, 1])
def test_drop_first_equals_the_literal_loop_with_ties(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(80, 3)).astype(np.float64)  # many exact duplicates and ties
    x[np.all(x == 0, axis=1)] = 1.0
    labels = rng.integers(0, 10, 80)
    assert drop_first_recall(x, labels, KS) == pytest.approx(_loop_drop_first(x, labels, KS), abs=1e-9)


def test_on_continuous_embeddings_the_cosine_variants_agree():
    rng = np.random.default_rng(5)
    x, labels = rng.normal(size=(70, 8)), rng.integers(0, 12, 70)
    v = recall_variants(x, labels, ks=KS)
    assert v[DROP_FIRST] == pytest.approx(v[COSINE]) and v[PESSIMISTIC] == pytest.approx(v[COSINE])


def test_hand_made_cases_move_a_number():
    # item 1 is an exact duplicate of item 0 in another class; item 2 is item 1's only classmate.
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    labels = np.array([0, 1, 1, 0])
    v = recall_variants(x, labels, ks=(1,))
    # by index: query 1's references are 0 (label 0, tied top) and 2 (its classmate, far): a miss.
    # drop first: query 1's list starts with item 0 (lower index in the tie), dropped; then itself: a hit.
    # (queries 0, 2, 3 miss under both: a negative is nearer than their classmate.)
    assert v[COSINE]["recall@1"] == 0.0 and v[DROP_FIRST]["recall@1"] == 25.0
    # three copies of one point, two of class 0: by index with optimistic ties every evaluated query
    # (0 and 1; 2 has no classmate) hits; pessimistic, the tied negative ranks first: none does.
    tie = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    tie_labels = np.array([0, 0, 1])
    t = recall_variants(tie, tie_labels, ks=(1,))
    assert t[COSINE]["recall@1"] == 100.0 and t[PESSIMISTIC]["recall@1"] == 0.0


def test_nmi_faiss_equals_pml_and_clean_clusters_give_one():
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 120)
    x = rng.normal(size=(120, 4)).astype(np.float32) + 0.5 * labels[:, None]
    got = nmi_variants(x, labels)
    pml = AccuracyCalculator(include=("NMI",), device=torch.device("cpu"))
    assert got["nmi_faiss"] == pytest.approx(pml.get_accuracy(torch.tensor(x), torch.tensor(labels))["NMI"], abs=1e-12)
    assert got["nmi_faiss_seed_min"] <= got["nmi_faiss_seed_max"] and got["num_clusters"] == 6
    centres = np.eye(4, dtype=np.float32)[:3] * 10
    clean = np.repeat(centres, 20, axis=0) + rng.normal(scale=0.01, size=(60, 4)).astype(np.float32)
    clean_labels = np.repeat(np.arange(3), 20)
    assert nmi_variants(clean, clean_labels)["nmi_sklearn"] == pytest.approx(1.0)
