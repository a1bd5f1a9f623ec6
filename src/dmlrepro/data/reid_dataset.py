"""The re-ID data contract, after torchreid's ``torchreid/data/datasets``.

Every dataset is three lists of ``(img_path, pid, camid)``: ``train`` (pids relabelled to
0..num_train_pids-1, because the classifier heads index them), ``query`` and ``gallery`` (original
pids, because evaluation only compares them for equality; camids are kept because the
Market-1501 protocol drops same-pid-same-camera gallery images, implementation-facts.md §8).
Camera ids are 0-based everywhere.

The three datasets of the CSALR paper (000_6bea8c3e96cdf0f5.txt, Sec. 4.1) — Market-1501,
DukeMTMC-reID and CUHK03-NP — share one on-disk convention: a dataset folder holding
``bounding_box_train``, ``query`` and ``bounding_box_test``, whose file names start with
``<pid>_c<camera>``. :func:`load_reid_dataset` reads any of them from a :class:`DatasetLayout`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from dmlrepro.errors import UserError

Item = tuple[str, int, int]
"""``(img_path, pid, camid)``."""

SPLIT_FOLDERS: dict[str, str] = {
    "train": "bounding_box_train",
    "query": "query",
    "gallery": "bounding_box_test",
}
JUNK_PID = -1
"""Market-1501 marks partial or bad detections with pid -1; torchreid drops them at load."""


class DatasetLayoutError(UserError):
    """A dataset folder that does not have the expected layout; the one-line message names the
    offending path, the expected layout, and how to fix it."""


@dataclass(frozen=True)
class DatasetLayout:
    """Where a dataset's three split folders live under a data root, and how files are named.

    ``subdirs`` are the places, relative to the data root and preferred first, where the split
    folders may be; ``"."`` means the root itself (the dataset folder given directly).
    ``subdirs[0]`` is the canonical one, which the synthetic generator writes.
    ``pattern`` is matched against the file stem; its groups 1 and 2 are the pid and the 1-based
    camera.
    """

    name: str
    subdirs: tuple[str, ...]
    extension: str
    num_cams: int
    naming: str
    pattern: re.Pattern[str]
    extra_hint: str = ""

    @property
    def canonical_subdir(self) -> str:
        return self.subdirs[0]

    def expected(self) -> str:
        """The expected layout, in words, for error messages."""
        splits = "{" + ",".join(SPLIT_FOLDERS.values()) + "}"
        others = [f"<root>/{d}" for d in self.subdirs[1:] if d != "."]
        if "." in self.subdirs:
            others.append("directly in <root>")
        text = f"<root>/{self.canonical_subdir}/{splits}"
        if others:
            text += " (or those three folders in " + ", ".join(others[:-1])
            text += (", or " if len(others) > 1 else "") + others[-1] + ")"
        return f"{text}, with files named {self.naming}"

    def generate_hint(self, root: Path) -> str:
        return (
            f"run `python -m dmlrepro.data.synthetic --variant {self.name} --out {root}` "
            "to generate the embedded data"
        )


@dataclass(frozen=True)
class ReIDDataset:
    """A loaded re-ID dataset: ``train``/``query``/``gallery`` lists of ``(img_path, pid, camid)``.

    ``root`` is the resolved dataset folder (the one holding the three split folders).
    """

    name: str
    root: Path
    train: list[Item] = field(repr=False)
    query: list[Item] = field(repr=False)
    gallery: list[Item] = field(repr=False)

    def __post_init__(self) -> None:
        pids = {pid for _, pid, _ in self.train}
        if pids != set(range(len(pids))):
            raise ValueError(f"{self.name}: train pids must be relabelled to 0..{len(pids) - 1}")

    @property
    def num_train_pids(self) -> int:
        return len({pid for _, pid, _ in self.train})

    @property
    def num_train_cams(self) -> int:
        return len({camid for _, _, camid in self.train})

    def summary(self) -> str:
        """A small table of ids, images and cameras per split, like torchreid's."""
        lines = [f"{self.name} ({self.root})", "  subset  |  ids | images | cameras"]
        for split in ("train", "query", "gallery"):
            items: list[Item] = getattr(self, split)
            pids = len({pid for _, pid, _ in items})
            cams = len({camid for _, _, camid in items})
            lines.append(f"  {split:<7} | {pids:4d} | {len(items):6d} | {cams:7d}")
        return "\n".join(lines)


def load_reid_dataset(layout: DatasetLayout, root: str | Path) -> ReIDDataset:
    """Read the dataset described by ``layout`` from the data root ``root``."""
    root = Path(root).expanduser()
    dataset_dir = resolve_dataset_dir(layout, root)
    splits = {
        split: parse_split(layout, dataset_dir / folder, root, relabel=(split == "train"))
        for split, folder in SPLIT_FOLDERS.items()
    }
    return ReIDDataset(layout.name, dataset_dir, **splits)


def resolve_dataset_dir(layout: DatasetLayout, root: Path) -> Path:
    """The first of ``layout.subdirs`` under ``root`` that holds any split folder; all three
    must then be there, so that a half-extracted archive is reported rather than skipped."""
    if not root.is_dir():
        _fail(layout, root, root, "data root does not exist", layout.generate_hint(root))
    for subdir in layout.subdirs:
        candidate = root if subdir == "." else root / subdir
        present = [name for name in SPLIT_FOLDERS.values() if (candidate / name).is_dir()]
        if not present:
            continue
        for name in SPLIT_FOLDERS.values():
            if name not in present:
                fix = "re-extract the dataset archive or " + layout.generate_hint(root)
                _fail(layout, root, candidate / name, "missing split folder", fix)
        return candidate
    fix = layout.extra_hint + layout.generate_hint(root)
    _fail(layout, root, root, f"no {layout.name} split folders found", fix)


def parse_split(layout: DatasetLayout, folder: Path, root: Path, relabel: bool) -> list[Item]:
    """``(path, pid, camid)`` for every image in ``folder``, sorted by path; junk (pid -1)
    dropped; pids relabelled to 0..n-1 in pid order when ``relabel``."""
    items = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() != layout.extension or not path.is_file():
            continue  # e.g. Thumbs.db, readme files
        pid, camid = _parse_name(layout, path, root)
        if pid != JUNK_PID:
            items.append((str(path), pid, camid))
    if not items:
        problem = f"split folder has no {layout.extension} images (junk excluded)"
        fix = "re-extract the dataset archive or " + layout.generate_hint(root)
        _fail(layout, root, folder, problem, fix)
    if relabel:
        label = {pid: i for i, pid in enumerate(sorted({pid for _, pid, _ in items}))}
        items = [(path, label[pid], camid) for path, pid, camid in items]
    return items


def _parse_name(layout: DatasetLayout, path: Path, root: Path) -> tuple[int, int]:
    match = layout.pattern.fullmatch(path.stem)
    camera = int(match.group(2)) if match else 0
    if match is None or not 1 <= camera <= layout.num_cams:
        problem = f"image name does not match {layout.naming} with camera 1..{layout.num_cams}"
        fix = "rename or remove it, or " + layout.generate_hint(root)
        _fail(layout, root, path, problem, fix)
    return int(match.group(1)), camera - 1


def _fail(layout: DatasetLayout, root: Path, path: Path, problem: str, fix: str) -> NoReturn:
    message = f"{layout.name}: {problem}: {path}; expected {layout.expected()}; {fix}"
    raise DatasetLayoutError(message.replace("\n", "\\n"))
