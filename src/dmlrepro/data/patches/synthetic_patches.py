"""The embedded stand-in for Brown and HPatches: synthetic scenes, patches of their 3-D points
under viewpoint and illumination change, written in the PhotoTour and the HPatches layouts so that
the real readers (``phototour.py``, ``hpatches.py``) read them and Tables 7–8
(001_5fbd5da13318fd56.txt) run end to end without a download. Numbers measured on it say nothing
about the paper's.

What makes it a descriptor-learning problem rather than a lookup:

* A scene is a grey image of multi-octave noise, filled shapes with sharp corners, line strokes and
  patches of repeated texture (which put near-identical structures at different points). Each
  Brown subset has its own scene statistics (``FAMILIES``: liberty mostly man-made shapes and
  repeats, notredame small ornate blobs, yosemite natural noise), so training on one subset and
  testing on another is a domain shift, as in the real data.
* A 3-D point is a scene location with a detector frame (orientation uniform, scale 0.8–1.6). A
  view of it resamples the scene in that frame perturbed by a viewpoint change (rotation, scale,
  anisotropy, shear, sub-pixel shift, resolution blur) and re-lights it (gain, gamma, offset, a
  shading ramp, sensor noise), then quantises to uint8. Points are at least 6 px apart, so
  neighbouring points overlap and are hard negatives.
* HPatches sequences (``i_*`` / ``v_*``) hold N points seen in a reference image and five targets;
  the targets' patches carry the easy / hard / tough detection noise (``NOISE_LEVELS``) and either
  strong illumination changes (``i_``) or resolution loss and a residual warp growing with the
  image index (``v_``).

``tests/data/patches/test_synthetic_patches.py`` checks that two views of one point are closer, in
normalised raw pixels, than two random patches on average, but far from separable (raw-pixel FPR95
well above zero).

Each dataset folder is written as a temporary sibling and renamed into place with a
``DATASET_COMPLETE`` marker (generator version, seed, sizes), with the re-ID generator's helpers.

CLI: ``python -m dmlrepro.data.patches.synthetic_patches --layout phototour|hpatches --out DIR
[--seed 0] [--points N] [--pairs N]``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch
from PIL import Image, ImageDraw

from dmlrepro.data import synthetic as reid_synthetic
from dmlrepro.data.patches.hpatches import (
    HPATCHES_PATCH,
    SPLITS_FILE,
    TaskSizes,
    generate_hpatches_tasks,
    write_hpatches_tasks,
)
from dmlrepro.data.patches.phototour import (
    INFO_FILE,
    MATCHES_FILE,
    PATCH_SIZE,
    PATCHES_PER_ROW,
    PATCHES_PER_TILE,
    PHOTOTOUR_SUBSETS,
    TILE_SIZE,
)
from dmlrepro.errors import UserError
from dmlrepro.evaluation.hpatches_protocol import NOISE_LEVELS, TARGETS

GENERATOR: Final[str] = "dmlrepro.data.patches.synthetic_patches"
# Bump whenever the pixels or the layout change, so that older datasets are not taken for complete.
GENERATOR_VERSION: Final[int] = 1
MARKER_NAME: Final[str] = reid_synthetic.MARKER_NAME
OWNER_NAME: Final[str] = reid_synthetic.OWNER_NAME
HPATCHES_DIR: Final[str] = "hpatches-benchmark"
SCENE_SIZE: Final[int] = 512
POINTS_PER_SCENE: Final[int] = 150


def _margin(patch_size: int) -> float:
    """How far from the scene border a point must be for its patch to stay inside: the half
    diagonal at the largest frame scale (1.6) and a generous view change (1.3)."""
    return patch_size / 2 * math.sqrt(2) * 1.6 * 1.3


@dataclass(frozen=True)
class Family:
    """Scene statistics: how many of each element, and the noise's octave weights."""

    shapes: int
    strokes: int
    repeats: int
    blobs: int
    noise: float
    shape_size: tuple[int, int]


FAMILIES: Final[dict[str, Family]] = {
    "liberty": Family(shapes=90, strokes=30, repeats=6, blobs=20, noise=0.2, shape_size=(10, 60)),
    "notredame": Family(shapes=30, strokes=20, repeats=3, blobs=300, noise=0.3, shape_size=(5, 30)),
    "yosemite": Family(shapes=6, strokes=90, repeats=0, blobs=30, noise=1.0, shape_size=(8, 40)),
}


