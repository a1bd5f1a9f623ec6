"""The dataset loaders, run over the registry itself (timm style) on the embedded synthetic data."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from dmlrepro.data import DatasetLayoutError, ReIDDataset, build_reid_dataset, list_datasets
from dmlrepro.data.synthetic import VARIANTS

#: The datasets the re-ID generator writes (other loaders, e.g. CUHK03-NP labeled, have their own tests).
GENERATED = sorted(VARIANTS)
from dmlrepro.data.synthetic import VARIANTS, SyntheticConfig, generate_reid_dataset, plan_dataset

COUNTS = {"num_train_ids": 10, "num_test_ids": 8, "images_per_train_id": 5}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    """One pristine data root per dataset; tests that damage a dataset copy it first."""
    roots = {}
    for name in GENERATED:
        root = tmp_path_factory.mktemp(name)
        generate_reid_dataset(root, name, **COUNTS)
        roots[name] = root
    return roots


def _copy(generated: dict[str, Path], name: str, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(generated[name], root)
    return root


def test_registry_lists_the_generated_datasets_and_rejects_others(tmp_path):
    assert set(GENERATED) == {"cuhk03np", "dukemtmc", "market1501"} and set(GENERATED) <= set(list_datasets())
    with pytest.raises(ValueError, match="valid names: .*cuhk03np, .*dukemtmc, .*market1501"):
        build_reid_dataset("viper", tmp_path)


@pytest.mark.parametrize("name", GENERATED)
def test_reads_the_synthetic_dataset_with_the_planned_counts(generated, name):
    dataset = build_reid_dataset(name, generated[name])
    plan = plan_dataset(SyntheticConfig(name, **COUNTS))
    num_cams = VARIANTS[name].layout.num_cams
    planned = Counter(s.split for s in plan.images if s.pid != -1)
    assert (len(dataset.train), len(dataset.query), len(dataset.gallery)) == (
        planned["train"], planned["query"], planned["gallery"])
    assert dataset.num_train_pids == 10
    assert sorted({pid for _, pid, _ in dataset.train}) == list(range(10))
    assert {pid for _, pid, _ in dataset.query} == set(plan.test_pids)
    assert {pid for _, pid, _ in dataset.gallery} - {0} == set(plan.test_pids)
    camids = {camid for _, _, camid in dataset.train + dataset.query + dataset.gallery}
    assert camids <= set(range(num_cams)) and min(camids) == 0
    assert 2 <= dataset.num_train_cams <= num_cams
    assert dataset.root == generated[name] / VARIANTS[name].layout.canonical_subdir
    assert all(Path(path).is_file() for path, _, _ in dataset.gallery)


@pytest.mark.parametrize("name", GENERATED)
def test_train_relabelling_keeps_pid_order(generated, name):
    dataset = build_reid_dataset(name, generated[name])
    plan = plan_dataset(SyntheticConfig(name, **COUNTS))
    for path, label, camid in dataset.train:
        original = int(Path(path).name.split("_")[0])
        assert plan.train_pids[label] == original
        assert Path(path).name.split("_")[1].startswith(f"c{camid + 1}")


def test_market_drops_junk_and_keeps_distractors(generated):
    dataset = build_reid_dataset("market1501", generated["market1501"])
    junk_files = list((dataset.root / "bounding_box_test").glob("-1_c*.jpg"))
    assert len(junk_files) == VARIANTS["market1501"].num_junk > 0
    assert all(pid != -1 for _, pid, _ in dataset.train + dataset.query + dataset.gallery)
    distractors = [item for item in dataset.gallery if item[1] == 0]
    assert len(distractors) == VARIANTS["market1501"].num_distractors > 0
    assert all(pid != 0 for _, pid, _ in dataset.query)


@pytest.mark.parametrize("name", GENERATED)
def test_accepts_the_data_root_and_the_dataset_folder_itself(generated, name):
    via_root = build_reid_dataset(name, generated[name])
    direct = build_reid_dataset(name, str(via_root.root))
    assert direct.root == via_root.root
    assert (direct.train, direct.query, direct.gallery) == (via_root.train, via_root.query, via_root.gallery)


@pytest.mark.parametrize(("name", "alias"), [("market1501", "market1501"), ("dukemtmc", "DukeMTMC-reID"),
                                             ("cuhk03np", "detected")])
def test_accepts_the_other_documented_places(generated, name, alias, tmp_path):
    source = build_reid_dataset(name, generated[name]).root
    shutil.copytree(source, tmp_path / alias)
    dataset = build_reid_dataset(name, tmp_path)
    assert dataset.root == tmp_path / alias
    assert len(dataset.train) == len(build_reid_dataset(name, generated[name]).train)


def _assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message
    assert "expected <root>/" in message and "bounding_box_train" in message
    assert "python -m dmlrepro.data.synthetic" in message


def test_missing_root_is_reported(tmp_path):
    with pytest.raises(DatasetLayoutError) as error:
        build_reid_dataset("market1501", tmp_path / "nowhere")
    _assert_one_line_naming(error, tmp_path / "nowhere")


def test_root_without_any_split_folder_is_reported(tmp_path):
    (tmp_path / "market1501").mkdir()
    with pytest.raises(DatasetLayoutError, match="no market1501 split folders") as error:
        build_reid_dataset("market1501", tmp_path)
    _assert_one_line_naming(error, tmp_path)


def test_cuhk03_error_explains_the_mat_layout_is_not_read(tmp_path):
    (tmp_path / "cuhk03" / "cuhk03_release").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=r"cuhk-03\.mat layout is not read"):
        build_reid_dataset("cuhk03np", tmp_path)


@pytest.mark.parametrize("name", GENERATED)
def test_missing_split_folder_is_reported(generated, name, tmp_path):
    root = _copy(generated, name, tmp_path)
    query = root / VARIANTS[name].layout.canonical_subdir / "query"
    shutil.rmtree(query)
    with pytest.raises(DatasetLayoutError, match="missing split folder") as error:
        build_reid_dataset(name, root)
    _assert_one_line_naming(error, query)


def test_empty_query_is_reported(generated, tmp_path):
    root = _copy(generated, "dukemtmc", tmp_path)
    query = root / "dukemtmc-reid" / "DukeMTMC-reID" / "query"
    for path in query.iterdir():
        path.unlink()
    (query / "Thumbs.db").write_bytes(b"")  # non-images do not count
    with pytest.raises(DatasetLayoutError, match="no .jpg images") as error:
        build_reid_dataset("dukemtmc", root)
    _assert_one_line_naming(error, query)


def test_gallery_of_only_junk_is_empty(generated, tmp_path):
    root = _copy(generated, "market1501", tmp_path)
    gallery = root / "market1501" / "Market-1501-v15.09.15" / "bounding_box_test"
    for path in gallery.iterdir():
        if not path.name.startswith("-1_"):
            path.unlink()
    with pytest.raises(DatasetLayoutError) as error:
        build_reid_dataset("market1501", root)
    _assert_one_line_naming(error, gallery)


@pytest.mark.parametrize(("name", "bad_name"), [
    ("market1501", "0001_c1_f0000001.jpg"),  # a Duke name in Market
    ("market1501", "0001_c7s1_000001_00.jpg"),  # Market has 6 cameras
    ("dukemtmc", "person.jpg"),
    ("cuhk03np", "0001_c3_1.png"),  # CUHK03 has 2 cameras
])
def test_badly_named_image_is_reported_by_name(generated, name, bad_name, tmp_path):
    root = _copy(generated, name, tmp_path)
    train = root / VARIANTS[name].layout.canonical_subdir / "bounding_box_train"
    shutil.copy(next(train.iterdir()), train / bad_name)
    with pytest.raises(DatasetLayoutError, match="does not match") as error:
        build_reid_dataset(name, root)
    _assert_one_line_naming(error, train / bad_name)


def test_train_pids_must_be_relabelled(tmp_path):
    with pytest.raises(ValueError, match="relabelled"):
        ReIDDataset("x", tmp_path, train=[("a.jpg", 5, 0)], query=[], gallery=[])


def test_summary_counts_ids_images_and_cameras(generated):
    dataset = build_reid_dataset("cuhk03np", generated["cuhk03np"])
    lines = dataset.summary().splitlines()
    assert lines[0].startswith("cuhk03np (")
    train = lines[2].split("|")
    assert [int(x) for x in train[1:]] == [10, 50, dataset.num_train_cams]
