"""The embedded default dataset: a deterministic generator of small synthetic re-ID datasets
written in exactly the on-disk layout and file naming of the real ones, so that the real loaders
(market1501.py, dukemtmc.py, cuhk03np.py) read them and every code path runs without a download.

It stands in for the three datasets of the CSALR paper (000_6bea8c3e96cdf0f5.txt, Sec. 4.1) in
smoke runs; numbers measured on it say nothing about the paper's numbers.

What makes it a re-ID problem rather than a colour lookup:

* A pedestrian is hair, top, bottom, shoes and an optional bag. Each part is a garment from a
  small per-part catalogue, and garments are coloured from one shared palette and textured
  (plain, horizontal or vertical stripes, checks, dots). Catalogue entries are dealt to
  identities evenly, so every garment (and every palette colour) is worn by several identities
  and only the combination of parts, which is unique, identifies a person.
* Each camera has its own illumination (gain and colour cast), person scale and textured
  background; each image adds jitter (shift, scale, gait, lighting, noise, and an occasional
  mirror that moves the bag to the other side).
* The split is Market-like: disjoint train and test identities; each test identity has one query
  in each of its query cameras and gallery images in other cameras and in the query cameras
  (so the same-pid-same-camera exclusion of the Market protocol is exercised). The Market
  variant adds pid ``0000`` distractors to the gallery (half unseen pedestrians, half
  background-only false detections) and pid ``-1`` junk (partial bodies), as the real set has.

The generator is pure numpy + PIL and seeded per image, so the same arguments give the same bytes.
A dataset is written into a temporary sibling folder and renamed into place; a
``DATASET_COMPLETE`` json marker records the generator version, variant, seed and counts.

CLI: ``python -m dmlrepro.data.synthetic --variant market1501 --out DIR [--seed 0]
[--train-ids N --test-ids N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shutil
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dmlrepro.data.cuhk03np import CUHK03NP
from dmlrepro.data.dukemtmc import DUKEMTMC
from dmlrepro.data.market1501 import MARKET1501
from dmlrepro.data.reid_dataset import SPLIT_FOLDERS, DatasetLayout
from dmlrepro.errors import UserError


class SyntheticTargetExistsError(UserError, FileExistsError):
    """The output folder holds something the generator must not replace; the message says what to do."""


# Bump whenever the generated pixels or layout change, so that datasets written by an older
# generator are not taken for complete ones (tests/data/test_synthetic.py pins a pixel hash).
GENERATOR_VERSION = 1
MARKER_NAME = "DATASET_COMPLETE"
OWNER_NAME = ".dmlrepro-synthetic"
DISTRACTOR_PID = 0
JUNK_PID = -1

# ---------------------------------------------------------------------------------------------
# Variants: which loader layout, image format and file naming each one imitates.


def _market_name(pid: int, camid: int, index: int) -> str:
    # Real Market-1501 writes junk as "-1_c..." without zero padding.
    pid_text = "-1" if pid == JUNK_PID else f"{pid:04d}"
    return f"{pid_text}_c{camid + 1}s{1 + index % 6}_{index:06d}_{index % 8:02d}.jpg"


def _duke_name(pid: int, camid: int, index: int) -> str:
    return f"{pid:04d}_c{camid + 1}_f{index:07d}.jpg"


def _cuhk03np_name(pid: int, camid: int, index: int) -> str:
    return f"{pid:04d}_c{camid + 1}_{index}.png"


@dataclass(frozen=True)
class Variant:
    layout: DatasetLayout
    image_format: str
    file_name: Callable[[int, int, int], str]
    num_distractors: int
    num_junk: int


VARIANTS: dict[str, Variant] = {
    "market1501": Variant(MARKET1501, "JPEG", _market_name, num_distractors=16, num_junk=8),
    "dukemtmc": Variant(DUKEMTMC, "JPEG", _duke_name, num_distractors=0, num_junk=0),
    "cuhk03np": Variant(CUHK03NP, "PNG", _cuhk03np_name, num_distractors=0, num_junk=0),
}

# ---------------------------------------------------------------------------------------------
# Appearance: a shared palette, textures, and per-part garment catalogues.

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "blue": (40, 60, 190),
    "green": (40, 150, 60),
    "yellow": (225, 205, 50),
    "black": (25, 25, 25),
    "white": (235, 235, 235),
    "grey": (128, 128, 128),
    "brown": (120, 75, 40),
    "purple": (125, 50, 150),
    "orange": (235, 125, 30),
}
COLOURS = tuple(PALETTE)
TEXTURES = ("plain", "hstripes", "vstripes", "checks", "dots")
HAIR_COLOURS = ("black", "brown", "yellow", "grey", "orange", "white")
HAIR_STYLES = ("short", "long")
SKIN_TONES = ((236, 200, 170), (210, 160, 120), (160, 110, 75), (100, 70, 50))
CATALOGUE_SIZES = {"hair": 6, "top": 12, "bottom": 10, "shoes": 5, "bag": 5}
PARTS = tuple(CATALOGUE_SIZES)


@dataclass(frozen=True)
class Garment:
    """A palette colour with a texture drawn in a second palette colour."""

    colour: str
    texture: str = "plain"
    secondary: str = "white"


@dataclass(frozen=True)
class Catalogue:
    """Per-part garment lists; an identity is one index per part."""

    hair: tuple[tuple[str, str], ...]  # (colour, style)
    top: tuple[Garment, ...]
    bottom: tuple[Garment, ...]
    shoes: tuple[str, ...]
    bag: tuple[str | None, ...]  # None: no bag

    def size(self, part: str) -> int:
        return len(getattr(self, part))


@dataclass(frozen=True)
class Appearance:
    """A pedestrian: one catalogue index per part (``signature``), plus skin and bag side,
    which vary between identities but are not needed to tell them apart."""

    signature: tuple[int, ...]  # indices into the catalogue, in PARTS order
    skin: int
    bag_side: int  # +1 or -1, in the person's own frame

    def part(self, name: str) -> int:
        return self.signature[PARTS.index(name)]


@dataclass(frozen=True)
class Camera:
    gain: float
    cast: tuple[float, float, float]
    person_height: float  # fraction of the image height
    background: np.ndarray = dataclasses.field(repr=False, compare=False)  # (H, 3W, 3) float32


@dataclass(frozen=True)
class ImageSpec:
    split: str  # "train", "query" or "gallery"
    pid: int  # original pid: 0 distractor, -1 junk
    camid: int  # 0-based
    index: int  # unique in the dataset; names the file and seeds its jitter
    appearance: Appearance | None  # None: background only
    partial: bool = False  # junk: a body fragment


@dataclass(frozen=True)
class SyntheticConfig:
    variant: str
    seed: int = 0
    num_train_ids: int = 32
    images_per_train_id: int = 8
    num_test_ids: int = 32
    query_cams_per_id: int = 2
    gallery_per_id: int = 5
    num_distractors: int | None = None  # None: the variant's default
    num_junk: int | None = None
    image_size: tuple[int, int] = (128, 64)  # (height, width), Market-1501's size

    def resolved(self) -> SyntheticConfig:
        """Variant defaults filled in, and every count checked."""
        if self.variant not in VARIANTS:
            raise UserError(f"unknown synthetic variant {self.variant!r}; valid: {', '.join(VARIANTS)}")
        variant = VARIANTS[self.variant]
        config = dataclasses.replace(
            self,
            num_distractors=variant.num_distractors if self.num_distractors is None else self.num_distractors,
            num_junk=variant.num_junk if self.num_junk is None else self.num_junk,
            image_size=tuple(int(x) for x in self.image_size),
        )
        config._check()
        return config

    def _check(self) -> None:
        minimum = {"num_train_ids": 1, "images_per_train_id": 1, "num_test_ids": 1,
                   "query_cams_per_id": 1, "gallery_per_id": 2, "num_distractors": 0, "num_junk": 0}
        for name, low in minimum.items():
            if getattr(self, name) < low:
                raise UserError(f"synthetic {name} must be >= {low}, got {getattr(self, name)}")
        if self.seed < 0:
            raise UserError(f"synthetic seed must be >= 0, got {self.seed}")
        if self.variant != "market1501" and (self.num_distractors or self.num_junk):
            raise UserError(f"{self.variant} has no pid 0 distractors or pid -1 junk; only market1501 does")
        height, width = self.image_size
        if height < 32 or width < 16:
            raise UserError(f"synthetic image_size must be at least (32, 16), got {self.image_size}")
        if self.num_train_ids + self.num_test_ids > 9999:
            raise UserError("synthetic datasets hold at most 9999 identities (4-digit pids)")

    def marker(self) -> dict:
        """What DATASET_COMPLETE records; equal markers mean identical pixels (JPEG bytes may
        still differ between Pillow builds, whose libjpeg versions differ)."""
        counts = {name: getattr(self, name) for name in (
            "num_train_ids", "images_per_train_id", "num_test_ids", "query_cams_per_id",
            "gallery_per_id", "num_distractors", "num_junk")}
        return {"generator": "dmlrepro.data.synthetic", "version": GENERATOR_VERSION,
                "variant": self.variant, "seed": self.seed, "image_size": list(self.image_size),
                "counts": counts}


@dataclass(frozen=True)
class DatasetPlan:
    """Everything the generator will draw, decided before any pixel is rendered."""

    config: SyntheticConfig
    catalogue: Catalogue
    identities: dict[int, Appearance]  # train and test pids
    train_pids: tuple[int, ...]
    test_pids: tuple[int, ...]
    cameras: tuple[Camera, ...]
    images: tuple[ImageSpec, ...]

    @property
    def variant(self) -> Variant:
        return VARIANTS[self.config.variant]

    def file_name(self, spec: ImageSpec) -> str:
        return self.variant.file_name(spec.pid, spec.camid, spec.index)

    def relative_path(self, spec: ImageSpec) -> Path:
        return Path(self.variant.layout.canonical_subdir) / SPLIT_FOLDERS[spec.split] / self.file_name(spec)


# ---------------------------------------------------------------------------------------------
# Planning.

_STREAM_CATALOGUE, _STREAM_IDENTITIES, _STREAM_CAMERA, _STREAM_SPLIT, _STREAM_IMAGE = range(5)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    # Independent streams per purpose and per image, so that images can be rendered in any
    # order and the catalogue and cameras do not depend on the counts.
    return np.random.default_rng([seed, *keys])


def plan_dataset(config: SyntheticConfig) -> DatasetPlan:
    """The full, deterministic plan of a synthetic dataset."""
    config = config.resolved()
    catalogue = _make_catalogue(_rng(config.seed, _STREAM_CATALOGUE))
    num_ids = config.num_train_ids + config.num_test_ids
    rng = _rng(config.seed, _STREAM_IDENTITIES)
    signatures = _deal_signatures(rng, catalogue, num_ids)
    # Market's train and test pids interleave in 1..1501, which makes relabelling matter.
    pids = rng.permutation(np.arange(1, num_ids + 1))
    identities = {int(pid): _appearance(rng, sig) for pid, sig in zip(pids, signatures)}
    train_pids = tuple(sorted(int(p) for p in pids[: config.num_train_ids]))
    test_pids = tuple(sorted(int(p) for p in pids[config.num_train_ids:]))
    num_cams = VARIANTS[config.variant].layout.num_cams
    cameras = tuple(_make_camera(config, c, num_cams) for c in range(num_cams))
    images = _plan_images(config, catalogue, identities, train_pids, test_pids, num_cams)
    return DatasetPlan(config, catalogue, identities, train_pids, test_pids, cameras, images)


def _make_catalogue(rng: np.random.Generator) -> Catalogue:
    hair = [(c, s) for c in HAIR_COLOURS for s in HAIR_STYLES]
    hair = [hair[i] for i in rng.choice(len(hair), CATALOGUE_SIZES["hair"], replace=False)]
    top = _garments(rng, CATALOGUE_SIZES["top"])
    bottom = _garments(rng, CATALOGUE_SIZES["bottom"])
    shoes = rng.choice(len(COLOURS), CATALOGUE_SIZES["shoes"], replace=False)
    bags = rng.choice(len(COLOURS), CATALOGUE_SIZES["bag"] - 1, replace=False)
    return Catalogue(
        hair=tuple(hair),
        top=top,
        bottom=bottom,
        shoes=tuple(COLOURS[i] for i in shoes),
        bag=(None,) + tuple(COLOURS[i] for i in bags),
    )


def _garments(rng: np.random.Generator, count: int) -> tuple[Garment, ...]:
    """``count`` distinct (colour, texture) garments. Colours are cycled, so that the catalogue
    reuses palette colours with different textures rather than giving each garment its own."""
    colours = np.resize(rng.permutation(len(COLOURS)), count)
    texture_order = rng.permutation(len(TEXTURES))
    garments = []
    for k, colour in enumerate(colours):
        # The shift keeps a colour's second garment off its first one's texture.
        texture = TEXTURES[texture_order[(k + k // len(COLOURS)) % len(TEXTURES)]]
        others = [c for c in COLOURS if c != COLOURS[colour]]
        secondary = COLOURS[colour] if texture == "plain" else others[rng.integers(len(others))]
        garments.append(Garment(COLOURS[colour], texture, secondary))
    return tuple(garments)


def _deal_signatures(rng: np.random.Generator, catalogue: Catalogue, count: int) -> list[tuple[int, ...]]:
    """One catalogue index per part for ``count`` identities: each part's entries are dealt
    evenly (so each is worn by count/size identities, rounded; by two or more once ``count`` is
    at least twice the largest catalogue), then swapped until every combination is unique."""
    capacity = int(np.prod([catalogue.size(p) for p in PARTS]))
    if count > capacity:
        raise UserError(f"at most {capacity} distinct synthetic identities, asked for {count}")
    dealt = [rng.permutation(np.resize(np.arange(catalogue.size(p)), count)) for p in PARTS]
    table = np.stack(dealt, axis=1)
    for _ in range(100 * count + 100):
        duplicate = _first_duplicate_row(table)
        if duplicate is None:
            return [tuple(int(x) for x in row) for row in table]
        # A swap keeps every part's counts, hence the even dealing.
        part, other = rng.integers(len(PARTS)), rng.integers(count)
        table[[duplicate, other], part] = table[[other, duplicate], part]
    raise RuntimeError("could not make synthetic identities unique")  # pragma: no cover


def _first_duplicate_row(table: np.ndarray) -> int | None:
    seen: set[tuple[int, ...]] = set()
    for i, row in enumerate(map(tuple, table)):
        if row in seen:
            return i
        seen.add(row)
    return None


def _appearance(rng: np.random.Generator, signature: tuple[int, ...]) -> Appearance:
    skin = int(rng.integers(len(SKIN_TONES)))
    return Appearance(signature, skin=skin, bag_side=int(rng.choice([-1, 1])))


def _make_camera(config: SyntheticConfig, camid: int, num_cams: int) -> Camera:
    # Gains and scales are spread over their ranges (in a seeded order) so that no two cameras
    # of a variant look alike, whatever the seed.
    order = _rng(config.seed, _STREAM_CAMERA).permutation(num_cams)
    position = order[camid] / max(num_cams - 1, 1)
    rng = _rng(config.seed, _STREAM_CAMERA, camid)
    cast = rng.uniform(0.82, 1.18, size=3)
    cast = cast / cast.mean()
    return Camera(
        gain=float(0.65 + 0.6 * position),
        cast=tuple(float(c) for c in cast),
        person_height=float(0.95 - 0.25 * ((position * 2.7) % 1.0)),
        background=_make_background(rng, *config.image_size),
    )


def _make_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A wall with a few rectangles (doors, windows, posters) above a tiled or striped floor,
    three image widths wide so that each image can show a different stretch of it."""
    full_width = 3 * width
    ys, xs = np.mgrid[0:height, 0:full_width].astype(np.float32)
    wall = rng.uniform(50, 210, size=3)
    floor = rng.uniform(40, 190, size=3)
    horizon = height * rng.uniform(0.55, 0.8)
    image = np.where((ys < horizon)[..., None], wall, floor).astype(np.float32)
    for _ in range(rng.integers(3, 7)):
        x0, y0 = rng.uniform(0, full_width), rng.uniform(0, horizon * 0.8)
        w, h = rng.uniform(0.1, 0.5) * width, rng.uniform(0.1, 0.4) * height
        box = (xs >= x0) & (xs < x0 + w) & (ys >= y0) & (ys < min(y0 + h, horizon))
        image[box] = rng.uniform(20, 240, size=3)
    period = rng.uniform(6, 16)
    if rng.random() < 0.5:  # floor tiles
        lines = ((xs % period) < 1.2) | ((ys % (period / 2)) < 1.0)
    else:  # floor stripes
        lines = ((xs + ys) % period) < 2.0
    image[(ys >= horizon) & lines] *= 0.75
    image += rng.normal(0, 6, size=image.shape).astype(np.float32)
    return image


