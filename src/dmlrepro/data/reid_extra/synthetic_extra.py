"""Embedded stand-ins for AiA-Net's additional datasets (002_e585b7ac4801a221.txt, Sec. 5.1,
5.5): small synthetic MSMT17, CUHK01, CUHK03 (vanilla protocol) and MARS datasets written in
exactly the layouts their loaders read, so that every code path runs without a download. Numbers
measured on them say nothing about the paper's numbers.

The pedestrians, cameras and rendering are the re-ID generator's (``dmlrepro.data.synthetic``:
garments dealt evenly so that only the combination of parts identifies a person, per-camera
illumination and background, per-image jitter, seeded per image); so are the atomic writing
(temporary sibling folder renamed into place), the ``.dmlrepro-synthetic`` owner file and the
``DATASET_COMPLETE`` marker (generator, version, variant, seed, counts).

What each layout imitates (see the loaders for the real layouts):

* ``msmt17``: ``msmt17/MSMT17_V1/{train,test}/<pid>/`` with the four lists; 15 cameras; train
  and test pids numbered from 0 separately, as in the release; the first image of every other
  training identity is in ``list_val.txt``.
* ``cuhk01``: ``cuhk01/campus/NNNNMMM.png``, two images in each of two cameras per person.
* ``cuhk03_classic``: torchreid's conversion of ``cuhk-03.mat``: ``cuhk03/images_{detected,
  labeled}/P_NNN_V_II.png`` for persons spread over 5 camera pairs (two views each; the first
  person has images in one view only, as some real ones do; a detected and a labeled box are two
  renderings with different jitter), and ``splits_classic_{detected,labeled}.json`` with 20
  splits of ``num_test_ids`` test persons (query = gallery) in torchreid's format. No
  ``cuhk-03.mat`` is written (HDF5 needs h5py).
* ``mars``: ``mars/bbox_{train,test}/<pid>/<pid>C<cam>T<track>F<frame>.jpg`` and ``info/`` (name
  lists, ``tracks_*_info.mat`` as doubles as MATLAB saves them, ``query_IDX.mat``); 6 cameras;
  each test identity has a query tracklet and gallery tracklets in another and in the query's
  camera; the test set adds a distractor (pid 0) and a junk (pid -1, folder ``00-1``) tracklet.

CLI: ``python -m dmlrepro.data.reid_extra.synthetic_extra --variant msmt17|cuhk01|cuhk03_classic|
mars --out DIR [--seed 0] [--train-ids N --test-ids N] [--overwrite]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from dmlrepro.data import synthetic as reid_synthetic
from dmlrepro.data.reid_extra.common import GENERATOR_MODULE
from dmlrepro.data.reid_extra.cuhk01 import CUHK01
from dmlrepro.data.reid_extra.cuhk03_classic import CUHK03_CLASSIC, NUM_SPLITS as CUHK03_NUM_SPLITS
from dmlrepro.data.reid_extra.mars import MARS
from dmlrepro.data.reid_extra.msmt17 import MSMT17
from dmlrepro.errors import UserError

GENERATOR_VERSION = 1
NUM_CLASSIC_SPLITS = CUHK03_NUM_SPLITS  # the vanilla protocol's 20
CAMERA_PAIRS = 5
IMAGES_PER_VIEW = 3  # of the 5 slots per view the release has


@dataclass(frozen=True)
class VariantSpec:
    canonical_subdir: str
    num_cams: int
    num_train_ids: int
    num_test_ids: int
    image_format: str


VARIANTS: dict[str, VariantSpec] = {
    "msmt17": VariantSpec(MSMT17.canonical_subdir, 15, 12, 12, "JPEG"),
    "cuhk01": VariantSpec(CUHK01.canonical_subdir, 2, 10, 11, "PNG"),
    "cuhk03_classic": VariantSpec(CUHK03_CLASSIC.canonical_subdir, 2 * CAMERA_PAIRS, 15, 5, "PNG"),
    "mars": VariantSpec(MARS.canonical_subdir, 6, 6, 6, "JPEG"),
}


@dataclass(frozen=True)
class ExtraSyntheticConfig:
    variant: str
    seed: int = 0
    num_train_ids: int | None = None  # None: the variant's default
    num_test_ids: int | None = None
    image_size: tuple[int, int] = (128, 64)

    def resolved(self) -> ExtraSyntheticConfig:
        if self.variant not in VARIANTS:
            raise UserError(f"unknown synthetic variant {self.variant!r}; valid: {', '.join(VARIANTS)}")
        spec = VARIANTS[self.variant]
        config = dataclasses.replace(
            self,
            num_train_ids=spec.num_train_ids if self.num_train_ids is None else self.num_train_ids,
            num_test_ids=spec.num_test_ids if self.num_test_ids is None else self.num_test_ids,
            image_size=tuple(int(x) for x in self.image_size))
        for name in ("num_train_ids", "num_test_ids"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise UserError(f"synthetic {name} must be an integer >= 2, got {value!r}")
        if isinstance(config.seed, bool) or not isinstance(config.seed, int) or config.seed < 0:
            raise UserError(f"synthetic seed must be an integer >= 0, got {config.seed!r}")
        if self.variant == "cuhk01" and config.num_test_ids not in (config.num_train_ids, config.num_train_ids + 1):
            raise UserError("synthetic cuhk01 splits persons in halves (485/486): num_test_ids must "
                            "equal num_train_ids or num_train_ids + 1")
        height, width = config.image_size
        if height < 32 or width < 16:
            raise UserError(f"synthetic image_size must be at least (32, 16), got {config.image_size}")
        if config.num_train_ids + config.num_test_ids > 999:
            raise UserError("these synthetic datasets hold at most 999 identities")
        return config

    def marker(self) -> dict:
        return {"generator": GENERATOR_MODULE, "version": GENERATOR_VERSION, "variant": self.variant,
                "seed": self.seed, "image_size": list(self.image_size),
                "counts": {"num_train_ids": self.num_train_ids, "num_test_ids": self.num_test_ids}}


class _Painter:
    """The re-ID generator's pedestrians and cameras for ``num_people`` persons and
    ``num_cams`` cameras; ``render(person, camid, index)`` is deterministic in (seed, index)."""

    def __init__(self, config: ExtraSyntheticConfig, num_people: int) -> None:
        # Only the seed and the image size of this config are read by the drawing code.
        base = reid_synthetic.SyntheticConfig("dukemtmc", seed=config.seed, image_size=config.image_size)
        catalogue = reid_synthetic._make_catalogue(reid_synthetic._rng(config.seed, reid_synthetic._STREAM_CATALOGUE))
        rng = reid_synthetic._rng(config.seed, reid_synthetic._STREAM_IDENTITIES)
        signatures = reid_synthetic._deal_signatures(rng, catalogue, num_people)
        self.people = [reid_synthetic._appearance(rng, signature) for signature in signatures]
        num_cams = VARIANTS[config.variant].num_cams
        cameras = tuple(reid_synthetic._make_camera(base, c, num_cams) for c in range(num_cams))
        self.plan = reid_synthetic.DatasetPlan(base, catalogue, {}, (), (), cameras, ())
        self.image_format = VARIANTS[config.variant].image_format
        self.count = 0

    def write(self, path: Path, person: int, camid: int) -> None:
        self.count += 1  # a new index per image: its own jitter
        spec = reid_synthetic.ImageSpec("train", person + 1, camid, self.count, self.people[person])
        pixels, _ = reid_synthetic.render_image(self.plan, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(reid_synthetic._encode(pixels, self.image_format))


def _rng(config: ExtraSyntheticConfig, *keys: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, 101, *keys])


# ---------------------------------------------------------------------------------------------
# Writers: each returns its counts for the marker.


def _write_msmt17(config: ExtraSyntheticConfig, folder: Path, final: Path) -> dict[str, int]:
    painter = _Painter(config, config.num_train_ids + config.num_test_ids)
    rng = _rng(config, 1)
    lists: dict[str, list[str]] = {"train": [], "val": [], "query": [], "gallery": []}

    def add(split: str, home: str, pid: int, person: int, camid: int) -> None:
        number = sum(len(v) for v in lists.values())
        name = f"{pid:04d}_{number:03d}_{camid + 1:02d}_0303morning_{number:04d}_0.jpg"
        painter.write(folder / home / f"{pid:04d}" / name, person, camid)
        lists[split].append(f"{pid:04d}/{name} {pid}")

    for pid in range(config.num_train_ids):
        cams = rng.choice(15, 3, replace=False)
        for k in range(5):
            add("val" if k == 0 and pid % 2 == 0 else "train", "train", pid, pid, int(cams[k % 3]))
    for pid in range(config.num_test_ids):
        person, cams = config.num_train_ids + pid, rng.choice(15, 3, replace=False)
        for camid in cams[:2]:
            add("query", "test", pid, person, int(camid))
        for camid in (cams[2], cams[0], cams[1], cams[2]):
            add("gallery", "test", pid, person, int(camid))
    for split, lines in lists.items():
        (folder / f"list_{split}.txt").write_text("\n".join(lines) + "\n")
    return {split: len(lines) for split, lines in lists.items()}


def _write_cuhk01(config: ExtraSyntheticConfig, folder: Path, final: Path) -> dict[str, int]:
    num_people = config.num_train_ids + config.num_test_ids
    painter = _Painter(config, num_people)
    for person in range(num_people):
        for image in range(1, 5):
            painter.write(folder / "campus" / f"{person + 1:04d}{image:03d}.png", person, (image - 1) // 2)
    return {"persons": num_people, "images": 4 * num_people}


def _write_cuhk03_classic(config: ExtraSyntheticConfig, folder: Path, final: Path) -> dict[str, int]:
    num_people = config.num_train_ids + config.num_test_ids
    painter = _Painter(config, num_people)
    # torchreid's meta order: camera pair, then person within the pair.
    people = sorted(((k % CAMERA_PAIRS + 1, k // CAMERA_PAIRS + 1, k) for k in range(num_people)))
    names: dict[int, list[tuple[str, int]]] = {}
    for pair, pid, person in people:
        views = (1,) if person == 0 else (1, 2)
        names[person] = [(f"{pair}_{pid:03d}_{view}_{(view - 1) * 5 + j + 1:02d}.png", view - 1)
                         for view in views for j in range(IMAGES_PER_VIEW)]
    for boxes in ("detected", "labeled"):
        for pair, _, person in people:
            for name, view in names[person]:
                painter.write(folder / f"images_{boxes}" / name, person, 2 * (pair - 1) + view)
    rng = _rng(config, 3)
    test_sets = [set(rng.choice(num_people, config.num_test_ids, replace=False).tolist())
                 for _ in range(NUM_CLASSIC_SPLITS)]
    for boxes in ("detected", "labeled"):
        splits = []
        for test_set in test_sets:
            train, test = [], []
            for _, _, person in people:
                side = test if person in test_set else train
                label = len({item[1] for item in side})
                side += [[str(final / f"images_{boxes}" / name), label, camid] for name, camid in names[person]]
            splits.append({"train": train, "query": test, "gallery": test,
                           "num_train_pids": config.num_train_ids, "num_train_imgs": len(train),
                           "num_query_pids": config.num_test_ids, "num_query_imgs": len(test),
                           "num_gallery_pids": config.num_test_ids, "num_gallery_imgs": len(test)})
        (folder / f"splits_classic_{boxes}.json").write_text(json.dumps(splits))
    return {"persons": num_people, "images_per_box_type": sum(len(v) for v in names.values()),
            "splits": NUM_CLASSIC_SPLITS}


def _write_mars(config: ExtraSyntheticConfig, folder: Path, final: Path) -> dict[str, int]:
    num_train, num_test = config.num_train_ids, config.num_test_ids
    painter = _Painter(config, num_train + num_test + 2)
    rng = _rng(config, 4)
    # MARS pids interleave train and test in 1..1501: draw them.
    pids = (rng.permutation(num_train + num_test) + 1).tolist()
    train_tracks, test_tracks = [], []  # (pid, person, camid)
    for person in range(num_train):
        for camid in rng.choice(6, 2, replace=False):
            train_tracks.append((pids[person], person, int(camid)))
    query_rows = []
    for k in range(num_test):
        person = num_train + k
        query_cam, other_cam = (int(c) for c in rng.choice(6, 2, replace=False))
        query_rows.append(len(test_tracks) + 1)
        for camid in (query_cam, other_cam, query_cam):
            test_tracks.append((pids[person], person, camid))
    test_tracks += [(0, num_train + num_test, int(rng.integers(6))),
                    (-1, num_train + num_test + 1, int(rng.integers(6)))]
    frames = 0
    for split, tracks, home in (("train", train_tracks, "bbox_train"), ("test", test_tracks, "bbox_test")):
        names, rows, counter = [], [], {}
        for pid, person, camid in tracks:
            folder_name = "00-1" if pid == -1 else f"{pid:04d}"
            number = counter[(pid, camid)] = counter.get((pid, camid), 0) + 1
            start = len(names) + 1
            for frame in range(int(rng.integers(2, 5))):
                name = f"{folder_name}C{camid + 1}T{number:04d}F{frame + 1:03d}.jpg"
                painter.write(folder / home / folder_name / name, person, camid)
                names.append(name)
            rows.append([start, len(names), pid, camid + 1])
        frames += len(names)
        (folder / "info").mkdir(exist_ok=True)
        (folder / "info" / f"{split}_name.txt").write_text("\n".join(names) + "\n")
        _savemat(folder / "info" / f"tracks_{split}_info.mat",
                 {f"track_{split}_info": np.asarray(rows, dtype=np.float64)})
    _savemat(folder / "info" / "query_IDX.mat", {"query_IDX": np.asarray([query_rows], dtype=np.float64)})
    return {"train_tracklets": len(train_tracks), "test_tracklets": len(test_tracks),
            "query_tracklets": len(query_rows), "frames": frames}


def _savemat(path: Path, variables: dict[str, np.ndarray]) -> None:
    """A MATLAB v5 file whose 116-byte header text carries no creation time, so that the same
    seed gives the same bytes."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    data = bytearray(buffer.getvalue())
    data[:116] = f"MATLAB 5.0 MAT-file, written by {GENERATOR_MODULE}".ljust(116).encode("ascii")
    path.write_bytes(bytes(data))


