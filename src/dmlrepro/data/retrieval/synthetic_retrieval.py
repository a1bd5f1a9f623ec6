"""The embedded default for class-split retrieval: a deterministic generator of small synthetic
datasets written in exactly the on-disk layouts of CUB-200-2011, Cars-196, Stanford Online
Products and In-Shop, so that the real loaders (cub200.py, cars196.py, sop.py, inshop.py) read
them and every code path of Multi-Head DML (003_72cd4b33cee60b89.txt, Sec. 4.1) runs without a
download. Numbers measured on it say nothing about the paper's numbers.

What makes it a metric-learning problem rather than a colour lookup:

* A class is an object drawn as a combination of three attributes from shared pools: a
  silhouette (8 shapes), a texture (the re-ID generator's plain, stripes, checks, dots) and a
  two-colour palette (a body colour and a second colour for the texture and the rim; 12 pairs
  from the re-ID generator's palette). Attribute values are dealt to classes evenly, so each
  value is shared by several classes, in training and in test alike; only the combination,
  which is unique, identifies a class. Test classes are unseen combinations of seen values.
* Each image adds nuisance: position, scale, rotation (±15°, so that a square never becomes a
  diamond), illumination gain, colour cast and shading direction, sensor noise, and a
  cluttered background (CUB and Cars: the re-ID generator's wall-and-floor scenes with small
  distractor objects; SOP and In-Shop: a studio backdrop).
* Splits follow the real class-id conventions, so that the loaders apply the field's rules
  unchanged: CUB classes 1.. train and 101.. test, Cars 1.. and 99.., SOP 1.. in
  ``Ebay_train.txt`` and 11,319.. in ``Ebay_test.txt``, In-Shop item numbers interleaved with
  each test item's images divided between query and gallery.

The generator reuses the re-ID generator's palette, textures, backgrounds, seeding, encoding and
atomic writing (``dmlrepro.data.synthetic``): a dataset is written into a temporary sibling
folder and renamed into place, with a ``DATASET_COMPLETE`` json marker (generator, version,
variant, seed, counts) and a ``.dmlrepro-synthetic`` owner file; the loaders expose the marker
as ``RetrievalDataset.synthetic`` so that results can say the data was synthetic.

CLI: ``python -m dmlrepro.data.retrieval.synthetic_retrieval --variant cub200|cars196|sop|inshop
--out DIR [--seed 0] [--train-classes N --test-classes N --images-min N --images-max N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shutil
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from dmlrepro.data import synthetic as reid_synthetic
from dmlrepro.data.retrieval.cars196 import ANNOTATION_FIELDS, CARS196
from dmlrepro.data.retrieval.cars196 import LAST_TRAIN_CLASS as CARS_LAST_TRAIN_CLASS
from dmlrepro.data.retrieval.cars196 import NUM_CLASSES as CARS_NUM_CLASSES
from dmlrepro.data.retrieval.cub200 import CUB200
from dmlrepro.data.retrieval.cub200 import LAST_TRAIN_CLASS as CUB_LAST_TRAIN_CLASS
from dmlrepro.data.retrieval.cub200 import NUM_CLASSES as CUB_NUM_CLASSES
from dmlrepro.data.retrieval.inshop import HEADER as INSHOP_HEADER
from dmlrepro.data.retrieval.inshop import INSHOP, PARTITION
from dmlrepro.data.retrieval.retrieval_dataset import RetrievalLayout
from dmlrepro.data.retrieval.sop import HEADER as SOP_HEADER
from dmlrepro.data.retrieval.sop import NUM_CLASSES as SOP_NUM_CLASSES
from dmlrepro.data.retrieval.sop import NUM_TRAIN_CLASSES as SOP_NUM_TRAIN_CLASSES
from dmlrepro.data.retrieval.sop import SOP
from dmlrepro.data.synthetic import COLOURS, PALETTE, TEXTURES
from dmlrepro.errors import UserError

# Bump whenever the generated pixels or layout change, so that datasets written by an older
# generator are not taken for complete ones.
GENERATOR_VERSION = 1
GENERATOR = "dmlrepro.data.retrieval.synthetic_retrieval"

SHAPES = ("disk", "square", "triangle", "diamond", "star", "cross", "ring", "hexagon")
NUM_PALETTES = 12
NUM_SCENES = 8
ATTRIBUTES = ("shape", "texture", "palette")
MAX_ROTATION = np.deg2rad(15.0)
SOP_SUPER_CLASSES = ("bicycle", "cabinet", "chair", "coffee_maker", "fan", "kettle", "lamp", "mug",
                     "sofa", "stapler", "table", "toaster")
INSHOP_CATEGORIES = ("Dresses", "Tees_Tanks", "Blouses_Shirts", "Sweaters", "Jackets_Coats",
                     "Shorts", "Pants", "Skirts")
INSHOP_VIEWS = ("front", "side", "back", "full", "additional")

# ---------------------------------------------------------------------------------------------
# Variants: which layout each imitates, with its class-id rules and small defaults.


@dataclass(frozen=True)
class Variant:
    layout: RetrievalLayout
    num_train_classes: int
    num_test_classes: int
    images: tuple[int, int]  # per class, inclusive range
    image_size: tuple[int, int]  # (height, width)
    scene: bool  # cluttered scene (True) or studio backdrop (False)
    max_train_classes: int
    max_test_classes: int
    first_test_class: int  # 0: In-Shop, whose item numbers interleave


VARIANTS: dict[str, Variant] = {
    "cub200": Variant(CUB200, 32, 32, (8, 12), (96, 96), True, CUB_LAST_TRAIN_CLASS,
                      CUB_NUM_CLASSES - CUB_LAST_TRAIN_CLASS, CUB_LAST_TRAIN_CLASS + 1),
    "cars196": Variant(CARS196, 32, 32, (8, 12), (96, 128), True, CARS_LAST_TRAIN_CLASS,
                       CARS_NUM_CLASSES - CARS_LAST_TRAIN_CLASS, CARS_LAST_TRAIN_CLASS + 1),
    "sop": Variant(SOP, 96, 96, (2, 6), (96, 96), False, SOP_NUM_TRAIN_CLASSES,
                   SOP_NUM_CLASSES - SOP_NUM_TRAIN_CLASSES, SOP_NUM_TRAIN_CLASSES + 1),
    "inshop": Variant(INSHOP, 48, 48, (3, 6), (96, 96), False, 99_999_999, 99_999_999, 0),
}


@dataclass(frozen=True)
class RetrievalSyntheticConfig:
    """What to generate; ``None`` takes the variant's default."""

    variant: str
    seed: int = 0
    num_train_classes: int | None = None
    num_test_classes: int | None = None
    images_min: int | None = None
    images_max: int | None = None
    image_size: tuple[int, int] | None = None

    def resolved(self) -> RetrievalSyntheticConfig:
        """Variant defaults filled in, and every count checked."""
        if self.variant not in VARIANTS:
            raise UserError(f"unknown synthetic retrieval variant {self.variant!r}; "
                            f"valid: {', '.join(VARIANTS)}")
        v = VARIANTS[self.variant]

        def pick(value, default):
            return default if value is None else value

        config = dataclasses.replace(
            self,
            num_train_classes=pick(self.num_train_classes, v.num_train_classes),
            num_test_classes=pick(self.num_test_classes, v.num_test_classes),
            images_min=pick(self.images_min, v.images[0]),
            images_max=pick(self.images_max, max(v.images[1], pick(self.images_min, v.images[0]))),
            image_size=tuple(int(x) for x in pick(self.image_size, v.image_size)),
        )
        config._check(v)
        return config

    def _check(self, variant: Variant) -> None:
        if self.seed < 0:
            raise UserError(f"synthetic seed must be >= 0, got {self.seed}")
        for name, high in (("num_train_classes", variant.max_train_classes),
                           ("num_test_classes", variant.max_test_classes)):
            if not 1 <= getattr(self, name) <= high:
                raise UserError(f"synthetic {self.variant} {name} must be in 1..{high}, "
                                f"got {getattr(self, name)}")
        if not 1 <= self.images_min <= self.images_max:
            raise UserError(f"synthetic images per class need 1 <= images_min <= images_max, "
                             f"got {self.images_min}..{self.images_max}")
        capacity = len(SHAPES) * len(TEXTURES) * NUM_PALETTES
        if self.num_train_classes + self.num_test_classes > capacity:
            raise UserError(f"at most {capacity} distinct synthetic classes, asked for "
                             f"{self.num_train_classes + self.num_test_classes}")
        height, width = self.image_size
        if height < 32 or width < 32:
            raise UserError(f"synthetic image_size must be at least (32, 32), got {self.image_size}")

    def marker(self) -> dict:
        """What DATASET_COMPLETE records; equal markers mean identical pixels (JPEG bytes may
        still differ between Pillow builds)."""
        counts = {name: getattr(self, name) for name in (
            "num_train_classes", "num_test_classes", "images_min", "images_max")}
        return {"generator": GENERATOR, "version": GENERATOR_VERSION, "variant": self.variant,
                "seed": self.seed, "image_size": list(self.image_size), "counts": counts}


