"""Shared fixtures: small cells and a tiny synthetic dataset built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dmlrepro.cells import resolve_reid_cell
from dmlrepro.config import load_scales


# Small tensors: one thread is as fast, and two threads thrash when CI shares the cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def scales() -> dict:
    return load_scales()


@pytest.fixture(scope="session")
def reid_presets() -> dict:
    """The re-ID papers' training presets (config/presets/<paper>.yaml), by paper then scale."""
    import yaml

    from dmlrepro.presets import PRESET_DIR

    return {paper: yaml.safe_load((PRESET_DIR / f"{paper}.yaml").read_text()) for paper in ("csalr", "csa")}


@pytest.fixture(scope="session")
def tiny_scale(scales) -> dict:
    return {**scales["tiny"], "name": "tiny"}


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory) -> Path:
    """A tiny Market-1501-layout dataset written by the embedded generator."""
    from dmlrepro.data.synthetic import generate_reid_dataset

    root = tmp_path_factory.mktemp("data")
    generate_reid_dataset(root, "market1501", seed=0, num_train_ids=8, num_test_ids=8)
    return root


@pytest.fixture
def tiny_cell(tiny_scale, tiny_market):
    def make(**paper_cell) -> dict:
        paper_cell.setdefault("attention", "csalr")
        if paper_cell["attention"] == "csalr":
            paper_cell.setdefault("samples", 96)
            paper_cell.setdefault("groups", 2)
        if paper_cell["attention"] != "none":
            paper_cell.setdefault("stages", [1, 2, 3])
        return resolve_reid_cell(paper_cell, "market1501", tiny_scale, str(tiny_market))

    return make
