"""The patch-descriptor task (CSA Tables 7-8, 001_5fbd5da13318fd56.txt, "Local Descriptor
Learning"): its generators write the layouts its loaders read, at sizes from the scale's
`synthetic` block; the loaders refuse a broken layout in one line naming the path; the plan builds
Tables 7-8's cells keyed by the training subset, one cell per row and training subset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dmlrepro.errors import UserError
from dmlrepro.tasks import get_task
from dmlrepro.tasks.patch import BROWN_SUBSETS, HPATCHES, synthetic_sizes

TINY = {"train_ids": 8, "test_ids": 8}


@pytest.fixture(scope="module")
def task():
    return get_task("patch_descriptor")


@pytest.fixture(scope="module")
def data(task, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("patches")
    for dataset in ("brown_liberty", HPATCHES):
        task.make_data(dataset, root, 0, TINY)
    return root


def test_generated_layouts_read_back_at_the_scales_sizes(task, data):
    sizes = synthetic_sizes(TINY)
    brown = task.check_data("brown_liberty", data)
    assert brown["test_pairs"] == sizes["brown"]["pairs"] and brown["patches"] >= 2 * sizes["brown"]["points"]
    hp = task.check_data(HPATCHES, data)
    assert hp["sequences"] == sizes["hpatches"]["sequences"] and hp["split"] == "full"
    assert hp["verification_pairs"] == sizes["hpatches"]["pairs"]


def _copy(data: Path, tmp_path: Path, name: str) -> Path:
    shutil.copytree(data / name, tmp_path / name)
    return tmp_path


def _one_line(excinfo, *words):
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_phototour_tile_count_that_does_not_match_info_txt(task, data, tmp_path):
    root = _copy(data, tmp_path, "liberty")
    sorted((root / "liberty").glob("patches*.bmp"))[-1].unlink()
    with pytest.raises(UserError) as excinfo:
        task.check_data("brown_liberty", root)
    _one_line(excinfo, str(root / "liberty"), "tiles", "info.txt")


def test_a_pairs_file_naming_a_patch_out_of_range(task, data, tmp_path):
    root = _copy(data, tmp_path, "liberty")
    pairs = root / "liberty" / "m50_100000_100000_0.txt"
    lines = pairs.read_text().splitlines()
    fields = lines[3].split()
    fields[0] = "99999"
    pairs.write_text("\n".join(lines[:3] + [" ".join(fields)] + lines[4:]) + "\n")
    with pytest.raises(UserError) as excinfo:
        task.check_data("brown_liberty", root)
    _one_line(excinfo, f"{pairs}:4", "99999", "out of range")


def test_an_hpatches_sequence_missing_a_file(task, data, tmp_path):
    root = _copy(data, tmp_path, "hpatches-benchmark")
    release = root / "hpatches-benchmark" / "data" / "hpatches-release"
    missing = sorted(release.iterdir())[0] / "h3.png"
    missing.unlink()
    with pytest.raises(UserError) as excinfo:
        task.check_data(HPATCHES, root)
    _one_line(excinfo, str(missing), "missing")


def test_a_missing_subset_names_the_expected_layout(task, tmp_path):
    with pytest.raises(UserError) as excinfo:
        task.check_data("brown_yosemite", tmp_path)
    _one_line(excinfo, str(tmp_path / "yosemite"), "info.txt", "m50_100000_100000_0.txt")


@pytest.fixture(scope="module")
def plan():
    from dmlrepro.plan import build_plan

    return build_plan({"scale": "tiny", "seeds": [0], "device": "cpu", "pretrained": "auto", "data_root": None,
                       "papers": ["csa"]})


def test_the_plan_keys_table7_cells_by_the_training_subset(plan):
    table7 = plan.tables[("csa", "table7")]
    assert len(table7.cells) == 6
    for by_train in table7.cells.values():
        assert sorted(by_train) == sorted(BROWN_SUBSETS)  # one cell per training subset
        for train, cid in by_train.items():
            cell = plan.cells[cid]
            assert cell["dataset"] == train and cell["task"] == "patch_descriptor"
            assert train not in cell["test_datasets"]
            assert set(cell["test_datasets"]) >= set(BROWN_SUBSETS) - {train}
    assert len({cid for by in table7.cells.values() for cid in by.values()}) == 18


def test_table8_reads_the_liberty_cells_of_table7(plan):
    table7, table8 = plan.tables[("csa", "table7")], plan.tables[("csa", "table8")]
    assert {i: by["brown_liberty"] for i, by in table7.cells.items()} == \
        {i: by["brown_liberty"] for i, by in table8.cells.items()}
    for by in table8.cells.values():
        assert HPATCHES in plan.cells[by["brown_liberty"]]["test_datasets"]


def test_rows_resolve_to_the_papers_models(plan):
    models = {(plan.cells[cid]["model"]["name"], plan.cells[cid]["model"]["attention"], plan.cells[cid]["loss"])
              for by in plan.tables[("csa", "table7")].cells.values() for cid in by.values()}
    assert models == {(m, a, loss) for m, loss in (("hardnet", "hardnet"), ("ralnet", "ral")) for a in ("none", "sa", "csa")}
    csa = next(plan.cells[cid] for by in plan.tables[("csa", "table7")].cells.values() for cid in by.values()
               if plan.cells[cid]["model"]["attention"] == "csa")
    assert csa["model"] == {"name": csa["model"]["name"], "attention": "csa", "attention_after": 3, "bases": 32}


@pytest.mark.parametrize("column, words", [
    ({"id": "brown_liberty.fpr95", "dataset": "brown_liberty", "metric": "fpr95", "label": "x",
      "protocol": "test@brown_liberty"}, ["train_dataset"]),
    ({"id": "brown_liberty.fpr95", "dataset": "brown_liberty", "train_dataset": "brown_liberty", "metric": "fpr95",
      "label": "x", "protocol": "test@brown_liberty"}, ["tests on the subsets"]),
    ({"id": "brown_liberty.fpr95", "dataset": "brown_liberty", "train_dataset": "brown_yosemite", "metric": "fpr95",
      "label": "x"}, ["protocol", "test@brown_liberty"]),
    ({"id": "brown_liberty.fpr95", "dataset": "brown_liberty", "train_dataset": "brown_yosemite", "metric": "fpr95",
      "label": "x", "protocol": "hpatches"}, ["protocol 'hpatches'", "test@brown_liberty"]),
    ({"id": "hpatches.map", "dataset": "hpatches", "train_dataset": "brown_yosemite", "metric": "matching_map",
      "label": "x", "protocol": "hpatches"}, ["brown_liberty"]),
    ({"id": "hpatches.fpr95", "dataset": "hpatches", "train_dataset": "brown_liberty", "metric": "fpr95",
      "label": "x", "protocol": "hpatches"}, ["metric 'fpr95'"]),
])
def test_columns_the_evaluation_cannot_honour_are_refused(task, column, words):
    problem = task.column_problem(column, {"model": "hardnet"})
    assert problem is not None and "\n" not in problem
    for word in words:
        assert word in problem, problem


ROW = {"model": "hardnet", "backbone": "l2net", "attention": "csa", "bases": 32, "groups": 1, "layers": [3],
       "deep_supervision": False, "loss": {"hardnet": 1.0}}


@pytest.mark.parametrize("change, own, words", [
    ({"groups": 2}, {}, ["groups 2", "no channel grouping"]),
    ({"deep_supervision": True}, {}, ["deep supervision"]),
    ({"loss": {"ral": 1.0}}, {}, ["hardnet trains with its own loss"]),
    ({"backbone": "resnet50"}, {}, ["backbone"]),
    ({"stages": [1, 2]}, {"stages": [1, 2]}, ["stages", "does nothing"]),
    ({"embedding_dim": 64}, {}, ["embedding_dim", "does nothing"]),
    ({"layers": [3, 4]}, {}, ["layers"]),
])
def test_rows_the_trainer_cannot_honour_are_refused(task, change, own, words):
    assert task.cell_problem(ROW, {}) is None
    assert task.cell_problem({**ROW, "stages": [1, 2, 3], "ds_lambda": 1.0}, {}) is None  # inherited re-ID keys
    problem = task.cell_problem({**ROW, **change}, own)
    assert problem is not None and "\n" not in problem
    for word in words:
        assert word in problem, problem