@dataclass(frozen=True)
class ClassSpec:
    class_id: int  # the id written to disk (CUB/Cars/SOP class, In-Shop item number)
    split: str  # "train" or "test"
    signature: tuple[int, int, int]  # indices into SHAPES, TEXTURES, palettes

    @property
    def shape(self) -> str:
        return SHAPES[self.signature[0]]

    @property
    def texture(self) -> str:
        return TEXTURES[self.signature[1]]


@dataclass(frozen=True)
class ImageSpec:
    index: int  # unique in the dataset, from 1; seeds the image's nuisance
    class_id: int
    k: int  # index of the image within its class
    status: str  # "train", "test"; In-Shop "train", "query", "gallery"


@dataclass(frozen=True)
class DatasetPlan:
    """Everything the generator will draw, decided before any pixel is rendered."""

    config: RetrievalSyntheticConfig
    palettes: tuple[tuple[str, str], ...]
    classes: dict[int, ClassSpec]
    images: tuple[ImageSpec, ...]
    scenes: tuple[np.ndarray, ...] = dataclasses.field(repr=False, compare=False)  # (H, 3W, 3) float32

    @property
    def variant(self) -> Variant:
        return VARIANTS[self.config.variant]

    def class_name(self, class_id: int) -> str:
        spec = self.classes[class_id]
        primary, secondary = self.palettes[spec.signature[2]]
        return "_".join(word.capitalize() for word in (primary, secondary, spec.texture, spec.shape))


