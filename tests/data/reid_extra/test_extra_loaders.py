"""The loaders of AiA-Net's additional datasets (002_e585b7ac4801a221.txt, Sec. 5.1, 5.5) on their
generated layouts, and the one-line errors for malformed ones."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from dmlrepro.data.reid_dataset import ReIDDataset
from dmlrepro.data.reid_extra import (
    ExtraLayoutError,
    VideoReIDDataset,
    build_extra_dataset,
    extra_dataset_options,
    list_extra_datasets,
)
from dmlrepro.data.reid_extra.synthetic_extra import VARIANTS
from dmlrepro.errors import UserError
from dmlrepro.evaluation.video_reid import evaluate_video_reid, flatten_tracklets


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def marker(dataset_dir: Path) -> dict:
    return json.loads((dataset_dir / "DATASET_COMPLETE").read_text())


# --- registry ---------------------------------------------------------------------------------


def test_registry_lists_the_four_datasets_and_their_options(tmp_path):
    assert list_extra_datasets() == ["cuhk01", "cuhk03_classic", "mars", "msmt17"] == sorted(VARIANTS)
    assert extra_dataset_options("cuhk03_classic") == ["boxes", "split_id"]
    with pytest.raises(UserError) as error:
        build_extra_dataset("prid", tmp_path)
    assert_one_line(error, "unknown dataset 'prid'; valid names: cuhk01, cuhk03_classic, mars, msmt17")
    with pytest.raises(UserError) as error:
        build_extra_dataset("mars", tmp_path, split_id=1)
    assert_one_line(error, "unknown option(s) split_id for dataset 'mars'; valid: min_frames")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_loader_reads_its_generated_layout(generated, sizes, name):
    dataset = build_extra_dataset(name, generated[name])
    assert dataset.root == generated[name] / VARIANTS[name].canonical_subdir
    train_ids, test_ids = sizes[name]
    if name == "cuhk01":  # the loader halves the persons itself, rounding the train half down
        train_ids, test_ids = (train_ids + test_ids) // 2, (train_ids + test_ids + 1) // 2
    assert dataset.num_train_pids == train_ids
    assert sorted({pid for _, pid, _ in dataset.train}) == list(range(train_ids))
    assert len({pid for _, pid, _ in dataset.query}) == test_ids
    items = dataset.train + dataset.query + dataset.gallery
    assert {camid for _, _, camid in items} <= set(range(VARIANTS[name].num_cams if name != "cuhk03_classic" else 2))
    paths = [p for item in items for p in (item[0] if name == "mars" else [item[0]])]
    assert all(Path(p).is_file() for p in paths)
    assert isinstance(dataset, VideoReIDDataset if name == "mars" else ReIDDataset)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_accepts_the_dataset_folder_itself(generated, name):
    via_root = build_extra_dataset(name, generated[name])
    direct = build_extra_dataset(name, via_root.root)
    assert (direct.root, direct.train, direct.query, direct.gallery) == (
        via_root.root, via_root.train, via_root.query, via_root.gallery)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_missing_root_and_empty_root_are_reported(name, tmp_path):
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset(name, tmp_path / "nowhere")
    assert_one_line(error, "data root does not exist", str(tmp_path / "nowhere"), "synthetic_extra")
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset(name, tmp_path)
    assert_one_line(error, f"no {name} dataset found", "expected <root>/")


# --- MSMT17 -----------------------------------------------------------------------------------


def test_msmt17_lists_pids_cameras_and_the_val_rule(generated):
    dataset = build_extra_dataset("msmt17", generated["msmt17"])
    counts = marker(dataset.root)["images"]
    assert (len(dataset.train), len(dataset.query), len(dataset.gallery)) == (
        counts["train"], counts["query"], counts["gallery"])
    for path, pid, camid in dataset.query + dataset.gallery:
        name = Path(path).name
        assert Path(path).parent.name == f"{pid:04d}" and int(name.split("_")[2]) == camid + 1
        assert Path(path).parts[-3] == "test"
    with_val = build_extra_dataset("msmt17", generated["msmt17"], train_with_val=True)
    assert len(with_val.train) == counts["train"] + counts["val"] > len(dataset.train)
    assert with_val.num_train_pids == dataset.num_train_pids  # val holds training identities


def test_msmt17_list_naming_a_missing_file(copy_of):
    root = copy_of("msmt17")
    dataset_dir = root / "msmt17" / "MSMT17_V1"
    first = (dataset_dir / "list_gallery.txt").read_text().split()[0]
    (dataset_dir / "test" / first).unlink()
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("msmt17", root)
    assert_one_line(error, "image named in list_gallery.txt does not exist", str(dataset_dir / "test" / first))


@pytest.mark.parametrize("line, problem", [
    ("0000/0000_000_01_0303morning_0001_0.jpg", "line has 1 fields where '<relative path> <pid>' has 2"),
    ("0000/0000_000_01_0303morning_0001_0.jpg x", "pid 'x' is not a non-negative integer"),
    ("0000/0000_000_16_0303morning_0001_0.jpg 0", "has no camera 1..15 as its third '_' field"),
])
def test_msmt17_malformed_list_line(copy_of, line, problem):
    root = copy_of("msmt17")
    listing = root / "msmt17" / "MSMT17_V1" / "list_query.txt"
    listing.write_text(listing.read_text() + line + "\n")
    number = len(listing.read_text().splitlines())
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("msmt17", root)
    assert_one_line(error, problem, f"{listing}:{number}")


def test_msmt17_missing_list_is_a_half_extracted_dataset(copy_of):
    root = copy_of("msmt17")
    (root / "msmt17" / "MSMT17_V1" / "list_val.txt").unlink()
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("msmt17", root)
    assert_one_line(error, "missing file", "list_val.txt")


# --- CUHK01 -----------------------------------------------------------------------------------


def test_cuhk01_splits_halve_the_persons_and_cross_the_cameras(generated, sizes):
    splits = [build_extra_dataset("cuhk01", generated["cuhk01"], split_id=k) for k in range(4)]
    persons = sum(sizes["cuhk01"])
    for k, split in enumerate(splits):
        train_files = {Path(p).name[:4] for p, _, _ in split.train}
        test_pids = {pid for _, pid, _ in split.query}
        assert len(train_files) == persons // 2 and len(test_pids) == persons - persons // 2
        assert train_files.isdisjoint(f"{pid + 1:04d}" for pid in test_pids)
        assert {c for _, _, c in split.query} == {k % 2} and {c for _, _, c in split.gallery} == {1 - k % 2}
        assert {pid for _, pid, _ in split.gallery} == test_pids
        for path, pid, camid in split.query:
            image = int(Path(path).stem[4:])
            assert int(Path(path).stem[:4]) == pid + 1 and (image - 1) // 2 == camid
    assert splits[0].train == splits[1].train  # one identity split, both query cameras
    assert splits[0].train != splits[2].train
    again = build_extra_dataset("cuhk01", generated["cuhk01"], split_id=2)
    assert again.train == splits[2].train
    other_seed = build_extra_dataset("cuhk01", generated["cuhk01"], split_id=2, split_seed=1)
    assert other_seed.train != splits[2].train


def test_cuhk01_reads_a_torchreid_split_cache(copy_of):
    root = copy_of("cuhk01")
    campus = root / "cuhk01" / "campus"
    names = sorted(p.name for p in campus.iterdir())
    entry = lambda name, pid: ["/elsewhere/cuhk01/campus/" + name, pid, (int(name[4:7]) - 1) // 2]  # noqa: E731
    train = [entry(n, int(n[:4]) - 1) for n in names if int(n[:4]) <= 3]
    test = [entry(n, int(n[:4]) - 1) for n in names if int(n[:4]) > 3]
    split = {"train": train, "query": [e for e in test if e[2] == 0], "gallery": [e for e in test if e[2] == 1]}
    (root / "cuhk01" / "splits.json").write_text(json.dumps([split]))
    dataset = build_extra_dataset("cuhk01", root)
    assert dataset.num_train_pids == 3 and len(dataset.train) == 12
    assert all(Path(p).parent == campus for p, _, _ in dataset.train + dataset.query)
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk01", root, split_id=1)
    assert_one_line(error, "split_id 1 is out of range 0..0", "splits.json")


def test_cuhk01_bad_image_name_and_split_id(copy_of):
    root = copy_of("cuhk01")
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk01", root, split_id=20)
    assert_one_line(error, "split_id 20 is out of range 0..19")
    bad = root / "cuhk01" / "campus" / "0001005.png"
    (root / "cuhk01" / "campus" / "0001001.png").rename(bad)
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk01", root)
    assert_one_line(error, "image name is not NNNNMMM.png", str(bad))


# --- CUHK03, vanilla protocol -----------------------------------------------------------------


def test_cuhk03_classic_splits(generated, sizes):
    train_ids, test_ids = sizes["cuhk03_classic"]
    seen_test_sets = set()
    for split_id in (0, 7, 19):
        for boxes in ("detected", "labeled"):
            dataset = build_extra_dataset("cuhk03_classic", generated["cuhk03_classic"],
                                          boxes=boxes, split_id=split_id)
            assert dataset.name == f"cuhk03_classic_{boxes}"
            assert dataset.query == dataset.gallery  # the vanilla protocol ranks the test set against itself
            assert len({pid for _, pid, _ in dataset.query}) == test_ids
            assert dataset.num_train_pids == train_ids
            assert all(Path(p).parent.name == f"images_{boxes}" for p, _, _ in dataset.train + dataset.query)
            for path, _, camid in dataset.train + dataset.query:
                assert re.fullmatch(r"[1-5]_\d{3}_[12]_\d{2}\.png", Path(path).name)
                assert int(Path(path).name.split("_")[2]) == camid + 1
            test_names = {Path(p).name[:5] for p, _, _ in dataset.query}
            assert test_names.isdisjoint(Path(p).name[:5] for p, _, _ in dataset.train)
        seen_test_sets.add(frozenset(test_names))
    assert len(seen_test_sets) == 3


def test_cuhk03_detected_and_labeled_boxes_differ(generated):
    detected = build_extra_dataset("cuhk03_classic", generated["cuhk03_classic"], boxes="detected")
    labeled = build_extra_dataset("cuhk03_classic", generated["cuhk03_classic"], boxes="labeled")
    assert [Path(p).name for p, _, _ in detected.train] == [Path(p).name for p, _, _ in labeled.train]
    assert Path(detected.train[0][0]).read_bytes() != Path(labeled.train[0][0]).read_bytes()


def test_cuhk03_mat_that_is_not_hdf5(tmp_path):
    mat = tmp_path / "cuhk03" / "cuhk03_release" / "cuhk-03.mat"
    mat.parent.mkdir(parents=True)
    scipy.io.savemat(mat, {"testsets": np.zeros((1, 2))})  # a v5 file, not the v7.3 release
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", tmp_path)
    assert_one_line(error, "not a MATLAB v7.3 (HDF5) file", str(mat))


def test_cuhk03_hdf5_mat_without_conversion_names_the_fix(tmp_path):
    mat = tmp_path / "cuhk03" / "cuhk03_release" / "cuhk-03.mat"
    mat.parent.mkdir(parents=True)
    mat.write_bytes(b"MATLAB 7.3 MAT-file".ljust(512, b" ") + b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", tmp_path)
    assert_one_line(error, "cuhk-03.mat is not converted", "cuhk03_classic_split=True")


def test_cuhk03_split_file_problems(copy_of):
    root = copy_of("cuhk03_classic")
    splits_path = root / "cuhk03" / "splits_classic_detected.json"
    splits = json.loads(splits_path.read_text())
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", root, split_id=20)
    assert_one_line(error, "split_id 20 is out of range 0..19")
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", root, boxes="both")
    assert_one_line(error, "unknown boxes 'both'", "detected, labeled")
    del splits[3]["gallery"]
    splits_path.write_text(json.dumps(splits))
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", root, split_id=3)
    assert_one_line(error, "split 3 has no 'gallery' key", str(splits_path))
    name = Path(splits[0]["train"][0][0]).name
    (root / "cuhk03" / "images_detected" / name).unlink()
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", root, split_id=0)
    assert_one_line(error, "does not exist", name)
    splits_path.write_text("{not json")
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("cuhk03_classic", root)
    assert_one_line(error, "not a json split file")


# --- MARS -------------------------------------------------------------------------------------


def test_mars_tracklets_query_gallery_and_junk(generated, sizes):
    dataset = build_extra_dataset("mars", generated["mars"])
    counts = marker(dataset.root)["images"]
    assert len(dataset.train) == counts["train_tracklets"]
    assert len(dataset.query) == counts["query_tracklets"] == sizes["mars"][1]
    # Test tracklets minus queries minus the junk one; the distractor stays in the gallery.
    assert len(dataset.gallery) == counts["test_tracklets"] - counts["query_tracklets"] - 1
    assert Counter(pid for _, pid, _ in dataset.gallery)[0] == 1
    assert all(pid != -1 for _, pid, _ in dataset.train + dataset.query + dataset.gallery)
    for frames, pid, camid in dataset.query + dataset.gallery:
        assert len(frames) >= 2 and len({Path(f).name[:4] for f in frames}) == 1
        assert {Path(f).name[5] for f in frames} == {str(camid + 1)}
        assert Path(frames[0]).parent.name == f"{pid:04d}" and Path(frames[0]).parts[-3] == "bbox_test"
    assert {pid for _, pid, _ in dataset.query} <= {pid for _, pid, _ in dataset.gallery}
    assert sum(len(f) for f, _, _ in dataset.train + dataset.query + dataset.gallery) < counts["frames"]
    shorter = build_extra_dataset("mars", generated["mars"], min_frames=4)
    assert all(len(f) >= 4 for f, _, _ in shorter.gallery) and len(shorter.gallery) < len(dataset.gallery)


def test_mars_evaluates_perfect_features_perfectly(generated):
    """The loader's query and gallery fit the evaluation: frame features that encode the pid give
    rank-1 = mAP = 1 under both gallery protocols."""
    dataset = build_extra_dataset("mars", generated["mars"])
    sides = []
    for tracklets in (dataset.query, dataset.gallery):
        frames, owner = flatten_tracklets(tracklets)
        pids = torch.tensor([pid for _, pid, _ in tracklets])
        features = torch.nn.functional.one_hot(pids[owner], 64).double()
        sides.append((features, owner, pids, torch.tensor([c for _, _, c in tracklets])))
    for protocol in ("official", "torchreid"):
        metrics = evaluate_video_reid(*sides[0], *sides[1], gallery=protocol)
        assert metrics.rank(1) == 1.0 and metrics.mAP == 1.0


def _edit_tracks(root: Path, split: str, edit) -> Path:
    path = root / "mars" / "info" / f"tracks_{split}_info.mat"
    rows = scipy.io.loadmat(path)[f"track_{split}_info"]
    scipy.io.savemat(path, {f"track_{split}_info": edit(rows.copy())})
    return path


def test_mars_track_range_outside_the_image_list(copy_of):
    root = copy_of("mars")
    num_names = len((root / "mars" / "info" / "test_name.txt").read_text().split())

    def edit(rows):
        rows[2, 1] = num_names + 5
        return rows

    path = _edit_tracks(root, "test", edit)
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, f"{path} row 3", f"outside the {num_names} names of test_name.txt")


def test_mars_tracklet_mixing_persons(copy_of):
    root = copy_of("mars")

    def edit(rows):
        rows[0, 1] = rows[1, 1]  # tracklet 1 runs into tracklet 2 (another camera)
        return rows

    _edit_tracks(root, "train", edit)
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, "share one person and one camera", "row 1")


def test_mars_mat_problems(copy_of):
    root = copy_of("mars")
    query_idx = root / "mars" / "info" / "query_IDX.mat"
    scipy.io.savemat(query_idx, {"query_IDX": np.array([[1.0, 999.0]])})
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, "query_IDX holds 1..999, outside the", str(query_idx))
    scipy.io.savemat(query_idx, {"queries": np.array([[1.0]])})
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, "has no 'query_IDX' variable (has: queries)")
    query_idx.write_bytes(b"not a mat file at all")
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, "not a readable MATLAB file", str(query_idx))
    _edit_tracks(root, "train", lambda rows: rows[:, :3])
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, "must be an (n, 4) array")


def test_mars_missing_frame_file(copy_of):
    root = copy_of("mars")
    first = (root / "mars" / "info" / "train_name.txt").read_text().split()[0]
    missing = root / "mars" / "bbox_train" / first[:4] / first
    missing.unlink()
    with pytest.raises(ExtraLayoutError) as error:
        build_extra_dataset("mars", root)
    assert_one_line(error, "does not exist", str(missing))