@dataclass(frozen=True)
class ViewChange:
    """Standard deviations of one view's change: rotation (degrees), log-scale, anisotropy, shear,
    shift (pixels), and the resolution blur (max sigma, pixels)."""

    rotation: float
    scale: float
    anisotropy: float
    shear: float
    shift: float
    blur: float


#: Brown: two views of a point differ by the residual of the detector's normalisation.
BROWN_VIEW: Final[ViewChange] = ViewChange(rotation=9.0, scale=0.12, anisotropy=0.08, shear=0.08, shift=1.5, blur=1.2)
#: HPatches detection noise (easy, hard, tough); our stand-in magnitudes.
NOISE_CHANGES: Final[dict[str, ViewChange]] = {
    "e": ViewChange(rotation=4.0, scale=0.05, anisotropy=0.03, shear=0.03, shift=0.8, blur=0.0),
    "h": ViewChange(rotation=10.0, scale=0.12, anisotropy=0.07, shear=0.07, shift=2.0, blur=0.0),
    "t": ViewChange(rotation=18.0, scale=0.2, anisotropy=0.12, shear=0.12, shift=3.5, blur=0.0),
}


# ---------------------------------------------------------------------------------------------
# Scenes.


def _smooth_noise(rng: np.random.Generator, size: int, octaves: int = 5) -> np.ndarray:
    out = np.zeros((size, size), dtype=np.float32)
    for octave in range(octaves):
        cells = 4 * 2**octave
        grid = torch.from_numpy(rng.standard_normal((1, 1, cells, cells)).astype(np.float32))
        up = torch.nn.functional.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)
        out += up[0, 0].numpy() * 0.6**octave
    return out / np.abs(out).max()


def render_scene(rng: np.random.Generator, family: Family, size: int = SCENE_SIZE) -> np.ndarray:
    """A float32 ``[size, size]`` grey scene in [0, 1]."""
    scale = 2  # drawn at twice the size and averaged down: anti-aliased edges
    canvas = Image.new("L", (size * scale, size * scale), 128)
    draw = ImageDraw.Draw(canvas)
    lo, hi = family.shape_size

    def point() -> tuple[float, float]:
        x, y = rng.uniform(0, size * scale, 2).tolist()
        return x, y

    for _ in range(family.repeats):
        # A patch of repeated texture: a grid of equal small shapes.
        x0, y0 = rng.uniform(0, size * scale * 0.7, 2)
        pitch = rng.uniform(8, 18) * scale
        count = int(rng.integers(3, 7))
        tone = int(rng.integers(0, 256))
        side = pitch * rng.uniform(0.35, 0.7)
        for i in range(count):
            for j in range(count):
                x, y = x0 + i * pitch, y0 + j * pitch
                draw.rectangle([x, y, x + side, y + side * rng.uniform(0.6, 1.4)], fill=tone)
    for _ in range(family.shapes):
        cx, cy = point()
        r = rng.uniform(lo, hi) * scale
        tone = int(rng.integers(0, 256))
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([cx - r, cy - r * rng.uniform(0.3, 1), cx + r, cy + r * rng.uniform(0.3, 1)], fill=tone)
        elif kind == 1:
            draw.rectangle([cx - r, cy - r * rng.uniform(0.2, 1), cx + r * rng.uniform(0.2, 1), cy + r], fill=tone)
        else:
            corners = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
            radii = r * rng.uniform(0.4, 1.0, corners)
            draw.polygon([(cx + a * math.cos(t), cy + a * math.sin(t)) for a, t in zip(radii, angles)], fill=tone)
    for _ in range(family.strokes):
        x1, y1 = point()
        length = rng.uniform(10, 80) * scale
        angle = rng.uniform(0, 2 * np.pi)
        x2, y2 = x1 + length * math.cos(angle), y1 + length * math.sin(angle)
        draw.line([x1, y1, x2, y2], fill=int(rng.integers(0, 256)), width=int(rng.integers(1, 5)) * scale)
    for _ in range(family.blobs):
        cx, cy = point()
        r = rng.uniform(1.5, 6) * scale
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=int(rng.integers(0, 256)))
    pixels = np.asarray(canvas, dtype=np.float32).reshape(size, scale, size, scale).mean(axis=(1, 3)) / 255.0
    pixels = pixels + family.noise * 0.35 * _smooth_noise(rng, size)
    pixels = pixels + 0.03 * rng.standard_normal((size, size)).astype(np.float32)  # fine texture
    lo_q, hi_q = np.quantile(pixels, [0.01, 0.99])
    return np.clip((pixels - lo_q) / (hi_q - lo_q), 0.0, 1.0).astype(np.float32)


