"""The embedded synthetic datasets: deterministic, atomic, and a re-ID problem rather than a
colour lookup."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dmlrepro.data import list_datasets
from dmlrepro.data.synthetic import (
    COLOURS,
    GENERATOR_VERSION,
    MARKER_NAME,
    PARTS,
    VARIANTS,
    ImageSpec,
    SyntheticConfig,
    generate_reid_dataset,
    main,
    plan_dataset,
    render_image,
)

SMALL = {"num_train_ids": 6, "num_test_ids": 6, "images_per_train_id": 4}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_registered_dataset_has_a_generator():
    """Every re-ID loader's dataset can be generated: the three base layouts by this generator, the
    others (CUHK03-NP labeled, the AiA-Net datasets) by the re-ID task's own generators."""
    from dmlrepro.tasks import get_task

    task = get_task("reid")
    assert {"cuhk03np", "dukemtmc", "market1501"} == set(VARIANTS)
    for name in list_datasets():
        assert name in VARIANTS or name in task.datasets, name


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    first = generate_reid_dataset(tmp_path / "a", "market1501", seed=3, **SMALL)
    second = generate_reid_dataset(tmp_path / "b", "market1501", seed=3, **SMALL)
    other = generate_reid_dataset(tmp_path / "c", "market1501", seed=4, **SMALL)
    assert _tree(first) == _tree(second)
    assert len(_tree(first)) > 50
    images = {v for k, v in _tree(first).items() if k.endswith(".jpg")}
    assert images.isdisjoint(v for k, v in _tree(other).items() if k.endswith(".jpg"))


def test_generator_output_is_pinned_to_its_version():
    plan = plan_dataset(SyntheticConfig("market1501", num_train_ids=3, num_test_ids=3, images_per_train_id=2))
    digest = hashlib.sha256()
    for spec in plan.images:
        digest.update(plan.file_name(spec).encode())
        digest.update(render_image(plan, spec)[0].tobytes())
    assert GENERATOR_VERSION == 1 and digest.hexdigest() == (
        "fcc2dd95baa4d856a15d51205cb885ce9397b2c767b79be658e17a4348331f7a"
    ), "the synthetic images changed: bump GENERATOR_VERSION, then update this version and hash"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_writes_the_layout_its_loader_expects(tmp_path, variant):
    folder = generate_reid_dataset(tmp_path, variant, **SMALL)
    layout = VARIANTS[variant].layout
    assert folder == tmp_path / layout.canonical_subdir
    extensions = {p.suffix for p in folder.rglob("*") if p.is_file() and p.parent != folder}
    assert extensions == {layout.extension}
    for path in folder.rglob(f"*{layout.extension}"):
        assert layout.pattern.fullmatch(path.stem), path.name


def test_files_are_the_rendered_plan(tmp_path):
    # PNG is lossless, so the files must equal the plan's rendering pixel for pixel.
    folder = generate_reid_dataset(tmp_path, "cuhk03np", **SMALL)
    plan = plan_dataset(SyntheticConfig("cuhk03np", **SMALL))
    for spec in plan.images[::17]:
        on_disk = np.asarray(Image.open(tmp_path / plan.relative_path(spec)))
        assert np.array_equal(on_disk, render_image(plan, spec)[0])
    assert folder.is_dir()


def test_only_the_combination_of_parts_identifies_a_person():
    plan = plan_dataset(SyntheticConfig("market1501"))
    signatures = [a.signature for a in plan.identities.values()]
    assert len(set(signatures)) == len(signatures)
    for p, part in enumerate(PARTS):
        worn = Counter(s[p] for s in signatures)
        assert min(worn.values()) >= 2, f"a {part} garment identifies a single person"
    top_colours = Counter(plan.catalogue.top[s[PARTS.index("top")]].colour for s in signatures)
    assert min(top_colours.values()) >= 2
    # The top garments reuse palette colours, so colour alone cannot even tell garments apart.
    assert len({(g.colour, g.texture) for g in plan.catalogue.top}) == len(plan.catalogue.top)
    assert len({g.colour for g in plan.catalogue.top}) < len(plan.catalogue.top) <= 2 * len(COLOURS)


def _top_colour(plan, pid: int, camid: int, index: int) -> np.ndarray:
    spec = ImageSpec("train", pid, camid, index, plan.identities[pid])
    image, masks = render_image(plan, spec)
    return image[masks["top"]].astype(float).mean(axis=0)