# ---------------------------------------------------------------------------------------------
# Planning.

_STREAM_PALETTES, _STREAM_CLASSES, _STREAM_SPLIT, _STREAM_IMAGE, _STREAM_SCENE = 10, 11, 12, 13, 14


def _rng(config: RetrievalSyntheticConfig, *keys: int) -> np.random.Generator:
    # The re-ID generator's independent streams, keyed by the variant too, so that the four
    # datasets of one seed do not share their classes or images.
    return reid_synthetic._rng(config.seed, zlib.crc32(config.variant.encode()), *keys)


def plan_dataset(config: RetrievalSyntheticConfig) -> DatasetPlan:
    """The full, deterministic plan of a synthetic retrieval dataset."""
    config = config.resolved()
    variant = VARIANTS[config.variant]
    palettes = _make_palettes(_rng(config, _STREAM_PALETTES))
    num_train, num_test = config.num_train_classes, config.num_test_classes
    rng = _rng(config, _STREAM_CLASSES)
    signatures = deal_signatures(rng, (len(SHAPES), len(TEXTURES), len(palettes)), num_train + num_test)
    if variant.first_test_class:
        ids = list(range(1, num_train + 1)) + list(range(variant.first_test_class,
                                                         variant.first_test_class + num_test))
    else:  # In-Shop item numbers: train and test interleave, which makes relabelling matter
        ids = [int(i) for i in rng.permutation(np.arange(1, num_train + num_test + 1))]
    classes = {cid: ClassSpec(cid, "train" if n < num_train else "test", sig)
               for n, (cid, sig) in enumerate(zip(ids, signatures))}
    images = _plan_images(config, classes)
    scenes = ()
    if variant.scene:
        # A few places, each three image widths wide, from which images show a stretch (the
        # re-ID generator's camera backgrounds): drawing one per image would dominate the time.
        scenes = tuple(reid_synthetic._make_background(_rng(config, _STREAM_SCENE, n), *config.image_size)
                       for n in range(NUM_SCENES))
    return DatasetPlan(config, palettes, dict(sorted(classes.items())), images, scenes)