def _blurred(scene: np.ndarray, sigmas: Sequence[float]) -> list[np.ndarray]:
    """The scene at each blur (separable Gaussian), for resolution changes."""
    out = []
    x = torch.from_numpy(scene)[None, None]
    for sigma in sigmas:
        if sigma <= 0:
            out.append(scene)
            continue
        radius = max(1, int(math.ceil(3 * sigma)))
        t = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-(t**2) / (2 * sigma**2))
        kernel = kernel / kernel.sum()
        y = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (radius,) * 4, mode="reflect"),
                                       kernel.view(1, 1, 1, -1))
        y = torch.nn.functional.conv2d(y, kernel.view(1, 1, -1, 1))
        out.append(y[0, 0].numpy())
    return out


BLUR_LEVELS: Final[tuple[float, ...]] = (0.0, 0.6, 1.2, 1.8)


# ---------------------------------------------------------------------------------------------
# Points and views.


def place_points(rng: np.random.Generator, count: int, margin: float, size: int = SCENE_SIZE,
                 min_distance: float = 6.0) -> np.ndarray:
    """``[count, 2]`` (x, y) at least ``min_distance`` apart, ``margin`` inside the scene."""
    points = np.empty((count, 2))
    placed, tries = 0, 0
    while placed < count:
        tries += 1
        if tries > 200 * count:
            raise UserError(f"cannot place {count} points {min_distance} px apart in a {size} px scene: ask for fewer")
        p = rng.uniform(margin, size - margin, 2)
        if placed == 0 or np.hypot(*(points[:placed] - p).T).min() >= min_distance:
            points[placed] = p
            placed += 1
    return points


def frames(rng: np.random.Generator, count: int) -> np.ndarray:
    """Detector frames ``[count, 2, 2]``: rotation uniform, scale 0.8–1.6 (log-uniform)."""
    theta = rng.uniform(0, 2 * np.pi, count)
    scale = np.exp(rng.uniform(math.log(0.8), math.log(1.6), count))
    c, s = np.cos(theta), np.sin(theta)
    return scale[:, None, None] * np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def perturb(rng: np.random.Generator, frame: np.ndarray, change: ViewChange) -> tuple[np.ndarray, np.ndarray]:
    """A view's frame ``[n, 2, 2]`` and shift ``[n, 2]`` (pixels, in patch units)."""
    n = frame.shape[0]
    theta = np.deg2rad(change.rotation) * rng.standard_normal(n)
    scale = np.exp(change.scale * rng.standard_normal(n))
    aniso = change.anisotropy * rng.standard_normal(n)
    shear = change.shear * rng.standard_normal(n)
    c, s = np.cos(theta), np.sin(theta)
    rotation = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    local = np.zeros((n, 2, 2))
    local[:, 0, 0] = np.exp(aniso)
    local[:, 1, 1] = np.exp(-aniso)
    local[:, 0, 1] = shear
    warp = scale[:, None, None] * rotation @ local
    return frame @ warp, change.shift * rng.standard_normal((n, 2))


