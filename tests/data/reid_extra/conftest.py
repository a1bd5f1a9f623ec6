"""One pristine synthetic data root per extra dataset, written once per module; tests that damage
a dataset copy it first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dmlrepro.data.reid_extra.synthetic_extra import generate_extra_dataset

SIZES = {"msmt17": (6, 6), "cuhk01": (6, 7), "cuhk03_classic": (8, 3), "mars": (4, 4)}


@pytest.fixture(scope="session")
def sizes() -> dict[str, tuple[int, int]]:
    """(train ids, test ids) of each generated dataset."""
    return dict(SIZES)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    roots = {}
    for name, (train, test) in SIZES.items():
        root = tmp_path_factory.mktemp(name)
        generate_extra_dataset(root, name, num_train_ids=train, num_test_ids=test)
        roots[name] = root
    return roots


@pytest.fixture
def copy_of(generated, tmp_path):
    def copy(name: str) -> Path:
        root = tmp_path / "data"
        shutil.copytree(generated[name], root)
        return root

    return copy
