"""Small synthetic retrieval datasets, generated once per session for the retrieval tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SMALL = {"num_train_classes": 6, "num_test_classes": 5, "images_min": 3, "images_max": 4}


@pytest.fixture(scope="session")
def small() -> dict:
    """The counts the ``generated`` datasets were written with."""
    return dict(SMALL)


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> dict[str, Path]:
    """One pristine data root per variant; tests that damage a dataset copy it first."""
    from dmlrepro.data.retrieval.synthetic_retrieval import VARIANTS, generate_retrieval_dataset

    roots = {}
    for name in VARIANTS:
        root = tmp_path_factory.mktemp(f"retrieval-{name}")
        generate_retrieval_dataset(root, name, seed=0, **SMALL)
        roots[name] = root
    return roots


@pytest.fixture
def copy_of(generated, tmp_path):
    """A writable copy of a generated data root."""

    def make(name: str) -> Path:
        root = tmp_path / "data"
        shutil.copytree(generated[name], root)
        return root

    return make