WRITERS: dict[str, Callable[[ExtraSyntheticConfig, Path, Path], dict[str, int]]] = {
    "msmt17": _write_msmt17, "cuhk01": _write_cuhk01, "cuhk03_classic": _write_cuhk03_classic,
    "mars": _write_mars,
}


# ---------------------------------------------------------------------------------------------
# Generating, atomically (the re-ID generator's machinery).


def generate_extra_dataset(out_root: str | Path, variant: str, seed: int = 0,
                           num_train_ids: int | None = None, num_test_ids: int | None = None,
                           image_size: tuple[int, int] = (128, 64), overwrite: bool = False) -> Path:
    """Write the synthetic ``variant`` under ``out_root`` in the folder its loader expects (e.g.
    ``out_root/msmt17/MSMT17_V1``) and return that dataset folder.

    A complete dataset with the same marker is left as it is; an incomplete one this generator
    wrote is replaced; a complete one with other parameters only with ``overwrite``; a folder no
    generator wrote is never touched.
    """
    config = ExtraSyntheticConfig(variant, seed, num_train_ids, num_test_ids, tuple(image_size))
    return _generate(config, Path(out_root).expanduser(), overwrite)[0]


def _generate(config: ExtraSyntheticConfig, out_root: Path, overwrite: bool) -> tuple[Path, bool]:
    config = config.resolved()
    final = out_root / VARIANTS[config.variant].canonical_subdir
    marker = config.marker()
    if reid_synthetic._prepare_target(final, marker, overwrite):
        return final, False
    temporary = reid_synthetic._temporary_sibling(final, "tmp")
    try:
        temporary.mkdir(parents=True)
        (temporary / reid_synthetic.OWNER_NAME).write_text(json.dumps({"generator": GENERATOR_MODULE}) + "\n")
        counts = WRITERS[config.variant](config, temporary, final)
        complete = {**marker, "images": counts}
        (temporary / reid_synthetic.MARKER_NAME).write_text(json.dumps(complete, indent=2, sort_keys=True) + "\n")
        reid_synthetic._install(temporary, final, marker)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return final, True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {GENERATOR_MODULE}",
        description="Write a small synthetic MSMT17, CUHK01, CUHK03 (vanilla) or MARS dataset in its real layout.")
    parser.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    parser.add_argument("--out", required=True, type=Path, help="data root (the loaders' <root>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-ids", type=int, default=None, help="default: the variant's")
    parser.add_argument("--test-ids", type=int, default=None, help="default: the variant's")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a synthetic dataset written with other parameters")
    args = parser.parse_args(argv)
    config = ExtraSyntheticConfig(args.variant, args.seed, args.train_ids, args.test_ids)
    try:
        dataset_dir, written = _generate(config, args.out.expanduser(), args.overwrite)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{'wrote' if written else 'already complete, left as it is'}: {dataset_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