def _plan_images(
    config: SyntheticConfig,
    catalogue: Catalogue,
    identities: dict[int, Appearance],
    train_pids: Sequence[int],
    test_pids: Sequence[int],
    num_cams: int,
) -> tuple[ImageSpec, ...]:
    rng = _rng(config.seed, _STREAM_SPLIT)
    images: list[ImageSpec] = []

    def add(split: str, pid: int, camid: int, appearance: Appearance | None, partial: bool = False) -> None:
        images.append(ImageSpec(split, pid, int(camid), len(images) + 1, appearance, partial))

    for pid in train_pids:
        cams = rng.choice(num_cams, min(num_cams, 4), replace=False)
        for k in range(config.images_per_train_id):
            add("train", pid, cams[k % len(cams)], identities[pid])
    for pid in test_pids:
        query_cams, gallery_cams = _test_cameras(rng, config, num_cams)
        for camid in query_cams:
            add("query", pid, camid, identities[pid])
        for camid in gallery_cams:
            add("gallery", pid, camid, identities[pid])
    taken = {a.signature for a in identities.values()}
    for k in range(config.num_distractors):
        unseen = _unseen_appearance(rng, catalogue, taken) if k % 2 == 0 else None
        add("gallery", DISTRACTOR_PID, rng.integers(num_cams), unseen)
    for _ in range(config.num_junk):
        fragment = _unseen_appearance(rng, catalogue, taken)
        add("gallery", JUNK_PID, rng.integers(num_cams), fragment, partial=True)
    return tuple(images)


