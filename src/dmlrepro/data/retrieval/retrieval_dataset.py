"""The class-split image-retrieval data contract, after pytorch-metric-learning's
``datasets/`` and Proxy-Anchor's ``code/dataset/`` classes.

The four benchmarks of Multi-Head DML (003_72cd4b33cee60b89.txt, Sec. 4.1) — CUB-200-2011,
Cars-196, Stanford Online Products and In-Shop — are each a training set and a test set of
*disjoint classes*. Every dataset here is lists of ``(img_path, label)``:

* ``train``: labels relabelled to ``0..num_train_classes-1`` in original class-id order, because
  proxies and classifier rows index them; ``train_class_ids[label]`` is the original id.
* ``test``: original class ids, because evaluation only compares labels for equality and the
  original ids make reports readable.
* In-Shop also has ``query`` and ``gallery`` (original item ids; ``test`` is the two together);
  it is ranked query against gallery, the others test against test with the query removed from
  its own reference set (data-and-metrics.md, "Metrics").

:meth:`RetrievalDataset.retrieval_sets` says which protocol a dataset uses;
:meth:`RetrievalDataset.classes_without_positive` reports the queries that have no correct item
to find, which the field excludes from Recall@K and which a report should count.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from dmlrepro.data.folder_layout import FolderLayout
from dmlrepro.data.reid_dataset import DatasetLayoutError

Item = tuple[str, int]
"""``(img_path, label)``."""

SYNTHETIC_MARKER = "DATASET_COMPLETE"
"""The file the embedded generator writes last into a dataset folder (shared with the re-ID
generator, ``dmlrepro.data.synthetic``), so that results can say the data was synthetic."""


class RetrievalLayoutError(DatasetLayoutError):
    """A retrieval dataset folder without the expected layout; the one-line message names the
    offending path, the expected layout and the fix."""


@dataclass(frozen=True)
class RetrievalLayout(FolderLayout):
    """Where a dataset lives under a data root and what it must hold (`FolderLayout`)."""

    generator_module: ClassVar[str] = "dmlrepro.data.retrieval.synthetic_retrieval"
    error_type: ClassVar[type[DatasetLayoutError]] = RetrievalLayoutError


@dataclass(frozen=True)
class RetrievalDataset:
    """A loaded class-split retrieval dataset (003_72cd4b33cee60b89.txt, Sec. 4.1).

    ``root`` is the resolved dataset folder. ``query``/``gallery`` are set for In-Shop only.
    ``holdout`` describes the validation hold-out when one was taken (see ``holdout.py``), in
    which case ``test`` is the held-out validation set, ranked against itself.
    ``synthetic`` is the generator's marker when the embedded generator wrote the data.
    """

    name: str
    root: Path
    train: list[Item] = field(repr=False)
    train_class_ids: tuple[int, ...] = field(repr=False)
    test: list[Item] = field(repr=False)
    query: list[Item] | None = field(default=None, repr=False)
    gallery: list[Item] | None = field(default=None, repr=False)
    holdout: dict | None = None
    synthetic: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        labels = {label for _, label in self.train}
        if labels != set(range(len(labels))):
            raise ValueError(f"{self.name}: train labels must be relabelled to 0..{len(labels) - 1}")
        ids = tuple(self.train_class_ids)
        if len(ids) != len(labels) or list(ids) != sorted(set(ids)):
            raise ValueError(f"{self.name}: train_class_ids must list the {len(labels)} original "
                             "train class ids, sorted and unique")
        if (self.query is None) != (self.gallery is None):
            raise ValueError(f"{self.name}: query and gallery come together")
        if self.query is not None and sorted(self.test) != sorted(self.query + self.gallery):
            raise ValueError(f"{self.name}: test must be query + gallery")

    @property
    def num_train_classes(self) -> int:
        return len(self.train_class_ids)

    @property
    def num_test_classes(self) -> int:
        return len({label for _, label in self.test})

    @property
    def protocol(self) -> str:
        """``"query_gallery"`` (In-Shop) or ``"self"`` (test against test, query excluded)."""
        return "self" if self.query is None else "query_gallery"

    def retrieval_sets(self) -> tuple[list[Item], list[Item], bool]:
        """``(queries, references, exclude_self)`` for Recall@K: In-Shop ranks the query set
        against the gallery; the others rank the test set against itself, each query removed
        from its own reference set."""
        if self.query is None:
            return self.test, self.test, True
        return self.query, self.gallery, False

    def classes_without_positive(self) -> NoPositive:
        """The classes whose queries have no correct item to retrieve under this dataset's
        protocol (a single test image of its class; an In-Shop item with no gallery image)."""
        queries, references, exclude_self = self.retrieval_sets()
        return classes_without_positive(queries, references, exclude_self)

    def summary(self) -> str:
        """One line: classes and images per split, the protocol, and where the data came from."""
        parts = [f"{self.name} ({self.root}): train {self.num_train_classes} classes / "
                 f"{len(self.train)} images"]
        if self.query is None:
            split = "validation" if self.holdout else "test"
            parts.append(f"{split} {self.num_test_classes} classes / {len(self.test)} images")
        else:
            parts.append(f"query {_num_classes(self.query)} classes / {len(self.query)} images")
            parts.append(f"gallery {_num_classes(self.gallery)} classes / {len(self.gallery)} images")
        missing = self.classes_without_positive()
        if missing.class_ids:
            parts.append(f"{len(missing.query_indices)} queries of {len(missing.class_ids)} classes "
                         "have no positive (excluded from Recall@K)")
        if self.holdout:
            parts.append(f"hold-out {self.holdout['fraction']:g} by {self.holdout['by']} "
                         f"(seed {self.holdout['seed']})")
        if self.synthetic:
            parts.append(f"synthetic data (generator v{self.synthetic.get('version')}, "
                         f"seed {self.synthetic.get('seed')})")
        return "; ".join(parts)


@dataclass(frozen=True)
class NoPositive:
    """Queries that have no correct reference item: their class ids (sorted) and their indices
    into the query list. The field's Recall@K excludes them; report how many."""

    class_ids: tuple[int, ...]
    query_indices: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.query_indices)


