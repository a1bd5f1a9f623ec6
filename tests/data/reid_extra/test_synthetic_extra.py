"""The generators of AiA-Net's additional datasets: deterministic bytes, the re-ID generator's
atomic-writing rules, pedestrians that identify a person across images, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dmlrepro.data.reid_extra import build_extra_dataset
from dmlrepro.data.reid_extra.synthetic_extra import VARIANTS, generate_extra_dataset, main
from dmlrepro.data.synthetic import SyntheticTargetExistsError
from dmlrepro.errors import UserError


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("variant", ["mars", "cuhk01"])
def test_same_seed_gives_identical_bytes_and_another_seed_does_not(variant, tmp_path):
    sizes = dict(num_train_ids=3, num_test_ids=3 if variant == "mars" else 4)
    first = generate_extra_dataset(tmp_path / "a", variant, seed=2, **sizes)
    second = generate_extra_dataset(tmp_path / "b", variant, seed=2, **sizes)
    other = generate_extra_dataset(tmp_path / "c", variant, seed=3, **sizes)
    ours, theirs = tree(first), tree(second)
    assert ours == theirs and len(ours) > 20
    image = ".jpg" if variant == "mars" else ".png"
    pixels = {v for k, v in ours.items() if k.endswith(image)}
    assert pixels.isdisjoint(v for k, v in tree(other).items() if k.endswith(image))


def test_rewrites_only_what_it_owns(tmp_path):
    dataset_dir = generate_extra_dataset(tmp_path, "cuhk01", num_train_ids=2, num_test_ids=2)
    stamp = (dataset_dir / "DATASET_COMPLETE").stat().st_mtime_ns
    assert generate_extra_dataset(tmp_path, "cuhk01", num_train_ids=2, num_test_ids=2) == dataset_dir
    assert (dataset_dir / "DATASET_COMPLETE").stat().st_mtime_ns == stamp  # left as it is
    with pytest.raises(SyntheticTargetExistsError, match="pass --overwrite"):
        generate_extra_dataset(tmp_path, "cuhk01", num_train_ids=3, num_test_ids=3)
    generate_extra_dataset(tmp_path, "cuhk01", num_train_ids=3, num_test_ids=3, overwrite=True)
    assert build_extra_dataset("cuhk01", tmp_path).num_train_pids == 3
    foreign = tmp_path / "other"
    (foreign / "mars").mkdir(parents=True)
    (foreign / "mars" / "notes.txt").write_text("mine")
    with pytest.raises(SyntheticTargetExistsError, match="not written by"):
        generate_extra_dataset(foreign, "mars")
    assert (foreign / "mars" / "notes.txt").read_text() == "mine"


def test_marker_records_variant_seed_and_counts(tmp_path):
    dataset_dir = generate_extra_dataset(tmp_path, "msmt17", seed=5, num_train_ids=2, num_test_ids=2)
    marker = json.loads((dataset_dir / "DATASET_COMPLETE").read_text())
    assert (marker["variant"], marker["seed"], marker["counts"]) == (
        "msmt17", 5, {"num_train_ids": 2, "num_test_ids": 2})
    lines = {split: len((dataset_dir / f"list_{split}.txt").read_text().split("\n")) - 1
             for split in ("train", "val", "query", "gallery")}
    assert marker["images"] == lines


def test_a_persons_images_look_alike_across_cameras_more_than_other_persons(tmp_path):
    """The drawing is the re-ID generator's: a CUHK01 person's camera-A and camera-B images are
    closer (mean absolute pixel difference) than images of different persons on average."""
    dataset_dir = generate_extra_dataset(tmp_path, "cuhk01", num_train_ids=6, num_test_ids=6)

    def load(person: int, image: int) -> np.ndarray:
        return np.asarray(Image.open(dataset_dir / "campus" / f"{person:04d}{image:03d}.png"), dtype=float)

    same = np.mean([np.abs(load(p, 1) - load(p, 3)).mean() for p in range(1, 13)])
    other = np.mean([np.abs(load(p, 1) - load(p % 12 + 1, 3)).mean() for p in range(1, 13)])
    assert same < other


@pytest.mark.parametrize("kwargs, message", [
    (dict(variant="prid"), "unknown synthetic variant 'prid'"),
    (dict(variant="mars", num_train_ids=1), "num_train_ids must be an integer >= 2"),
    (dict(variant="cuhk01", num_train_ids=4, num_test_ids=7), "num_test_ids must equal num_train_ids"),
    (dict(variant="mars", seed=-1), "seed must be an integer >= 0"),
])
def test_bad_parameters(tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        generate_extra_dataset(tmp_path, **kwargs)


def test_cli_writes_and_then_leaves_the_dataset(tmp_path, capsys):
    assert main(["--variant", "cuhk01", "--out", str(tmp_path), "--train-ids", "2", "--test-ids", "2"]) == 0
    assert main(["--variant", "cuhk01", "--out", str(tmp_path), "--train-ids", "2", "--test-ids", "2"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "already complete, left as it is" in out
    assert main(["--variant", "cuhk01", "--out", str(tmp_path), "--train-ids", "3", "--test-ids", "3"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert sorted(VARIANTS) == ["cuhk01", "cuhk03_classic", "mars", "msmt17"]