def _test_cameras(
    rng: np.random.Generator, config: SyntheticConfig, num_cams: int
) -> tuple[list[int], list[int]]:
    """One query in each query camera; gallery images go round the identity's cameras starting
    with the non-query ones, so each query has cross-camera matches and, once the gallery is at
    least as long as the camera list, same-camera ones too."""
    cams = [int(c) for c in rng.choice(num_cams, min(num_cams, 3), replace=False)]
    num_query = min(config.query_cams_per_id, len(cams))
    query_cams = cams[:num_query]
    order = cams[num_query:] + query_cams
    return query_cams, [order[k % len(order)] for k in range(config.gallery_per_id)]


def _unseen_appearance(
    rng: np.random.Generator, catalogue: Catalogue, taken: set[tuple[int, ...]]
) -> Appearance:
    for _ in range(1000):
        signature = tuple(int(rng.integers(catalogue.size(p))) for p in PARTS)
        if signature not in taken:
            return _appearance(rng, signature)
    raise RuntimeError("no unseen synthetic appearance left")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Rendering.


@dataclass(frozen=True)
class _Jitter:
    dx: float  # horizontal shift of the person centre, pixels
    scale: float
    bottom_margin: float  # pixels between the feet and the image bottom
    mirror: int  # +1 or -1
    gait: float  # 0 (feet together) .. 1 (mid-stride)
    background_offset: int
    gain: float