def sample_patches(scene: np.ndarray, centres: np.ndarray, frame: np.ndarray, shift: np.ndarray, size: int) -> np.ndarray:
    """Bilinear samples ``[n, size, size]``: pixel (u, v) of patch i is at
    ``centre_i + frame_i (u + shift_x, v + shift_y)`` in the scene (u, v centred)."""
    half = (size - 1) / 2
    grid = np.arange(size, dtype=np.float32) - half
    lu = grid[None, None, :] + shift[:, 0, None, None].astype(np.float32)  # x offset, along columns
    lv = grid[None, :, None] + shift[:, 1, None, None].astype(np.float32)  # y offset, along rows
    f = frame.astype(np.float32)
    x = centres[:, 0, None, None] + f[:, 0, 0, None, None] * lu + f[:, 0, 1, None, None] * lv
    y = centres[:, 1, None, None] + f[:, 1, 0, None, None] * lu + f[:, 1, 1, None, None] * lv
    height, width = scene.shape
    x = np.clip(x, 0, width - 1.001)
    y = np.clip(y, 0, height - 1.001)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    top = scene[y0, x0] * (1 - fx) + scene[y0, x0 + 1] * fx
    bottom = scene[y0 + 1, x0] * (1 - fx) + scene[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def relight(rng: np.random.Generator, patches: np.ndarray, strength: float) -> np.ndarray:
    """Gain, gamma, offset, a linear shading ramp and sensor noise, then uint8."""
    n, size, _ = patches.shape
    gain = np.exp(0.2 * strength * rng.standard_normal(n))
    gamma = np.exp(0.25 * strength * rng.standard_normal(n))
    offset = 0.06 * strength * rng.standard_normal(n)
    angle = rng.uniform(0, 2 * np.pi, n)
    ramp = 0.15 * strength * rng.standard_normal(n)
    grid = np.linspace(-0.5, 0.5, size)
    u, v = np.meshgrid(grid, grid)
    shading = ramp[:, None, None] * (np.cos(angle)[:, None, None] * u + np.sin(angle)[:, None, None] * v)
    noise = (0.01 + 0.02 * rng.random(n))[:, None, None] * rng.standard_normal(patches.shape)
    out = gain[:, None, None] * np.clip(patches, 0, 1) ** gamma[:, None, None] + offset[:, None, None] + shading + noise
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def render_views(rng: np.random.Generator, scenes: list[np.ndarray], centres: np.ndarray, frame: np.ndarray,
                 change: ViewChange, size: int, light: float) -> np.ndarray:
    """One view of every point: a perturbed frame, a blur level drawn up to ``change.blur``, relit."""
    warped, shift = perturb(rng, frame, change)
    usable = [k for k, sigma in enumerate(BLUR_LEVELS) if sigma <= change.blur + 1e-9]
    level = rng.choice(usable, size=centres.shape[0])
    out = np.empty((centres.shape[0], size, size), dtype=np.float32)
    for k in set(level.tolist()):
        members = level == k
        out[members] = sample_patches(scenes[k], centres[members], warped[members], shift[members], size)
    return relight(rng, out, light)


# ---------------------------------------------------------------------------------------------
# Brown / PhotoTour.


@dataclass(frozen=True)
class PhotoTourConfig:
    seed: int = 0
    points: int = 300
    pairs: int = 1000
    max_views: int = 4

    def marker(self, name: str) -> dict:
        return {"generator": GENERATOR, "version": GENERATOR_VERSION, "layout": "phototour", "subset": name,
                **asdict(self)}


def render_phototour_subset(name: str, config: PhotoTourConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(patches uint8 [N, 64, 64], point ids [N], pairs [M, 6])`` of one subset; patches of a
    point are consecutive, points numbered from 0."""
    if name not in FAMILIES:
        raise UserError(f"unknown PhotoTour subset {name!r}; the generator writes {', '.join(FAMILIES)}")
    rng = np.random.default_rng([config.seed, PHOTOTOUR_SUBSETS.index(name)])
    patches, labels = [], []
    for first in range(0, config.points, POINTS_PER_SCENE):
        # Each scene (an "image" of the subset) contributes up to POINTS_PER_SCENE points.
        count = min(POINTS_PER_SCENE, config.points - first)
        scenes = _blurred(render_scene(rng, FAMILIES[name]), BLUR_LEVELS)
        centres = place_points(rng, count, _margin(PATCH_SIZE))
        frame = frames(rng, count)
        views = 2 + np.minimum(rng.poisson(0.8, count), config.max_views - 2)
        per_view = [render_views(rng, scenes, centres, frame, BROWN_VIEW, PATCH_SIZE, 1.0)
                    for _ in range(config.max_views)]
        for point in range(count):
            for view in range(views[point]):
                patches.append(per_view[view][point])
                labels.append(first + point)
    patches = np.stack(patches)
    labels = np.asarray(labels, dtype=np.int64)
    return patches, labels, _test_pairs(rng, labels, config.pairs)


def _test_pairs(rng: np.random.Generator, labels: np.ndarray, count: int) -> np.ndarray:
    """Half matching pairs (two patches of one point), half non-matching; rows as in the m50 files:
    ``patch1 point1 0 patch2 point2 0``."""
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    sizes = np.diff(np.r_[starts, labels.size])
    positives = count // 2
    point = rng.integers(0, starts.size, positives)
    first = rng.integers(0, sizes[point])
    second = rng.integers(0, sizes[point] - 1)
    second = second + (second >= first)
    a_pos, b_pos = starts[point] + first, starts[point] + second
    a_neg = rng.integers(0, labels.size, count - positives)
    b_neg = rng.integers(0, labels.size, count - positives)
    clash = labels[a_neg] == labels[b_neg]
    while clash.any():
        b_neg[clash] = rng.integers(0, labels.size, int(clash.sum()))
        clash = labels[a_neg] == labels[b_neg]
    a = np.r_[a_pos, a_neg]
    b = np.r_[b_pos, b_neg]
    order = rng.permutation(count)
    a, b = a[order], b[order]
    zeros = np.zeros(count, dtype=np.int64)
    return np.stack([a, labels[a], zeros, b, labels[b], zeros], 1)


def _write_phototour_subset(folder: Path, patches: np.ndarray, labels: np.ndarray, pairs: np.ndarray, marker: dict) -> None:
    folder.mkdir(parents=True)
    (folder / OWNER_NAME).write_text(json.dumps({"generator": GENERATOR}) + "\n")
    tiles = math.ceil(len(patches) / PATCHES_PER_TILE)
    for tile in range(tiles):
        block = np.zeros((PATCHES_PER_TILE, PATCH_SIZE, PATCH_SIZE), dtype=np.uint8)
        chunk = patches[tile * PATCHES_PER_TILE:(tile + 1) * PATCHES_PER_TILE]
        block[: len(chunk)] = chunk
        image = block.reshape(PATCHES_PER_ROW, PATCHES_PER_ROW, PATCH_SIZE, PATCH_SIZE).transpose(0, 2, 1, 3)
        Image.fromarray(image.reshape(TILE_SIZE, TILE_SIZE)).save(folder / f"patches{tile:04d}.bmp")
    # info.txt: point id and an unused second column, as in the real files.
    (folder / INFO_FILE).write_text("".join(f"{label} 0\n" for label in labels.tolist()))
    (folder / MATCHES_FILE).write_text("".join(" ".join(map(str, row)) + "\n" for row in pairs.tolist()))
    (folder / MARKER_NAME).write_text(json.dumps({**marker, "patches": int(len(patches))}, indent=2, sort_keys=True) + "\n")


def generate_phototour(out_root: str | Path, seed: int = 0, points: int = 300, pairs: int = 1000,
                       names: Sequence[str] = PHOTOTOUR_SUBSETS, overwrite: bool = False) -> dict[str, Path]:
    """Write ``<out_root>/<name>/`` for each subset in the PhotoTour layout; returns the folders.
    A complete subset with the same marker is left as it is."""
    config = PhotoTourConfig(seed=seed, points=points, pairs=pairs)
    out = {}
    for name in names:
        final = Path(out_root).expanduser() / name
        out[name] = final
        marker = config.marker(name)
        if reid_synthetic._prepare_target(final, marker, overwrite):
            continue
        temporary = reid_synthetic._temporary_sibling(final, "tmp")
        try:
            _write_phototour_subset(temporary, *render_phototour_subset(name, config), marker)
            reid_synthetic._install(temporary, final, marker)
        finally:
            if temporary.exists():
                shutil.rmtree(temporary)
    return out


# ---------------------------------------------------------------------------------------------
# HPatches.


@dataclass(frozen=True)
class HPatchesConfig:
    seed: int = 0
    sequences: int = 8
    points: int = 60
    pairs: int = 2000
    queries: int = 100
    distractors: int = 400

    def marker(self) -> dict:
        return {"generator": GENERATOR, "version": GENERATOR_VERSION, "layout": "hpatches", **asdict(self)}

    def names(self) -> list[str]:
        return [f"{'iv'[k % 2]}_synth{k:03d}" for k in range(self.sequences)]


def render_hpatches_sequence(seq: str, number: int, config: HPatchesConfig) -> dict[str, np.ndarray]:
    """``{image: uint8 [N, 65, 65]}`` for one sequence."""
    rng = np.random.default_rng([config.seed, 1000 + number])
    family = list(FAMILIES.values())[number % len(FAMILIES)]
    scenes = _blurred(render_scene(rng, family), BLUR_LEVELS)
    centres = place_points(rng, config.points, _margin(HPATCHES_PATCH))
    frame = frames(rng, config.points)
    still = ViewChange(0, 0, 0, 0, 0, 0)
    images = {"ref": render_views(rng, scenes, centres, frame, still, HPATCHES_PATCH, 0.3)}
    viewpoint = seq.startswith("v_")
    for i in TARGETS:
        # Per target image: illumination (i_) or resolution loss and a residual warp (v_), growing with i.
        light = 0.4 + (0.2 * i if not viewpoint else 0.1 * i)
        for noise in NOISE_LEVELS:
            change = NOISE_CHANGES[noise]
            if viewpoint:
                change = ViewChange(change.rotation, change.scale, change.anisotropy + 0.02 * i, change.shear + 0.02 * i,
                                    change.shift, blur=min(BLUR_LEVELS[-1], 0.35 * i))
            images[f"{noise}{i}"] = render_views(rng, scenes, centres, frame, change, HPATCHES_PATCH, light)
    return images


def _write_hpatches(folder: Path, config: HPatchesConfig, marker: dict) -> None:
    release = folder / "data" / "hpatches-release"
    release.mkdir(parents=True)
    (folder / OWNER_NAME).write_text(json.dumps({"generator": GENERATOR}) + "\n")
    sizes, ref_std = {}, {}
    for number, seq in enumerate(config.names()):
        images = render_hpatches_sequence(seq, number, config)
        (release / seq).mkdir()
        for image, patches in images.items():
            Image.fromarray(patches.reshape(-1, HPATCHES_PATCH)).save(release / seq / f"{image}.png", compress_level=0)
        sizes[seq] = images["ref"].shape[0]
        ref_std[seq] = images["ref"].reshape(sizes[seq], -1).std(axis=1)
    names = config.names()
    rng = np.random.default_rng([config.seed, 7])
    splits = {"full": {"name": "full", "test": names},
              "illum": {"name": "illum", "test": [s for s in names if s.startswith("i_")]},
              "view": {"name": "view", "test": [s for s in names if s.startswith("v_")]}}
    for split in ("a", "b", "c"):
        order = rng.permutation(len(names))
        test = sorted(names[k] for k in order[: max(2, len(names) // 3)])
        splits[split] = {"name": split, "test": test, "train": sorted(set(names) - set(test))}
    tasks = folder / "tasks"
    (tasks / SPLITS_FILE).parent.mkdir(parents=True)
    (tasks / SPLITS_FILE).write_text(json.dumps(splits, indent=1, sort_keys=True) + "\n")
    for split, spec in splits.items():
        # A small split cannot give the asked-for queries and, apart from them, distractors.
        available = sum(sizes[s] for s in spec["test"])
        counts = TaskSizes(pairs=config.pairs, queries=min(config.queries, available // 4),
                           distractors=min(config.distractors, available // 2))
        verification, retrieval = generate_hpatches_tasks(sizes, ref_std, spec["test"], counts, seed=config.seed)
        write_hpatches_tasks(tasks, split, verification, retrieval)
    (folder / MARKER_NAME).write_text(json.dumps({**marker, "patches": sizes}, indent=2, sort_keys=True) + "\n")


def generate_hpatches(out_root: str | Path, seed: int = 0, sequences: int = 8, points: int = 60, pairs: int = 2000,
                      queries: int = 100, distractors: int = 400, overwrite: bool = False) -> Path:
    """Write ``<out_root>/hpatches-benchmark/{data/hpatches-release, tasks}`` (the benchmark
    repository's layout) and return that folder."""
    config = HPatchesConfig(seed, sequences, points, pairs, queries, distractors)
    if sequences < 2:
        raise UserError("the synthetic HPatches needs at least 2 sequences (one i_, one v_)")
    final = Path(out_root).expanduser() / HPATCHES_DIR
    marker = config.marker()
    if reid_synthetic._prepare_target(final, marker, overwrite):
        return final
    temporary = reid_synthetic._temporary_sibling(final, "tmp")
    try:
        _write_hpatches(temporary, config, marker)
        reid_synthetic._install(temporary, final, marker)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return final


# ---------------------------------------------------------------------------------------------
# CLI.


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {GENERATOR}",
                                     description="Write synthetic Brown (PhotoTour) or HPatches data in the real layouts.")
    parser.add_argument("--layout", required=True, choices=("phototour", "hpatches"))
    parser.add_argument("--out", required=True, type=Path, help="data root")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=None, help="3-D points per subset / sequence")
    parser.add_argument("--pairs", type=int, default=None, help="test pairs per subset / verification pairs")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    extra = {k: v for k, v in (("points", args.points), ("pairs", args.pairs)) if v is not None}
    try:
        if args.layout == "phototour":
            from dmlrepro.data.patches.phototour import read_phototour

            for name, folder in generate_phototour(args.out, args.seed, overwrite=args.overwrite, **extra).items():
                print(read_phototour(args.out, name).summary(), f"({folder})")
        else:
            from dmlrepro.data.patches.hpatches import HPatchesRelease

            folder = generate_hpatches(args.out, args.seed, overwrite=args.overwrite, **extra)
            print(HPatchesRelease(folder / "data" / "hpatches-release").summary())
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
