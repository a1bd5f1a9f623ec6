"""DCES Figure S1's renderer (figures/learner_examples.py) draws a cell's recorded queries, one row per
learner, and says in one line what is missing."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from dmlrepro.errors import UserError
from dmlrepro.figures.learner_examples import draw


def _manifest(tmp_path, learner_examples) -> dict:
    record = {"cell": {"dataset": "sop", "data_root": "data/synthetic", "model": {"embedding_dim": 8, "num_learners": 2}},
              "metrics": {"learner_examples": learner_examples}}
    (tmp_path / "metrics.json").write_text(json.dumps(record))
    point = {"dataset": "sop", "x": None, "cell": "sop-dces-x", "metrics": [str(tmp_path / "metrics.json")],
             "model": str(tmp_path / "model.pt"), "protocol": None}
    return {"paper": "dces", "source": "004_82c542c12fef7e00.txt", "figure": "figS1", "number": "S1",
            "kind": "learner_examples", "caption": "Representative images.", "scale": "tiny", "seeds": [0],
            "panels": [{"panel": None, "caption": None, "metric": None, "datasets": ["sop"], "x": None,
                        "series": [{"label": None, "color": None, "points": [point]}]}]}


def test_one_row_per_learner_with_its_queries(tmp_path):
    paths = []
    for i, colour in enumerate(("red", "blue", "green")):
        paths.append(str(tmp_path / f"q{i}.png"))
        Image.new("RGB", (12, 12), colour).save(paths[-1])
    found = {"hit_rank": 1, "miss_beyond": 30, "per_learner": 3, "queries": [[0, 1], [2]],
             "paths": [paths[:2], paths[2:]], "ranks": [[[1, 40], [1, 2]], [[35, 1]]],
             "meets_rule": [[True, False], [True]], "qualifying": [1, 1]}
    figure, summary = draw(_manifest(tmp_path, found))
    axes = figure.axes
    assert len(axes) == 2 * 3
    assert [len(a.images) for a in axes] == [1, 1, 0, 1, 0, 0]
    assert axes[0].spines["top"].get_edgecolor()[:3] != axes[1].spines["top"].get_edgecolor()[:3]
    assert summary[0].startswith("learner 1: 1 queries qualify, shown 2")


def test_a_record_without_queries_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError) as info:
        draw(_manifest(tmp_path, None))
    assert "has no learner_examples" in str(info.value) and "\n" not in str(info.value)