def _draw_jitter(rng: np.random.Generator, height: int, width: int, partial: bool) -> _Jitter:
    jitter = _Jitter(
        dx=float(rng.uniform(-0.1, 0.1) * width),
        scale=float(rng.uniform(0.95, 1.05)),
        bottom_margin=float(rng.uniform(1, 0.04 * height)),
        mirror=int(-1 if rng.random() < 0.3 else 1),
        gait=float(rng.random()),
        background_offset=int(rng.integers(0, 2 * width + 1)),
        gain=float(rng.uniform(0.93, 1.07)),
    )
    if partial:  # a detector box that caught only part of a body
        side = float(rng.choice([-1, 1]))
        jitter = dataclasses.replace(jitter, dx=side * 0.45 * width, scale=1.5,
                                     bottom_margin=-0.3 * height)
    return jitter


def render_image(plan: DatasetPlan, spec: ImageSpec) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ``(H, W, 3)`` uint8 image for ``spec`` and a boolean mask per drawn part (empty for
    background-only images); deterministic in (plan seed, spec.index)."""
    height, width = plan.config.image_size
    camera = plan.cameras[spec.camid]
    rng = _rng(plan.config.seed, _STREAM_IMAGE, spec.index)
    jitter = _draw_jitter(rng, height, width, spec.partial)
    offset = jitter.background_offset
    canvas = camera.background[:, offset:offset + width].copy()
    masks: dict[str, np.ndarray] = {}
    if spec.appearance is not None:
        masks = _draw_person(canvas, plan.catalogue, spec.appearance, camera, jitter)
    light = camera.gain * jitter.gain * np.asarray(camera.cast, dtype=np.float32)
    canvas = canvas * light + rng.normal(0, 4, size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), masks


def _draw_person(canvas: np.ndarray, catalogue: Catalogue, appearance: Appearance,
                 camera: Camera, jitter: _Jitter) -> dict[str, np.ndarray]:
    """Paint the pedestrian into ``canvas`` in body coordinates: v runs 0 (top of the head) to 1
    (soles), u is the horizontal offset from the body axis, both in units of the body height."""
    height, width = canvas.shape[:2]
    body = camera.person_height * height * jitter.scale
    top = height - jitter.bottom_margin - body
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    v = (ys - top) / body
    u = jitter.mirror * (xs - (width / 2 + jitter.dx)) / body
    au = np.abs(u)
    stride = 0.05 + 0.035 * jitter.gait
    hair_colour, hair_style = catalogue.hair[appearance.part("hair")]
    skin = np.asarray(SKIN_TONES[appearance.skin], dtype=np.float32)

    head = (u / 0.06) ** 2 + ((v - 0.08) / 0.075) ** 2 <= 1
    hair = head & (v < 0.055)
    if hair_style == "long":
        hair |= (au > 0.035) & (au < 0.075) & (v > 0.02) & (v < 0.24)
    legs = (v >= 0.52) & (v < 0.93) & ((np.abs(u - stride) < 0.05) | (np.abs(u + stride) < 0.05))
    hips = (v >= 0.5) & (v < 0.6) & (au < 0.105)
    torso = (v >= 0.16) & (v < 0.52) & (au < 0.11 + 0.03 * (v - 0.16))
    arms = (v >= 0.17) & (v < 0.48) & (au >= 0.1) & (au < 0.15)
    hands = (v >= 0.48) & (v < 0.53) & (au >= 0.105) & (au < 0.145)
    feet = (np.abs(u - stride - 0.01) < 0.06) | (np.abs(u + stride - 0.01) < 0.06)
    shoes = (v >= 0.93) & (v <= 1.0) & feet
    masks = {
        "head": head & ~hair, "neck": (v >= 0.14) & (v < 0.17) & (au < 0.03), "hands": hands,
        "hair": hair, "bottom": legs | hips, "top": torso | arms, "shoes": shoes,
    }
    for name in ("head", "neck", "hands"):
        canvas[masks[name]] = skin
    canvas[hair] = PALETTE[hair_colour]
    _paint(canvas, masks["bottom"], catalogue.bottom[appearance.part("bottom")], u, v)
    _paint(canvas, masks["top"], catalogue.top[appearance.part("top")], u, v)
    canvas[shoes] = PALETTE[catalogue.shoes[appearance.part("shoes")]]
    bag_colour = catalogue.bag[appearance.part("bag")]
    if bag_colour is not None:
        side_u = u * appearance.bag_side
        bag = (side_u >= 0.13) & (side_u < 0.25) & (v >= 0.33) & (v < 0.55)
        strap = (v >= 0.16) & (v < 0.34) & (np.abs(side_u - (v - 0.16) * 0.6) < 0.012)
        masks["bag"] = bag | strap
        canvas[masks["bag"]] = PALETTE[bag_colour]
        for name in ("top", "bottom"):
            masks[name] &= ~masks["bag"]
    return {name: mask for name, mask in masks.items() if mask.any()}


def _paint(canvas: np.ndarray, mask: np.ndarray, garment: Garment, u: np.ndarray, v: np.ndarray) -> None:
    canvas[mask] = PALETTE[garment.colour]
    if garment.texture != "plain":
        canvas[mask & _texture(garment.texture, u, v)] = PALETTE[garment.secondary]


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Laid out in body units, so that the pattern scales with the person as cloth does.
    if texture == "dots":
        fu, fv = (u / 0.06) % 1.0 - 0.5, (v / 0.06) % 1.0 - 0.5
        return fu**2 + fv**2 < 0.09
    row, col = np.floor(v / 0.03), np.floor(u / 0.03)
    if texture == "hstripes":
        return row % 2 == 1
    if texture == "vstripes":
        return col % 2 == 1
    if texture == "checks":
        return (row + col) % 2 == 1
    raise ValueError(f"unknown texture {texture!r}")


# ---------------------------------------------------------------------------------------------
# Writing, atomically.


def generate_reid_dataset(
    out_root: str | Path,
    variant: str,
    seed: int = 0,
    num_train_ids: int = 32,
    num_test_ids: int = 32,
    image_size: tuple[int, int] = (128, 64),
    images_per_train_id: int = 8,
    query_cams_per_id: int = 2,
    gallery_per_id: int = 5,
    num_distractors: int | None = None,
    num_junk: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic ``variant`` under ``out_root`` in the folders its loader expects
    (e.g. ``out_root/market1501/Market-1501-v15.09.15``) and return that dataset folder.

    A complete dataset with the same marker is left as it is. One written by this generator but
    incomplete (no marker) is replaced. A complete one with other parameters is replaced only
    with ``overwrite``; a folder this generator did not write is never touched.
    """
    config = SyntheticConfig(variant, seed, num_train_ids, images_per_train_id, num_test_ids,
                             query_cams_per_id, gallery_per_id, num_distractors, num_junk,
                             tuple(image_size))
    return _generate(config, Path(out_root).expanduser(), overwrite)[0]