def _make_palettes(rng: np.random.Generator) -> tuple[tuple[str, str], ...]:
    """``NUM_PALETTES`` (body, second) colour pairs; body colours cycle through the palette, so
    several palettes share a body colour and a colour alone does not name a palette."""
    bodies = np.resize(rng.permutation(len(COLOURS)), NUM_PALETTES)
    pairs = []
    for body in bodies:
        others = [c for c in range(len(COLOURS)) if c != body and (COLOURS[body], COLOURS[c]) not in pairs]
        pairs.append((COLOURS[body], COLOURS[others[rng.integers(len(others))]]))
    return tuple(pairs)


def deal_signatures(rng: np.random.Generator, sizes: Sequence[int], count: int) -> list[tuple[int, ...]]:
    """One value per attribute for ``count`` classes: each attribute's values are dealt evenly
    (each used by count/size classes, rounded), then swapped between classes until every
    combination is unique; a swap keeps the even dealing."""
    dealt = [rng.permutation(np.resize(np.arange(size), count)) for size in sizes]
    table = np.stack(dealt, axis=1)
    for _ in range(100 * count + 100):
        duplicate = reid_synthetic._first_duplicate_row(table)
        if duplicate is None:
            return [tuple(int(x) for x in row) for row in table]
        column, other = rng.integers(len(sizes)), rng.integers(count)
        table[[duplicate, other], column] = table[[other, duplicate], column]
    raise RuntimeError("could not make synthetic classes unique")  # pragma: no cover


