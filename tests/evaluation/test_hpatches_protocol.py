"""The HPatches protocol against slow references written from the benchmark's definitions (ranked
lists in plain Python, stable ties, the 1e-10 precision rule, trapezoid and step AP), on random
integer descriptors whose distances tie often; hand-computed APs; and the summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmlrepro.errors import UserError
from dmlrepro.evaluation.hpatches_protocol import (
    HPATCHES_IMAGES,
    NOISE_LEVELS,
    PatchPairs,
    RetrievalTask,
    VerificationTask,
    average_precision,
    evaluate_hpatches,
    evaluate_matching,
    evaluate_retrieval,
    evaluate_verification,
    roc_auc,
    summarise_matching,
)

SEQUENCES = {"i_aa": 9, "i_bb": 7, "v_cc": 11, "v_dd": 8}


# ---------------------------------------------------------------------------------------------
# Slow references.


def slow_pr(distances, labels, numpos=None):
    """The benchmark's tpfp/pr in plain Python: score = -distance, extra positives at -inf, stable
    descending sort, cut after the last finite score, curves with a leading (0, 0) point."""
    scores = [-float(d) for d in distances]
    labels = [int(bool(v)) for v in labels]
    p = sum(labels)
    if numpos is not None:
        scores += [-math.inf] * (numpos - p)
        labels += [1] * (numpos - p)
        p = numpos
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # Python's sort is stable
    order = [i for i in order if scores[i] > -math.inf]
    tp, fp = [0], [0]
    for i in order:
        tp.append(tp[-1] + labels[i])
        fp.append(fp[-1] + 1 - labels[i])
    small = 1e-10
    recall = [t / max(p, small) for t in tp]
    precision = [max(t, small) / max(t + f, small) for t, f in zip(tp, fp)]
    return precision, recall, [labels[i] for i in order], p


def slow_ap(distances, labels, numpos=None, ap="trapezoid"):
    precision, recall, ranked, p = slow_pr(distances, labels, numpos)
    if ap == "trapezoid":
        return math.fsum((recall[k] - recall[k - 1]) * (precision[k] + precision[k - 1]) / 2
                         for k in range(1, len(recall)))
    return math.fsum(precision[k + 1] for k, label in enumerate(ranked) if label) / max(p, 1e-10)


def slow_auc(distances, labels):
    scores = [-float(d) for d in distances]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    p = sum(int(bool(v)) for v in labels)
    n = len(labels) - p
    tpr, fpr, tp, fp = [0.0], [0.0], 0, 0
    for i in order:
        tp += int(bool(labels[i]))
        fp += 1 - int(bool(labels[i]))
        tpr.append(tp / p)
        fpr.append(fp / n)
    return math.fsum((fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1]) / 2 for k in range(1, len(fpr)))


def dist(a, b) -> float:
    return math.sqrt(math.fsum((float(x) - float(y)) ** 2 for x, y in zip(a, b)))


def name(image_id: int, noise: str) -> str:
    return "ref" if image_id == 0 else f"{noise}{image_id}"


def slow_verification(descriptors, task, ap):
    out = {}
    n = len(task.positives)
    keep = n + int(0.2 * n)
    for noise in NOISE_LEVELS:
        def distances(pairs):
            return [dist(descriptors[s1][name(t1, noise)][i1], descriptors[s2][name(t2, noise)][i2])
                    for s1, t1, i1, s2, t2, i2 in zip(pairs.seq1, pairs.image1, pairs.idx1,
                                                      pairs.seq2, pairs.image2, pairs.idx2)]
        pos = distances(task.positives)
        for negs, pairs in (("inter", task.inter), ("intra", task.intra)):
            d = distances(pairs) + pos
            y = [0] * n + [1] * n
            out[(noise, negs)] = (slow_ap(d[:keep], y[:keep], ap=ap), slow_auc(d, y))
    return out


def slow_matching(descriptors, sequences, ap):
    out = {}
    for seq in sequences:
        ref = descriptors[seq]["ref"]
        for noise in NOISE_LEVELS:
            for i in range(1, 6):
                target = descriptors[seq][f"{noise}{i}"]
                nn_d, correct = [], []
                for r, a in enumerate(ref):
                    best, best_d = 0, dist(a, target[0])
                    for j in range(1, len(target)):
                        dj = dist(a, target[j])
                        if dj < best_d:  # the first of equal minima, as argmin
                            best, best_d = j, dj
                    nn_d.append(best_d)
                    correct.append(int(best == r))
                out[(seq, noise, i)] = slow_ap(nn_d, correct, numpos=len(ref), ap=ap)
    return out


def slow_retrieval(descriptors, task, pools, ap):
    out = np.empty((len(task.query_seq), 3, len(pools)))
    for q, (seq, idx) in enumerate(zip(task.query_seq, task.query_idx)):
        query = descriptors[seq]["ref"][idx]
        others = [dist(query, descriptors[s]["ref"][i]) for s, i in zip(task.distractor_seq, task.distractor_idx)
                  if s != seq]
        for n, noise in enumerate(NOISE_LEVELS):
            positives = [dist(query, descriptors[seq][f"{noise}{i}"][idx]) for i in range(1, 6)]
            ranked = positives + others
            labels = [1] * 5 + [0] * len(others)
            for k, size in enumerate(pools):
                out[q, n, k] = slow_ap(ranked[:size], labels[:size], ap=ap)
    return out


# ---------------------------------------------------------------------------------------------
# Random data with ties.


def random_descriptors(seed: int, dim: int = 3, levels: int = 3):
    """Integer descriptors in {0..levels-1}^dim (distances tie often): each target patch is its ref
    patch with a few coordinates changed, more at harder noise levels."""
    rng = np.random.default_rng(seed)
    out = {}
    for seq, n in SEQUENCES.items():
        ref = rng.integers(0, levels, (n, dim))
        images = {"ref": ref}
        for noise, flips in zip(NOISE_LEVELS, (0.2, 0.4, 0.6)):
            for i in range(1, 6):
                change = rng.random((n, dim)) < flips
                images[f"{noise}{i}"] = np.where(change, rng.integers(0, levels, (n, dim)), ref)
        out[seq] = {k: v.astype(np.float32) for k, v in images.items()}
    return out


def random_pairs(rng, num: int, kind: str) -> PatchPairs:
    names = list(SEQUENCES)
    s1 = [names[k] for k in rng.integers(0, len(names), num)]
    i1 = np.array([rng.integers(0, SEQUENCES[s]) for s in s1])
    t = np.array([rng.choice(5, 2, replace=False) for _ in range(num)])
    if kind == "pos":
        s2, i2 = s1, i1
    elif kind == "intra":
        s2 = s1
        i2 = np.array([(i + 1 + rng.integers(0, SEQUENCES[s] - 1)) % SEQUENCES[s] for s, i in zip(s1, i1)])
    else:
        s2 = [names[k] for k in rng.integers(0, len(names), num)]
        i2 = np.array([rng.integers(0, SEQUENCES[s]) for s in s2])
    return PatchPairs(tuple(s1), t[:, 0], i1, tuple(s2), t[:, 1], i2)


def random_verification(seed: int, num: int = 60) -> VerificationTask:
    rng = np.random.default_rng(seed)
    return VerificationTask(random_pairs(rng, num, "pos"), random_pairs(rng, num, "intra"), random_pairs(rng, num, "inter"))


def random_retrieval(seed: int, queries: int = 12, distractors: int = 25) -> RetrievalTask:
    rng = np.random.default_rng(seed)
    names = list(SEQUENCES)

    def pick(count):
        seqs = [names[k] for k in rng.integers(0, len(names), count)]
        return tuple(seqs), np.array([rng.integers(0, SEQUENCES[s]) for s in seqs])

    return RetrievalTask(*pick(queries), *pick(distractors))


# ---------------------------------------------------------------------------------------------
# Tests.


def test_hand_computed_average_precision():
    # Ranked: positive, negative, positive (P = 2). Step: (1/1 + 2/3) / 2. Trapezoid: the first
    # positive averages 1 (top of the list) and 1; the second 2/3 and 1/2 (the precision at rank 2).
    d, y = [0.1, 0.2, 0.3], [1, 0, 1]
    assert average_precision(d, y, ap="step") == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(d, y) == pytest.approx(((1 + 1) / 2 + (2 / 3 + 1 / 2) / 2) / 2)
    # A negative first: the positive at rank 2 averages 1/2 with max(0, 1e-10)/1, i.e. about 0.
    assert average_precision([0.1, 0.2], [0, 1]) == pytest.approx(0.25)
    assert average_precision([0.1, 0.2], [0, 1], ap="step") == pytest.approx(0.5)
    # numpos: a third positive that was never retrieved halves... thirds the recall steps.
    assert average_precision(d, y, numpos=3, ap="step") == pytest.approx((1 + 2 / 3) / 3)


def test_ties_keep_input_order():
    assert average_precision([0.5, 0.5], [1, 0], ap="step") == 1.0
    assert average_precision([0.5, 0.5], [0, 1], ap="step") == 0.5


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("ap", ["trapezoid", "step"])
def test_average_precision_equals_the_slow_ranked_list(seed, ap):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    y = rng.integers(0, 2, n)
    y[0] = 1
    d = rng.integers(0, 6, n) / 5.0
    numpos = None if seed % 2 else int(y.sum() + rng.integers(0, 4))
    assert average_precision(d, y, numpos, ap) == pytest.approx(slow_ap(d, y, numpos, ap), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_roc_auc_equals_the_slow_curve(seed):
    rng = np.random.default_rng(seed)
    y = np.r_[0, 1, rng.integers(0, 2, 50)]
    d = rng.integers(0, 8, y.size) / 7.0
    assert roc_auc(d, y) == pytest.approx(slow_auc(d, y), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ap", ["trapezoid", "step"])
def test_verification_equals_the_slow_reference(seed, ap):
    descriptors, task = random_descriptors(seed), random_verification(seed)
    got = evaluate_verification(descriptors, task, ap=ap)
    expected = slow_verification(descriptors, task, ap)
    assert set(got.ap) == set(expected) and len(expected) == 6
    for key, (ap_value, auc_value) in expected.items():
        assert got.ap[key] == pytest.approx(ap_value, abs=1e-12)
        assert got.auc[key] == pytest.approx(auc_value, abs=1e-12)
    assert got.mean_ap == pytest.approx(np.mean([v[0] for v in expected.values()]), abs=1e-12)
    assert 0.0 < got.mean_ap < 1.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ap", ["trapezoid", "step"])
def test_matching_equals_the_slow_reference(seed, ap):
    descriptors = random_descriptors(seed)
    got = evaluate_matching(descriptors, list(SEQUENCES), ap=ap)
    expected = slow_matching(descriptors, list(SEQUENCES), ap)
    assert set(got) == set(expected) and len(expected) == len(SEQUENCES) * 15
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12)
    values = list(got.values())
    assert min(values) < max(values)


def test_matching_summaries():
    results = {("i_a", "e", 1): 0.9, ("i_b", "e", 1): 0.7, ("v_a", "e", 1): 0.2,
               ("i_a", "h", 1): 0.6, ("v_a", "h", 1): 0.4, ("v_b", "h", 1): 0.2}
    # Python results.py: mean over sequences and targets per noise level, then over the levels.
    assert summarise_matching(results) == pytest.approx(((0.9 + 0.7 + 0.2) / 3 + (0.6 + 0.4 + 0.2) / 3) / 2)
    # The article: mean per (noise, category), then over the groups.
    assert summarise_matching(results, "categories") == pytest.approx((0.8 + 0.2 + 0.6 + 0.3) / 4)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ap", ["trapezoid", "step"])
@pytest.mark.parametrize("pools", [(6, 10, 17), (8, 200), (17, 6, 10)])
def test_retrieval_equals_the_slow_reference(seed, ap, pools):
    descriptors, task = random_descriptors(seed), random_retrieval(seed)
    got, used = evaluate_retrieval(descriptors, task, pools, ap=ap, chunk_elements=200 * seed + 1)
    assert used == pools
    expected = slow_retrieval(descriptors, task, pools, ap)
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)
    assert got.min() < got.max()


def test_retrieval_with_one_pool_of_every_distractor():
    descriptors, task = random_descriptors(0), random_retrieval(0)
    got, used = evaluate_retrieval(descriptors, task, None, ap="step")
    assert used == (len(task.distractor_seq) + 5,)
    np.testing.assert_allclose(got, slow_retrieval(descriptors, task, used, "step"), atol=1e-12)


def test_evaluate_hpatches_forms_the_averages_of_all_factors():
    descriptors, ver, retr = random_descriptors(1), random_verification(1), random_retrieval(1)
    result = evaluate_hpatches(descriptors, ver, retr, list(SEQUENCES), pool_sizes=(6, 12))
    expected_ver = np.mean([v[0] for v in slow_verification(descriptors, ver, "trapezoid").values()])
    matching = slow_matching(descriptors, list(SEQUENCES), "trapezoid")
    expected_match = np.mean([np.mean([v for (s, n, i), v in matching.items() if n == noise]) for noise in NOISE_LEVELS])
    expected_retr = slow_retrieval(descriptors, retr, (6, 12), "trapezoid").mean()
    assert result.verification == pytest.approx(expected_ver, abs=1e-12)
    assert result.matching == pytest.approx(expected_match, abs=1e-12)
    assert result.retrieval == pytest.approx(expected_retr, abs=1e-12)
    assert result.protocol["ap"] == "trapezoid" and result.protocol["pool_sizes_used"] == [6, 12]
    article = evaluate_hpatches(descriptors, ver, retr, list(SEQUENCES), protocol="matlab_article")
    assert article.protocol["ap"] == "step" and article.protocol["pool_sizes_used"] == [len(retr.distractor_seq) + 5]
    assert article.retrieval != pytest.approx(result.retrieval)


def test_every_image_name_is_used():
    assert HPATCHES_IMAGES == ("ref", "e1", "e2", "e3", "e4", "e5", "h1", "h2", "h3", "h4", "h5",
                               "t1", "t2", "t3", "t4", "t5")


@pytest.mark.parametrize("make, message", [
    (lambda d, v, r: evaluate_verification({k: d[k] for k in list(d)[:2]}, v), "no descriptors for sequence"),
    (lambda d, v, r: evaluate_verification(d, VerificationTask(v.positives, v.intra, v.positives.__class__(
        v.inter.seq1[:3], v.inter.image1[:3], v.inter.idx1[:3], v.inter.seq2[:3], v.inter.image2[:3], v.inter.idx2[:3]))),
     "as many inter-sequence negatives as positives"),
    (lambda d, v, r: evaluate_verification(d, VerificationTask(*(PatchPairs(
        ("i_aa",), np.array([0]), np.array([99]), ("i_aa",), np.array([1]), np.array([0])),) * 3)),
     "names patch 99 of 'i_aa', which has 9 patches"),
    (lambda d, v, r: evaluate_retrieval(d, r, (5,)), "must exceed the 5 positives"),
    (lambda d, v, r: evaluate_retrieval(d, RetrievalTask(("v_cc",), np.array([40]), r.distractor_seq, r.distractor_idx)),
     "names patch 40 of 'v_cc'"),
    (lambda d, v, r: evaluate_hpatches(d, v, r, list(SEQUENCES), protocol="matlab"), "protocol: 'matlab'"),
    (lambda d, v, r: evaluate_hpatches(d, v, r, list(SEQUENCES), split="a"), "unknown HPatches setting(s) split"),
    (lambda d, v, r: average_precision([0.1], [1], ap="interpolated"), "ap: 'interpolated'"),
])
def test_bad_input_is_one_line(make, message):
    with pytest.raises(UserError) as error:
        make(random_descriptors(0), random_verification(0, 6), random_retrieval(0))
    assert message in str(error.value) and "\n" not in str(error.value)