def test_two_identities_can_have_the_same_upper_body_colour():
    plan = plan_dataset(SyntheticConfig("market1501"))
    top = PARTS.index("top")
    by_top: dict[int, list[int]] = {}
    for pid, appearance in sorted(plan.identities.items()):
        by_top.setdefault(appearance.signature[top], []).append(pid)
    a, b = next(pids for pids in by_top.values() if len(pids) >= 2)[:2]
    colour_a = plan.catalogue.top[plan.identities[a].signature[top]].colour
    c = next(pid for pid, ap in sorted(plan.identities.items())
             if plan.catalogue.top[ap.signature[top]].colour != colour_a)
    assert plan.identities[a].signature != plan.identities[b].signature
    # Same camera and jitter (same index): only the identity changes.
    mean_a, mean_b, mean_c = (_top_colour(plan, pid, 0, 7) for pid in (a, b, c))
    assert np.abs(mean_a - mean_b).max() < 8
    assert np.abs(mean_a - mean_c).max() > 30


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cameras_look_different(variant):
    plan = plan_dataset(SyntheticConfig(variant))
    pid = plan.train_pids[0]
    backgrounds, heights = [], []
    for camid in range(len(plan.cameras)):
        image, masks = render_image(plan, ImageSpec("train", pid, camid, 11, plan.identities[pid]))
        person = np.logical_or.reduce(list(masks.values()))
        backgrounds.append(image[~person].astype(float).mean(axis=0))
        heights.append(int(np.ptp(np.flatnonzero(person.any(axis=1)))))
    for i, j in itertools.combinations(range(len(plan.cameras)), 2):
        assert np.abs(backgrounds[i] - backgrounds[j]).max() > 10, (i, j)
    assert len(set(heights)) >= len(plan.cameras) - 1


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_query_has_same_camera_and_cross_camera_gallery_matches(variant):
    plan = plan_dataset(SyntheticConfig(variant))
    gallery = Counter((s.pid, s.camid) for s in plan.images if s.split == "gallery")
    train_pids = {s.pid for s in plan.images if s.split == "train"}
    query = [s for s in plan.images if s.split == "query"]
    assert train_pids.isdisjoint(s.pid for s in query)
    for spec in query:
        assert gallery[(spec.pid, spec.camid)] >= 1
        assert sum(n for (pid, cam), n in gallery.items() if pid == spec.pid and cam != spec.camid) >= 1


def test_complete_dataset_is_left_alone_and_marked(tmp_path):
    folder = generate_reid_dataset(tmp_path, "dukemtmc", seed=1, **SMALL)
    marker = json.loads((folder / MARKER_NAME).read_text())
    assert marker["variant"] == "dukemtmc" and marker["seed"] == 1 and marker["version"] >= 1
    assert marker["counts"]["num_train_ids"] == 6
    assert marker["images"]["train"] == 6 * 4
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert generate_reid_dataset(tmp_path, "dukemtmc", seed=1, **SMALL) == folder
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary siblings


def test_partial_dataset_is_replaced(tmp_path):
    folder = generate_reid_dataset(tmp_path, "cuhk03np", **SMALL)
    expected = _tree(folder)
    (folder / MARKER_NAME).unlink()
    next((folder / "query").iterdir()).unlink()
    generate_reid_dataset(tmp_path, "cuhk03np", **SMALL)
    assert _tree(folder) == expected


def test_other_parameters_need_overwrite_and_foreign_folders_are_never_touched(tmp_path):
    folder = generate_reid_dataset(tmp_path, "cuhk03np", seed=0, **SMALL)
    with pytest.raises(FileExistsError, match="seed"):
        generate_reid_dataset(tmp_path, "cuhk03np", seed=1, **SMALL)
    generate_reid_dataset(tmp_path, "cuhk03np", seed=1, overwrite=True, **SMALL)
    assert json.loads((folder / MARKER_NAME).read_text())["seed"] == 1

    foreign = tmp_path / "real" / "market1501" / "Market-1501-v15.09.15"
    (foreign / "query").mkdir(parents=True)
    (foreign / "query" / "0001_c1s1_000001_00.jpg").write_bytes(b"real data")
    with pytest.raises(FileExistsError, match="not written by"):
        generate_reid_dataset(tmp_path / "real", "market1501", overwrite=True, **SMALL)
    assert (foreign / "query" / "0001_c1s1_000001_00.jpg").read_bytes() == b"real data"


def test_stale_temporary_folders_are_cleaned(tmp_path):
    import socket

    parent = tmp_path / "dukemtmc-reid"
    dead_pid = 2**22 + 12345  # above the default pid_max, so no such process
    stale = parent / f".DukeMTMC-reID.tmp-{socket.gethostname()}-{dead_pid}"
    (stale / "query").mkdir(parents=True)
    generate_reid_dataset(tmp_path, "dukemtmc", **SMALL)
    assert not stale.exists()
    assert os.listdir(parent) == ["DukeMTMC-reID"]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic variant"):
        generate_reid_dataset(tmp_path, "viper")
    with pytest.raises(ValueError, match="distractors"):
        generate_reid_dataset(tmp_path, "dukemtmc", num_distractors=3)
    with pytest.raises(ValueError, match="num_test_ids"):
        generate_reid_dataset(tmp_path, "market1501", num_test_ids=0)


def test_cli_writes_then_reports_complete(tmp_path, capsys):
    args = ["--variant", "cuhk03np", "--out", str(tmp_path), "--train-ids", "5", "--test-ids", "4"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"wrote: {tmp_path / 'cuhk03-np' / 'detected'}"
    assert out[1].startswith("cuhk03np: train 5 ids / 40 images, query 4 ids / 8 images")
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("already complete")
    assert main(args[:-1] + ["5"]) == 2
    assert "--overwrite" in capsys.readouterr().err
