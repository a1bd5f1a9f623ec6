"""The Brown (PhotoTour) patch datasets of Table 7 in the layout torchvision's ``PhotoTour`` reads
(001_5fbd5da13318fd56.txt, "Datasets": "Brown dataset (Brown and Lowe 2007) consists of three
subsets: Liberty, Notredame, and Yosemite with about 400k patches in each subset ... the models are
trained on one subset and tested on the other two ... which uses the provided 100K pairs").

Layout of one subset, ``<root>/<name>/``:

* ``patches*.bmp`` — 1024×1024 grey tiles, each a 16×16 grid of 64×64 patches; patch i is in the
  i // 256-th tile (tiles in sorted file-name order) at row (i % 256) // 16, column i % 16. The last
  tile may be partly empty.
* ``info.txt`` — one line per patch; its first column is the patch's 3-D point id.
* ``m50_100000_100000_0.txt`` — the test pairs, one per line: ``patch1 point1 _ patch2 point2 _``;
  a pair matches when the two point ids are equal (50,000 matching and 50,000 non-matching in the
  real files).

We read it ourselves rather than through ``torchvision.datasets.PhotoTour``, with the same reading
logic (``read_image_file``, ``read_info_file``, ``read_matches_files`` in torchvision's
``datasets/phototour.py``, which a test holds equal to this reader on a generated layout), because
that class needs the subset name in its table of sizes (``lens``, the real counts, by which it cuts
the patch list), and writes a ``<name>.pt`` cache into the data root on first use. Differences
from it: the patch count is the number of lines of ``info.txt``, and the layout is checked (tile
count and size, pair indices in range, the pairs' point ids equal to ``info.txt``'s) with a
one-line error naming the file and the expected layout.

``resize_patches`` gives the 32×32 input of L2-Net the way HardNet makes it (cv2 ``INTER_LINEAR``
on the uint8 patch, i.e. bilinear with half-pixel centres and no antialiasing, rounded to uint8);
for Brown's exact 64 → 32 that is the mean of each 2×2 block, rounded half up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import torch
from PIL import Image

from dmlrepro.errors import UserError

PHOTOTOUR_SUBSETS: Final[tuple[str, ...]] = ("liberty", "notredame", "yosemite")
#: Patch counts of the real subsets (torchvision's ``PhotoTour.lens``), for information only.
PHOTOTOUR_SIZES: Final[dict[str, int]] = {"liberty": 450_092, "notredame": 468_159, "yosemite": 633_587}
PATCH_SIZE: Final[int] = 64
TILE_SIZE: Final[int] = 1024
PATCHES_PER_ROW: Final[int] = TILE_SIZE // PATCH_SIZE
PATCHES_PER_TILE: Final[int] = PATCHES_PER_ROW**2
INFO_FILE: Final[str] = "info.txt"
MATCHES_FILE: Final[str] = "m50_100000_100000_0.txt"
TILE_GLOB: Final[str] = "patches*.bmp"
LAYOUT: Final[str] = (f"<root>/<name>/{TILE_GLOB} ({TILE_SIZE}x{TILE_SIZE} tiles of {PATCHES_PER_TILE} "
                      f"{PATCH_SIZE}x{PATCH_SIZE} patches, row-major), {INFO_FILE} (3-D point id per patch) "
                      f"and {MATCHES_FILE} (patch1 point1 _ patch2 point2 _)")


class PhotoTourLayoutError(UserError):
    """A PhotoTour subset folder without the expected layout; the message names the path."""


@dataclass(frozen=True)
class PhotoTourSubset:
    """One Brown subset: ``patches`` uint8 ``[N, S, S]`` (S = 64, or the size read at), ``labels``
    int64 ``[N]`` 3-D point ids, ``matches`` int64 ``[M, 3]`` rows ``(patch1, patch2, is_match)``."""

    name: str
    patches: np.ndarray
    labels: np.ndarray
    matches: np.ndarray

    def __len__(self) -> int:
        return self.labels.shape[0]

    def summary(self) -> str:
        positives = int(self.matches[:, 2].sum())
        return (f"{self.name}: {len(self)} patches of {len(np.unique(self.labels))} 3-D points, "
                f"{self.matches.shape[0]} test pairs ({positives} matching)")


def subset_dir(root: str | Path, name: str) -> Path:
    return Path(root).expanduser() / name


def read_labels(path: Path) -> np.ndarray:
    """Column 0 of ``info.txt`` (blank lines ignored)."""
    if not path.is_file():
        raise PhotoTourLayoutError(f"{path} not found; expected {LAYOUT}")
    labels = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                labels.append(int(fields[0]))
            except ValueError:
                raise PhotoTourLayoutError(f"{path}:{number}: {fields[0]!r} is not a 3-D point id; "
                                           f"expected one patch per line, point id first") from None
    if not labels:
        raise PhotoTourLayoutError(f"{path} lists no patches; expected {LAYOUT}")
    return np.asarray(labels, dtype=np.int64)


def read_matches(path: Path, labels: np.ndarray) -> np.ndarray:
    """``[M, 3]`` ``(patch1, patch2, point1 == point2)``, checked against ``labels``."""
    if not path.is_file():
        raise PhotoTourLayoutError(f"{path} not found; expected {LAYOUT}")
    rows = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                patch1, point1, patch2, point2 = (int(fields[k]) for k in (0, 1, 3, 4))
            except (ValueError, IndexError):
                raise PhotoTourLayoutError(f"{path}:{number}: expected 'patch1 point1 _ patch2 point2 _' "
                                           f"(six integers), got {line.strip()!r}") from None
            for patch, point in ((patch1, point1), (patch2, point2)):
                if not 0 <= patch < labels.size:
                    raise PhotoTourLayoutError(f"{path}:{number}: patch index {patch} is out of range; "
                                               f"{INFO_FILE} lists {labels.size} patches (0..{labels.size - 1})")
                if labels[patch] != point:
                    raise PhotoTourLayoutError(f"{path}:{number}: patch {patch} has point id {labels[patch]} "
                                               f"in {INFO_FILE}, not {point}: the pairs file is from another subset")
            rows.append((patch1, patch2, int(point1 == point2)))
    if not rows:
        raise PhotoTourLayoutError(f"{path} lists no pairs; expected {LAYOUT}")
    return np.asarray(rows, dtype=np.int64)


def tile_paths(folder: Path, num_patches: int) -> list[Path]:
    """The tiles in sorted name order (torchvision sorts its file list), checked in number."""
    tiles = sorted(folder.glob(TILE_GLOB), key=lambda p: str(p))
    expected = math.ceil(num_patches / PATCHES_PER_TILE)
    if len(tiles) != expected:
        raise PhotoTourLayoutError(
            f"{folder}: {len(tiles)} {TILE_GLOB} tiles for the {num_patches} patches of {INFO_FILE}, expected "
            f"{expected} ({PATCHES_PER_TILE} patches of {PATCH_SIZE}x{PATCH_SIZE} per {TILE_SIZE}x{TILE_SIZE} tile)")
    return tiles


def tile_patches(path: Path) -> np.ndarray:
    """The 256 patches of one tile, ``[256, 64, 64]`` uint8, row-major."""
    try:
        with Image.open(path) as image:
            if image.size != (TILE_SIZE, TILE_SIZE):
                raise PhotoTourLayoutError(f"{path} is {image.size[0]}x{image.size[1]}; expected a "
                                           f"{TILE_SIZE}x{TILE_SIZE} grey tile of {PATCH_SIZE}x{PATCH_SIZE} patches")
            pixels = np.asarray(image.convert("L"), dtype=np.uint8)
    except (OSError, SyntaxError) as error:
        raise PhotoTourLayoutError(f"{path} is not a readable image ({error}); expected a "
                                   f"{TILE_SIZE}x{TILE_SIZE} grey bmp tile") from None
    grid = pixels.reshape(PATCHES_PER_ROW, PATCH_SIZE, PATCHES_PER_ROW, PATCH_SIZE)
    return grid.transpose(0, 2, 1, 3).reshape(PATCHES_PER_TILE, PATCH_SIZE, PATCH_SIZE)


def read_phototour(root: str | Path, name: str, size: int = PATCH_SIZE) -> PhotoTourSubset:
    """Read subset ``name`` from ``<root>/<name>/``; ``size`` resizes every patch (HardNet: 32)."""
    folder = subset_dir(root, name)
    if not folder.is_dir():
        raise PhotoTourLayoutError(f"PhotoTour subset folder {folder} not found; expected {LAYOUT}")
    labels = read_labels(folder / INFO_FILE)
    tiles = tile_paths(folder, labels.size)
    matches = read_matches(folder / MATCHES_FILE, labels)
    patches = np.empty((labels.size, size, size), dtype=np.uint8)
    for number, path in enumerate(tiles):
        start = number * PATCHES_PER_TILE
        stop = min(start + PATCHES_PER_TILE, labels.size)
        block = tile_patches(path)[: stop - start]
        patches[start:stop] = block if size == PATCH_SIZE else resize_patches(block, size)
    return PhotoTourSubset(name, patches, labels, matches)


def resize_patches(patches: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[N, H, W]`` → uint8 ``[N, size, size]``: bilinear, half-pixel centres, no antialias
    (cv2 ``INTER_LINEAR``'s geometry), rounded half up. 64 → 32 is the 2×2 block mean."""
    if patches.shape[1:] == (size, size):
        return patches.copy()
    x = torch.from_numpy(np.require(patches, requirements=("C", "W"))).to(torch.float32)[:, None]
    y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return torch.floor(y[:, 0] + 0.5).clamp_(0, 255).to(torch.uint8).numpy()
