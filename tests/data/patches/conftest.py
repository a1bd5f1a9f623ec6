"""Small synthetic Brown and HPatches datasets, written once per session by the embedded generator."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Small enough to write in a few seconds, large enough for several tiles and every task file.
BROWN = dict(seed=0, points=150, pairs=400)
HPATCHES = dict(seed=0, sequences=4, points=24, pairs=300, queries=20, distractors=40)


@pytest.fixture(scope="session")
def brown_config() -> dict:
    return dict(BROWN)


@pytest.fixture(scope="session")
def hpatches_config() -> dict:
    return dict(HPATCHES)


@pytest.fixture(scope="session")
def brown_root(tmp_path_factory) -> Path:
    from dmlrepro.data.patches.synthetic_patches import generate_phototour

    root = tmp_path_factory.mktemp("brown")
    generate_phototour(root, names=("liberty", "yosemite"), **BROWN)
    return root


@pytest.fixture(scope="session")
def hpatches_root(tmp_path_factory) -> Path:
    from dmlrepro.data.patches.synthetic_patches import generate_hpatches

    return generate_hpatches(tmp_path_factory.mktemp("hpatches"), **HPATCHES)
