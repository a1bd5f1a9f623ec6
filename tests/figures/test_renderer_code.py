"""A figure's rule reruns when its drawing code changes: the renderer's hash covers the module and the
dmlrepro.figures modules it imports (transitively), and nothing else."""

from __future__ import annotations

import shutil

from dmlrepro.figures import renderer_code
from dmlrepro.figures.renderer_code import figure_modules, renderer_code_hash


def test_modules_are_followed_transitively():
    modules = figure_modules("reid_failure_cases")
    assert {"reid_failure_cases", "ranking_examples", "plotting", "manifest"} <= set(modules)
    assert "attention_maps" not in modules


def test_a_change_of_an_imported_helper_changes_the_hash_and_an_unrelated_one_does_not(tmp_path, monkeypatch):
    copy = tmp_path / "figures"
    shutil.copytree(renderer_code.FIGURES_DIR, copy)
    monkeypatch.setattr(renderer_code, "FIGURES_DIR", copy)
    before = renderer_code_hash("bar_chart")
    (copy / "attention_maps.py").write_text((copy / "attention_maps.py").read_text() + "\n# unrelated\n")
    assert renderer_code_hash("bar_chart") == before
    (copy / "plotting.py").write_text((copy / "plotting.py").read_text() + "\n# a helper changed\n")
    assert renderer_code_hash("bar_chart") != before
