"""A cell's `split` selects that vanilla split of CUHK03 (dmlrepro.tasks.reid.load_cell_data →
dmlrepro.data.reid_extra.cuhk03_classic): the generated split file's identities, for both box
types; a split the file does not have, or a split on a dataset without splits, is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dmlrepro.data.reid_extra.common import ExtraLayoutError
from dmlrepro.data.reid_extra.cuhk03_classic import NUM_SPLITS
from dmlrepro.data.reid_extra.synthetic_extra import generate_extra_dataset
from dmlrepro.errors import UserError
from dmlrepro.tasks.reid import SPLIT_DATASETS, ReIDTask, load_cell_data, load_reid_data

TRAIN_IDS, TEST_IDS = 8, 3


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cuhk03")
    generate_extra_dataset(root, "cuhk03_classic", num_train_ids=TRAIN_IDS, num_test_ids=TEST_IDS)
    return root


def _person(path: str) -> str:
    """`P_NNN` of torchreid's `P_NNN_V_II.png`: camera pair and person, one identity."""
    return "_".join(Path(path).name.split("_")[:2])


def test_the_generator_writes_the_protocols_20_splits(root):
    assert NUM_SPLITS == 20 and SPLIT_DATASETS == {"cuhk03": NUM_SPLITS, "cuhk03_labeled": NUM_SPLITS, "cuhk01": 20}
    assert ReIDTask.split_datasets == SPLIT_DATASETS
    for boxes in ("detected", "labeled"):
        splits = json.loads((root / "cuhk03" / f"splits_classic_{boxes}.json").read_text())
        assert len(splits) == NUM_SPLITS
        assert len({frozenset(_person(p) for p, _, _ in s["query"]) for s in splits}) > 1  # test sets differ


@pytest.mark.parametrize("dataset, boxes", [("cuhk03", "detected"), ("cuhk03_labeled", "labeled")])
def test_a_cells_split_reads_that_splits_identities(root, dataset, boxes):
    splits = json.loads((root / "cuhk03" / f"splits_classic_{boxes}.json").read_text())
    everyone = {_person(p) for s in splits for key in ("train", "query") for p, _, _ in s[key]}
    for k in (0, 5, 19):
        data = load_cell_data({"dataset": dataset, "data_root": str(root), **({"split": k} if k else {})})
        expected_test = {_person(p) for p, _, _ in splits[k]["query"]}
        assert {_person(p) for p, _, _ in data.query} == expected_test
        assert sorted(Path(p).name for p, _, _ in data.query) == sorted(Path(p).name for p, _, _ in splits[k]["query"])
        assert {_person(p) for p, _, _ in data.train} == everyone - expected_test  # the other identities train
        assert data.num_train_pids == TRAIN_IDS and len(expected_test) == TEST_IDS
        assert all(Path(p).parent.name == f"images_{boxes}" for p, _, _ in data.train + data.query)
    assert load_reid_data(dataset, root, 0).train == load_cell_data({"dataset": dataset, "data_root": str(root)}).train


def test_a_split_the_file_does_not_have_names_the_file_and_its_count(root):
    with pytest.raises(ExtraLayoutError) as error:
        load_cell_data({"dataset": "cuhk03", "data_root": str(root), "split": NUM_SPLITS})
    message = str(error.value)
    assert "\n" not in message
    assert "split_id 20 is out of range 0..19 (the file has 20 splits)" in message
    assert str(root / "cuhk03" / "splits_classic_detected.json") in message


def test_a_split_on_a_dataset_without_splits_is_refused(tmp_path):
    with pytest.raises(UserError) as error:
        load_reid_data("market1501", tmp_path, split=3)
    assert "\n" not in str(error.value)
    assert "split: 3 on dataset market1501, which has no splits" in str(error.value)
