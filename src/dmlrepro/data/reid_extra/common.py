"""What the loaders of AiA-Net's additional datasets share (002_e585b7ac4801a221.txt, Sec. 5.1
and 5.5): a layout description whose failures are one-line errors naming the path and the fix,
the video dataset type (MARS), and readers for text lists, MATLAB v5 files and torchreid's split
json files.

Image datasets are :class:`dmlrepro.data.reid_dataset.ReIDDataset` (``(img_path, pid, camid)``,
train pids relabelled to 0..n-1 in pid order, camids 0-based). A video dataset holds tracklets,
``(frame_paths, pid, camid)`` with ``frame_paths`` a tuple of paths, the form torchreid's
``VideoDataset`` uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dmlrepro.data.folder_layout import FolderLayout
from dmlrepro.data.reid_dataset import DatasetLayoutError, Item

Tracklet = tuple[tuple[str, ...], int, int]
"""``(frame_paths, pid, camid)``."""

GENERATOR_MODULE = "dmlrepro.data.reid_extra.synthetic_extra"


class ExtraLayoutError(DatasetLayoutError):
    """A dataset folder without the expected layout; the one-line message names the offending
    path, the expected layout and the fix."""


@dataclass(frozen=True)
class ExtraLayout(FolderLayout):
    """Where a dataset lives under a data root and what it must hold (`FolderLayout`)."""

    generator_module: ClassVar[str] = GENERATOR_MODULE
    error_type: ClassVar[type[DatasetLayoutError]] = ExtraLayoutError


@dataclass(frozen=True)
class VideoReIDDataset:
    """A loaded video re-ID dataset: ``train``/``query``/``gallery`` lists of tracklets
    ``(frame_paths, pid, camid)``; train pids relabelled to 0..n-1 in pid order."""

    name: str
    root: Path
    train: list[Tracklet] = field(repr=False)
    query: list[Tracklet] = field(repr=False)
    gallery: list[Tracklet] = field(repr=False)

    def __post_init__(self) -> None:
        pids = {pid for _, pid, _ in self.train}
        if pids != set(range(len(pids))):
            raise ValueError(f"{self.name}: train pids must be relabelled to 0..{len(pids) - 1}")

    @property
    def num_train_pids(self) -> int:
        return len({pid for _, pid, _ in self.train})

    def summary(self) -> str:
        lines = [f"{self.name} ({self.root})", "  subset  |  ids | tracklets | frames | cameras"]
        for split in ("train", "query", "gallery"):
            items: list[Tracklet] = getattr(self, split)
            lines.append(f"  {split:<7} | {len({p for _, p, _ in items}):4d} | {len(items):9d} | "
                         f"{sum(len(t) for t, _, _ in items):6d} | {len({c for _, _, c in items}):7d}")
        return "\n".join(lines)


def resolve_dataset_dir(layout: ExtraLayout, root: str | Path) -> tuple[Path, Path]:
    """``(data root, dataset folder)``: the first of ``layout.subdirs`` under ``root`` holding
    any required entry; all must then be there, so a half-extracted archive is reported."""
    root = Path(root).expanduser()
    if not root.is_dir():
        layout.fail(root, root, "data root does not exist", layout.generate_hint(root))
    for subdir in layout.subdirs:
        candidate = root if subdir == "." else root / subdir
        present = [entry for entry in layout.required if _exists(candidate / entry, entry)]
        if not present:
            continue
        for entry in layout.required:
            if entry not in present:
                kind = "folder" if entry.endswith("/") else "file"
                layout.fail(root, candidate / entry.rstrip("/"), f"missing {kind}")
        return root, candidate
    layout.fail(root, root, f"no {layout.name} dataset found", layout.generate_hint(root))


def read_lines(layout: ExtraLayout, root: Path, path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped line)`` of every non-blank line of a UTF-8 text file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        layout.fail(root, path, "not a UTF-8 text file")
    rows = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        layout.fail(root, path, "file has no entries")
    return rows


def load_mat(layout: ExtraLayout, root: Path, path: Path, key: str) -> np.ndarray:
    """``key`` of a MATLAB v5 file (read by scipy, as torchreid does); one-line errors for an
    unreadable file or a missing key."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises MatReadError, ValueError, TypeError... on bad bytes
        layout.fail(root, path, f"not a readable MATLAB file ({type(error).__name__})")
    if key not in mat:
        keys = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        layout.fail(root, path, f"MATLAB file has no {key!r} variable (has: {keys})")
    return np.asarray(mat[key])


def integer_array(layout: ExtraLayout, root: Path, path: Path, key: str, values: np.ndarray) -> np.ndarray:
    """``values`` as int64; MATLAB stores integers as doubles, anything non-integral is an error."""
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        layout.fail(root, path, f"{key!r} must hold numbers, got {values.dtype}")
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values) & (values == np.round(values))):
        layout.fail(root, path, f"{key!r} must hold integers")
    return values.astype(np.int64)


def relabel(items: Iterable[tuple[Any, int, int]]) -> list:
    """Train items with pids 0..n-1 in original-pid order."""
    items = list(items)
    label = {pid: i for i, pid in enumerate(sorted({pid for _, pid, _ in items}))}
    return [(path, label[pid], camid) for path, pid, camid in items]


def check_files(layout: ExtraLayout, root: Path, paths: Iterable[str | Path], listed_in: Path | str) -> None:
    """Every path is a file: a missing one is reported at load, not mid-training."""
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        layout.fail(root, missing[0], f"image named in {Path(listed_in).name} does not exist{more}")


def read_torchreid_splits(layout: ExtraLayout, root: Path, path: Path, image_dir: Path,
                          split_id: int) -> dict[str, list[Item]]:
    """Split ``split_id`` of a torchreid split file (``splits.json`` of CUHK01,
    ``splits_classic_*.json`` of CUHK03): a json list of ``{"train", "query", "gallery": [[path,
    pid, camid], ...]}``. torchreid writes absolute paths of the machine that made it, so each
    image is looked up by file name in ``image_dir``; every one must exist."""
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        layout.fail(root, path, f"not a json split file ({type(error).__name__})")
    if not isinstance(splits, list) or not splits:
        layout.fail(root, path, "split file must be a non-empty json list of splits")
    if isinstance(split_id, bool) or not isinstance(split_id, int) or not 0 <= split_id < len(splits):
        layout.fail(root, path, f"split_id {split_id!r} is out of range 0..{len(splits) - 1} "
                                f"(the file has {len(splits)} splits)", f"choose a split_id in 0..{len(splits) - 1}")
    split = splits[split_id]
    out: dict[str, list[Item]] = {}
    for key in ("train", "query", "gallery"):
        if not isinstance(split, dict) or key not in split:
            layout.fail(root, path, f"split {split_id} has no {key!r} key")
        entries = split[key]
        if not isinstance(entries, list) or not entries:
            layout.fail(root, path, f"split {split_id} {key!r} must be a non-empty list")
        items = []
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in entry[1:])):
                layout.fail(root, path, f"split {split_id} {key!r} entry {_clip(entry)} is not "
                                        "[img_path, pid, camid]")
            items.append((str(image_dir / Path(entry[0]).name), entry[1], entry[2]))
        check_files(layout, root, (p for p, _, _ in items), path)
        out[key] = items
    return out


def _exists(path: Path, entry: str) -> bool:
    return path.is_dir() if entry.endswith("/") else path.is_file()


def _clip(value: object, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."