def classes_without_positive(queries: Sequence[Item], references: Sequence[Item],
                             exclude_self: bool) -> NoPositive:
    """Which queries have no reference item of their label. With ``exclude_self`` the queries are
    the references and each query is removed from its own reference set, so a class with one
    image has no positive."""
    counts = Counter(label for _, label in references)
    needed = 2 if exclude_self else 1
    indices = tuple(i for i, (_, label) in enumerate(queries) if counts[label] < needed)
    return NoPositive(tuple(sorted({queries[i][1] for i in indices})), indices)


def relabel(items: Iterable[tuple[str, int]]) -> tuple[list[Item], tuple[int, ...]]:
    """Training items with labels ``0..C-1`` in original-id order, and the original ids."""
    items = list(items)
    ids = tuple(sorted({label for _, label in items}))
    index = {class_id: i for i, class_id in enumerate(ids)}
    return [(path, index[label]) for path, label in items], ids


def resolve_dataset_dir(layout: RetrievalLayout, root: str | Path) -> tuple[Path, Path]:
    """``(data root, dataset folder)``: the first of ``layout.subdirs`` under ``root`` holding
    any required entry; all must then be there, so that a half-extracted archive is reported
    rather than skipped."""
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
                layout.fail(root, candidate / entry.rstrip("/"), f"missing {_kind(entry)}")
        return root, candidate
    layout.fail(root, root, f"no {layout.name} dataset found", layout.generate_hint(root))


def read_table(layout: RetrievalLayout, root: Path, path: Path, columns: Sequence[str],
               skip: int = 0) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of every non-blank line of a whitespace-separated text file
    after the first ``skip`` lines; a line without exactly ``len(columns)`` fields is an error
    that names the file, the line and the expected columns."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        layout.fail(root, path, "not a UTF-8 text file")
    rows = []
    for number, line in enumerate(lines[skip:], start=skip + 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(columns):
            layout.fail(root, f"{path}:{number}",
                        f"line has {len(fields)} fields where '{' '.join(columns)}' has {len(columns)} "
                        f"({_clip(line)!r})")
        rows.append((number, fields))
    if not rows:
        layout.fail(root, path, f"file has no '{' '.join(columns)}' lines")
    return rows


def parse_int(layout: RetrievalLayout, root: Path, where: str, column: str, text: str,
              low: int = 1, high: int | None = None) -> int:
    """``text`` as an integer in ``low..high``; otherwise the one-line error naming ``where``."""
    try:
        value = int(text)
    except ValueError:
        layout.fail(root, where, f"{column} {_clip(text)!r} is not an integer")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        layout.fail(root, where, f"{column} {value} is out of range {bound}")
    return value


def check_images_exist(layout: RetrievalLayout, root: Path, items: Iterable[Item], listed_in: Path) -> None:
    """Every listed image is a file: a missing one is reported at load, not mid-training."""
    missing = [path for path, _ in items if not Path(path).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        layout.fail(root, missing[0], f"image listed in {listed_in.name} does not exist{more}")


def read_synthetic_marker(dataset_dir: Path) -> dict | None:
    """The embedded generator's marker of ``dataset_dir``, or None for real data."""
    try:
        marker = json.loads((dataset_dir / SYNTHETIC_MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return marker if isinstance(marker, dict) else None


def _num_classes(items: Sequence[Item] | None) -> int:
    return len({label for _, label in items or ()})


def _exists(path: Path, entry: str) -> bool:
    return path.is_dir() if entry.endswith("/") else path.is_file()


def _kind(entry: str) -> str:
    return "folder" if entry.endswith("/") else "file"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
