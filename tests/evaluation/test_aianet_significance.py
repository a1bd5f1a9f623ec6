"""Sec. 5.6's t-test of AiA-Net w/ Gau against MuDeep (dmlrepro.evaluation.aianet_significance)."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from dmlrepro.evaluation.aianet_significance import one_sample_t_test, significance


def test_one_sample_t_test_is_scipys_and_one_sided_halves_a_positive_t():
    values = [96.2, 96.9, 96.5, 96.8]
    result = one_sample_t_test(values, 95.8)
    assert result["p_two_sided"] == pytest.approx(stats.ttest_1samp(values, 95.8).pvalue)
    assert result["t"] > 0 and result["p_one_sided"] == pytest.approx(result["p_two_sided"] / 2)
    assert math.isnan(one_sample_t_test([96.0], 95.8)["p_one_sided"])


def test_reads_the_table9_gau_cells_over_seeds(tmp_path):
    from dmlrepro.plan import build_plan

    plan = build_plan({"scale": "smoke", "seeds": [0, 1], "device": "cpu", "pretrained": "auto", "papers": ["aianet"]})
    out = significance(plan, tmp_path, [0, 1, 2])
    for test in out:
        assert test["missing_seeds"] == [0, 1, 2]
    for seed, value in ((0, 97.0), (1, 96.0)):
        path = tmp_path / "cells" / out[0]["cell"] / f"seed{seed}" / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"metrics": {"rank1": value}}))
    first = significance(plan, tmp_path, [0, 1])[0]
    assert (first["column"], first["seeds"], first["paper_p"]) == ("cuhk03_labeled.rank1", [0, 1], 0.0026)
    assert first["p_two_sided"] == pytest.approx(stats.ttest_1samp([97.0, 96.0], 95.8).pvalue)