def _generate(config: SyntheticConfig, out_root: Path, overwrite: bool) -> tuple[Path, bool]:
    """``(dataset folder, whether it was written now)``."""
    config = config.resolved()
    final = out_root / VARIANTS[config.variant].layout.canonical_subdir
    if _prepare_target(final, config.marker(), overwrite):
        return final, False
    temporary = _temporary_sibling(final, "tmp")
    try:
        _write_dataset(plan_dataset(config), temporary)
        _install(temporary, final, config.marker())
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return final, True


def read_marker(dataset_dir: Path) -> dict | None:
    """The DATASET_COMPLETE marker of ``dataset_dir``, or None when there is none."""
    try:
        return json.loads((dataset_dir / MARKER_NAME).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _prepare_target(final: Path, marker: dict, overwrite: bool) -> bool:
    """True if ``final`` already holds this exact dataset; otherwise clear the way for it."""
    _remove_stale_siblings(final)
    if not final.exists():
        return False
    existing = read_marker(final)
    if _matches(existing, marker):
        return True
    ours = (final / OWNER_NAME).is_file()
    if final.is_dir() and not any(final.iterdir()):
        ours = True  # an empty folder holds nothing to lose
    if not ours:
        raise SyntheticTargetExistsError(
            f"refusing to replace {final}: it exists but was not written by dmlrepro.data.synthetic; "
            "move it away or choose another --out")
    if existing is not None and not overwrite:
        raise SyntheticTargetExistsError(
            f"{final} holds a synthetic dataset with other parameters "
            f"({_marker_difference(existing, marker)}); "
            "pass --overwrite (overwrite=True) or choose another --out")
    _remove(final)
    return False


def _matches(existing: dict | None, wanted: dict) -> bool:
    # The written marker adds image counts, which follow from the parameters.
    return existing is not None and all(existing.get(k) == v for k, v in wanted.items())


def _marker_difference(existing: dict, wanted: dict) -> str:
    def flat(marker: dict) -> dict:
        counts = marker.get("counts") if isinstance(marker.get("counts"), dict) else {}
        return {**{k: v for k, v in marker.items() if k != "counts"},
                **{f"counts.{k}": v for k, v in counts.items()}}

    have, want = flat(existing), flat(wanted)
    return "; ".join(f"{k}: {have.get(k)} != {v}" for k, v in want.items() if have.get(k) != v)


def _temporary_sibling(final: Path, kind: str) -> Path:
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.parent / f".{final.name}.{kind}-{socket.gethostname()}-{os.getpid()}"


def _remove_stale_siblings(final: Path) -> None:
    """Delete temporary folders left by killed generators on this host."""
    if not final.parent.is_dir():
        return
    prefix = f".{final.name}."
    host = socket.gethostname()
    for sibling in final.parent.glob(f"{prefix}*-{host}-*"):
        pid_text = sibling.name.rsplit("-", 1)[-1]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            shutil.rmtree(sibling, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(folder: Path) -> None:
    # Rename first, so that an interrupted delete never leaves a half-deleted dataset in place.
    doomed = _temporary_sibling(folder, "old")
    os.rename(folder, doomed)
    shutil.rmtree(doomed)


def _install(temporary: Path, final: Path, marker: dict) -> None:
    try:
        os.rename(temporary, final)
    except OSError:
        # Another generator finished the same dataset first: keep theirs.
        if not _matches(read_marker(final), marker):
            raise


def _write_dataset(plan: DatasetPlan, dataset_dir: Path) -> None:
    # The temporary folder stands in for the canonical dataset folder itself.
    dataset_dir.mkdir(parents=True)
    (dataset_dir / OWNER_NAME).write_text(json.dumps({"generator": "dmlrepro.data.synthetic"}) + "\n")
    for folder in SPLIT_FOLDERS.values():
        (dataset_dir / folder).mkdir()
    image_format = plan.variant.image_format
    counts = {split: 0 for split in SPLIT_FOLDERS}
    for spec in plan.images:
        pixels, _ = render_image(plan, spec)
        path = dataset_dir / SPLIT_FOLDERS[spec.split] / plan.file_name(spec)
        path.write_bytes(_encode(pixels, image_format))
        counts[spec.split] += 1
    marker = {**plan.config.marker(), "images": counts}
    (dataset_dir / MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


def _encode(pixels: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    # Fast PNG compression: the files are small and regenerated, not archived.
    options = {"quality": 95} if image_format == "JPEG" else {"compress_level": 1}
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# CLI.


def _one_line_summary(variant: str, dataset_dir: Path, out_root: Path) -> str:
    from dmlrepro.data.registry import build_reid_dataset

    dataset = build_reid_dataset(variant, out_root)
    gallery_pids = {pid for _, pid, _ in dataset.gallery}
    distractors = sum(pid == DISTRACTOR_PID for _, pid, _ in dataset.gallery)
    junk = sum(1 for p in (dataset_dir / SPLIT_FOLDERS["gallery"]).iterdir() if p.name.startswith("-1_"))
    extras = f"{distractors} distractors, {junk} junk files not loaded; " if variant == "market1501" else ""
    return (f"{variant}: train {dataset.num_train_pids} ids / {len(dataset.train)} images, "
            f"query {len({pid for _, pid, _ in dataset.query})} ids / {len(dataset.query)} images, "
            f"gallery {len(gallery_pids - {DISTRACTOR_PID})} ids / {len(dataset.gallery)} images "
            f"({extras}{VARIANTS[variant].layout.num_cams} cameras)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dmlrepro.data.synthetic",
        description="Write a small synthetic re-ID dataset in the real dataset's layout.")
    parser.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    parser.add_argument("--out", required=True, type=Path, help="data root (the loaders' <root>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-ids", type=int, default=32)
    parser.add_argument("--test-ids", type=int, default=32)
    parser.add_argument("--images-per-train-id", type=int, default=8)
    parser.add_argument("--gallery-per-id", type=int, default=5)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a synthetic dataset written with other parameters")
    args = parser.parse_args(argv)
    config = SyntheticConfig(args.variant, args.seed, args.train_ids, args.images_per_train_id,
                             args.test_ids, gallery_per_id=args.gallery_per_id)
    try:
        dataset_dir, written = _generate(config, args.out.expanduser(), args.overwrite)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{'wrote' if written else 'already complete, left as it is'}: {dataset_dir}")
    print(_one_line_summary(args.variant, dataset_dir, args.out.expanduser()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