def _plan_images(config: RetrievalSyntheticConfig, classes: dict[int, ClassSpec]) -> tuple[ImageSpec, ...]:
    rng = _rng(config, _STREAM_SPLIT)
    images: list[ImageSpec] = []
    for spec in classes.values():  # train then test, in id order within each
        count = int(rng.integers(config.images_min, config.images_max + 1))
        statuses = [spec.split] * count
        if config.variant == "inshop" and spec.split == "test":
            # Each test item has about half its images in the query set and the rest in the
            # gallery (14,218 / 12,612 in the real set); a one-image item has a query only.
            num_query = max(1, count // 2)
            order = rng.permutation(count)
            statuses = ["query" if order[k] < num_query else "gallery" for k in range(count)]
        for k, status in enumerate(statuses):
            images.append(ImageSpec(len(images) + 1, spec.class_id, k, status))
    return tuple(images)


# ---------------------------------------------------------------------------------------------
# Rendering.


def render_image(plan: DatasetPlan, spec: ImageSpec) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The ``(H, W, 3)`` uint8 image and the object's 1-based inclusive bounding box
    ``(x1, y1, x2, y2)``; deterministic in (plan seed, spec.index)."""
    height, width = plan.config.image_size
    rng = _rng(plan.config, _STREAM_IMAGE, spec.index)
    grid = _pixel_grid(height, width)
    if plan.variant.scene:
        scene = plan.scenes[rng.integers(len(plan.scenes))]
        offset = int(rng.integers(0, scene.shape[1] - width + 1))
        canvas = scene[:, offset:offset + width].copy()
        for _ in range(int(rng.integers(1, 4))):  # small distractor objects in the clutter
            shape, texture = SHAPES[rng.integers(len(SHAPES))], TEXTURES[rng.integers(len(TEXTURES))]
            colours = rng.choice(len(COLOURS), 2, replace=False)
            radius = rng.uniform(0.08, 0.14) * min(height, width)
            centre = (rng.uniform(0, width), rng.uniform(0, height))
            _draw_object(canvas, grid, shape, texture, (COLOURS[colours[0]], COLOURS[colours[1]]),
                         centre, radius, rng.uniform(-np.pi, np.pi))
    else:
        canvas = _studio_background(rng, grid)
    cls = plan.classes[spec.class_id]
    radius = rng.uniform(0.28, 0.4) * min(height, width)
    centre = (width / 2 + rng.uniform(-0.14, 0.14) * width, height / 2 + rng.uniform(-0.14, 0.14) * height)
    bbox = _draw_object(canvas, grid, cls.shape, cls.texture, plan.palettes[cls.signature[2]], centre,
                        radius, rng.uniform(-MAX_ROTATION, MAX_ROTATION), shade=rng.uniform(-np.pi, np.pi))
    cast = rng.uniform(0.85, 1.15, size=3)
    light = rng.uniform(0.7, 1.3) * cast / cast.mean()
    canvas = canvas * light.astype(np.float32) + rng.normal(0, 4, size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), bbox or (1, 1, width, height)


def _studio_background(rng: np.random.Generator, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A light, slightly graded backdrop, as in product and catalogue photographs."""
    xs, ys = grid
    height, width = xs.shape
    base = rng.uniform(190, 245, size=3).astype(np.float32)
    angle = rng.uniform(-np.pi, np.pi)
    ramp = (np.cos(angle) / width) * xs + (np.sin(angle) / height) * ys
    return base * (1 - 0.12 * ramp)[..., None]


@functools.lru_cache(maxsize=4)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(xs, ys)``, read-only and shared by every image of a size."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def _draw_object(canvas: np.ndarray, grid: tuple[np.ndarray, np.ndarray], shape: str, texture: str,
                 palette: tuple[str, str], centre: tuple[float, float], radius: float, angle: float,
                 shade: float | None = None) -> tuple[int, int, int, int] | None:
    """Paint one object into ``canvas``: the silhouette in the body colour, the texture and a rim
    in the second colour (so that a plain object still shows both), laid out in the object's own
    rotated frame (u, v in units of ``radius``). Returns its 1-based inclusive bounding box
    ``(x1, y1, x2, y2)``, or None when it falls outside the image."""
    height, width = canvas.shape[:2]
    # Every silhouette lies within radius 1 of the centre: work on that window only.
    x0, x1 = max(int(centre[0] - 1.02 * radius), 0), min(int(centre[0] + 1.02 * radius) + 2, width)
    y0, y1 = max(int(centre[1] - 1.02 * radius), 0), min(int(centre[1] + 1.02 * radius) + 2, height)
    if x0 >= x1 or y0 >= y1:
        return None
    xs, ys = (g[y0:y1, x0:x1] for g in grid)
    window = canvas[y0:y1, x0:x1]
    dx, dy = xs - centre[0], ys - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = (cos * dx + sin * dy) / radius, (-sin * dx + cos * dy) / radius
    mask = silhouette(shape, u, v)
    if not mask.any():
        return None
    second_mask = mask & ~silhouette(shape, u / 0.84, v / 0.84)  # the rim
    if texture != "plain":
        # The re-ID textures are laid out in body units (stripes 0.03 wide): 0.15 maps them to
        # stripes a fifth of the object radius wide.
        second_mask |= mask & reid_synthetic._texture(texture, 0.15 * u, 0.15 * v)
    body, second = (np.asarray(PALETTE[c], dtype=np.float32) for c in palette)
    window[mask] = body
    window[second_mask] = second
    if shade is not None:  # light from one side
        window[mask] *= (1 + 0.18 * (np.cos(shade) * u[mask] + np.sin(shade) * v[mask]))[:, None]
    rows, cols = np.nonzero(mask)
    return (x0 + int(cols.min()) + 1, y0 + int(rows.min()) + 1,
            x0 + int(cols.max()) + 1, y0 + int(rows.max()) + 1)


def silhouette(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The mask of ``shape`` in object coordinates (extent about [-1, 1])."""
    r = np.hypot(u, v)
    if shape == "disk":
        return r <= 0.95
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.78
    if shape == "triangle":  # apex up
        return (v <= 0.7) & (np.abs(u) <= (v + 1.0) / 1.55)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "star":
        phi = np.arctan2(u, -v)
        return r <= 0.42 + 0.58 * ((1 + np.cos(5 * phi)) / 2) ** 2
    if shape == "cross":
        return ((np.abs(u) <= 0.32) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.32) & (np.abs(u) <= 0.95))
    if shape == "ring":
        return (r <= 0.95) & (r >= 0.5)
    if shape == "hexagon":
        return np.maximum(np.abs(v), 0.866 * np.abs(u) + 0.5 * np.abs(v)) <= 0.85
    raise ValueError(f"unknown shape {shape!r}")


# ---------------------------------------------------------------------------------------------
# Writing each layout.


def _write_cub200(plan: DatasetPlan, folder: Path) -> dict[str, int]:
    images_lines, label_lines = [], []
    for spec in plan.images:
        name = plan.class_name(spec.class_id)
        relative = f"{spec.class_id:03d}.{name}/{name}_{spec.k + 1:04d}_{700000 + spec.index}.jpg"
        _write_image(plan, spec, folder / "images" / relative)
        images_lines.append(f"{spec.index} {relative}")
        label_lines.append(f"{spec.index} {spec.class_id}")
    (folder / "images.txt").write_text("\n".join(images_lines) + "\n")
    (folder / "image_class_labels.txt").write_text("\n".join(label_lines) + "\n")
    return _counts(plan)


def _write_cars196(plan: DatasetPlan, folder: Path) -> dict[str, int]:
    # File numbers are shuffled over classes, so that nothing may rely on the annotation order.
    numbers = _rng(plan.config, _STREAM_SPLIT, 1).permutation(len(plan.images)) + 1
    flags = _rng(plan.config, _STREAM_SPLIT, 2).integers(0, 2, size=len(plan.images))
    annotations = np.zeros((1, len(plan.images)), dtype=[(name, "O") for name in ANNOTATION_FIELDS])
    for spec, number, flag in sorted(zip(plan.images, numbers, flags), key=lambda row: row[1]):
        relative = f"car_ims/{number:06d}.jpg"
        x1, y1, x2, y2 = _write_image(plan, spec, folder / relative)
        annotations[0, number - 1] = (
            np.array([relative]), *(np.array([[c]], dtype=np.uint16) for c in (x1, y1, x2, y2)),
            np.array([[spec.class_id]], dtype=np.uint8), np.array([[flag]], dtype=np.uint8))
    num_names = max(plan.classes)
    class_names = np.empty((1, num_names), dtype=object)
    for class_id in range(1, num_names + 1):
        class_names[0, class_id - 1] = (plan.class_name(class_id).replace("_", " ")
                                        if class_id in plan.classes else f"unused class {class_id}")
    scipy.io.savemat(folder / "cars_annos.mat", {"annotations": annotations, "class_names": class_names})
    return _counts(plan)


def _write_sop(plan: DatasetPlan, folder: Path) -> dict[str, int]:
    lines = {"train": [" ".join(SOP_HEADER)], "test": [" ".join(SOP_HEADER)]}
    for spec in plan.images:
        cls = plan.classes[spec.class_id]
        super_id = cls.signature[0] + 1  # the silhouette plays the product category
        product = 110000000000 + 7919 * cls.class_id  # a 12-digit eBay-like listing number
        relative = f"{SOP_SUPER_CLASSES[cls.signature[0]]}_final/{product}_{spec.k}.JPG"
        _write_image(plan, spec, folder / relative)
        rows = lines[cls.split]
        rows.append(f"{len(rows)} {cls.class_id} {super_id} {relative}")
    for split, rows in lines.items():
        (folder / f"Ebay_{split}.txt").write_text("\n".join(rows) + "\n")
    return _counts(plan)


def _write_inshop(plan: DatasetPlan, folder: Path) -> dict[str, int]:
    rows = []
    for spec in plan.images:
        cls = plan.classes[spec.class_id]
        gender = "WOMEN" if cls.class_id % 3 else "MEN"
        view = INSHOP_VIEWS[spec.k % len(INSHOP_VIEWS)]
        relative = (f"img/{gender}/{INSHOP_CATEGORIES[cls.signature[0]]}/id_{cls.class_id:08d}/"
                    f"{spec.k // len(INSHOP_VIEWS) + 1:02d}_{spec.k % len(INSHOP_VIEWS) + 1}_{view}.jpg")
        _write_image(plan, spec, folder / relative)
        rows.append((relative, f"id_{cls.class_id:08d}", spec.status))
    rows.sort()  # the release lists images by path, so train and test items interleave
    lines = [str(len(rows)), " ".join(INSHOP_HEADER)]
    lines += [f"{path:<64} {item} {status}" for path, item, status in rows]
    (folder / PARTITION).parent.mkdir(parents=True)
    (folder / PARTITION).write_text("\n".join(lines) + "\n")
    statuses = ("train", "query", "gallery")
    return {status: sum(spec.status == status for spec in plan.images) for status in statuses}


WRITERS = {"cub200": _write_cub200, "cars196": _write_cars196, "sop": _write_sop, "inshop": _write_inshop}


def _write_image(plan: DatasetPlan, spec: ImageSpec, path: Path) -> tuple[int, int, int, int]:
    pixels, bbox = render_image(plan, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(reid_synthetic._encode(pixels, "JPEG"))
    return bbox


def _counts(plan: DatasetPlan) -> dict[str, int]:
    return {split: sum(spec.status == split for spec in plan.images) for split in ("train", "test")}


def _write_dataset(plan: DatasetPlan, dataset_dir: Path) -> None:
    # The temporary folder stands in for the canonical dataset folder itself.
    dataset_dir.mkdir(parents=True)
    owner = {"generator": GENERATOR}
    (dataset_dir / reid_synthetic.OWNER_NAME).write_text(json.dumps(owner) + "\n")
    counts = WRITERS[plan.config.variant](plan, dataset_dir)
    marker = {**plan.config.marker(), "images": counts}
    (dataset_dir / reid_synthetic.MARKER_NAME).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# Generating, atomically (the re-ID generator's machinery).


def generate_retrieval_dataset(
    out_root: str | Path,
    variant: str,
    seed: int = 0,
    num_train_classes: int | None = None,
    num_test_classes: int | None = None,
    images_min: int | None = None,
    images_max: int | None = None,
    image_size: tuple[int, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic ``variant`` under ``out_root`` in the folder its loader expects
    (e.g. ``out_root/CUB_200_2011``) and return that dataset folder.

    A complete dataset with the same marker is left as it is. One written by a generator but
    incomplete (no marker) is replaced. A complete one with other parameters is replaced only
    with ``overwrite``; a folder no generator wrote is never touched.
    """
    config = RetrievalSyntheticConfig(variant, seed, num_train_classes, num_test_classes,
                                      images_min, images_max, image_size)
    return _generate(config, Path(out_root).expanduser(), overwrite)[0]


def _generate(config: RetrievalSyntheticConfig, out_root: Path, overwrite: bool) -> tuple[Path, bool]:
    """``(dataset folder, whether it was written now)``."""
    config = config.resolved()
    final = out_root / VARIANTS[config.variant].layout.canonical_subdir
    if reid_synthetic._prepare_target(final, config.marker(), overwrite):
        return final, False
    temporary = reid_synthetic._temporary_sibling(final, "tmp")
    try:
        _write_dataset(plan_dataset(config), temporary)
        reid_synthetic._install(temporary, final, config.marker())
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return final, True


# ---------------------------------------------------------------------------------------------
# CLI.


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {GENERATOR}",
        description="Write a small synthetic class-split retrieval dataset in the real dataset's layout.")
    parser.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    parser.add_argument("--out", required=True, type=Path, help="data root (the loaders' <root>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-classes", type=int, default=None, help="default: the variant's")
    parser.add_argument("--test-classes", type=int, default=None, help="default: the variant's")
    parser.add_argument("--images-min", type=int, default=None, help="fewest images per class")
    parser.add_argument("--images-max", type=int, default=None, help="most images per class")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a synthetic dataset written with other parameters")
    args = parser.parse_args(argv)
    config = RetrievalSyntheticConfig(args.variant, args.seed, args.train_classes, args.test_classes,
                                      args.images_min, args.images_max)
    try:
        dataset_dir, written = _generate(config, args.out.expanduser(), args.overwrite)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from dmlrepro.data.retrieval.registry import build_retrieval_dataset

    print(f"{'wrote' if written else 'already complete, left as it is'}: {dataset_dir}")
    print(build_retrieval_dataset(args.variant, args.out.expanduser()).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
