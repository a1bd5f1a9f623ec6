"""HPatches in the release layout, its splits, and the task lists of Table 8's protocol
(001_5fbd5da13318fd56.txt, "Datasets": "Hpatches dataset (Balntas et al. 2017) consists of 116
sequences of 6 images ... We use the models trained on Liberty subset of Brown dataset and test
their generalization performance on Hpatches dataset").

Release layout (``hpatches/hpatches-benchmark`` ``python/utils/hpatch.py``, ``hpatch_sequence``;
read, not copied): ``hpatches-release/<seq>/{ref,e1..e5,h1..h5,t1..t5}.png``, each png a vertical
stack of N 65×65 grey patches (height 65·N), the same N in all 16 images of a sequence, row k the
same scene point; ``<seq>`` is ``i_*`` (illumination changes) or ``v_*`` (viewpoint changes).
``e/h/t`` are the easy, hard and tough geometric noise levels of the detections.

Task lists (the benchmark's ``tasks/`` folder): ``splits/splits.json`` (split name → ``test`` and,
for a/b/c, ``train`` sequences), and per split ``X``: ``verif_pos_split-X.csv``,
``verif_neg_intra_split-X.csv``, ``verif_neg_inter_split-X.csv`` (header ``s1,t1,idx1,s2,t2,idx2``,
t the image id 0..5 with 0 = ref) and ``retr_queries_split-X.csv``, ``retr_distractors_split-X.csv``
(header ``s,idx``, ref patches). ``read_hpatches_tasks`` reads them; ``generate_hpatches_tasks``
draws new ones the way the benchmark's ``gen_verif`` / ``gen_retrieval`` drew them (its own seed,
so not the same pairs), which is what the synthetic stand-in writes:

* positives: a test sequence uniformly, two different patch indices (the first used at both ends),
  two different image ids among 0..4 (the benchmark never draws 5); intra-sequence negatives: the
  same sequences, both indices, the same image ids; inter-sequence negatives: the positive's first
  end and a uniformly drawn test sequence and patch — which can be the same sequence (a benchmark
  quirk, kept);
* retrieval: 4× the queries and 10× the distractors as candidate ``ref`` patches, those with pixel
  std > 10 kept, duplicates dropped, distractors that are queries dropped, then the first
  ``num_queries`` / ``num_distractors``.

Split used for Table 8: ``full`` (all sequences are test data), our reading for descriptors
trained on Liberty, which never see HPatches; the HPatches article's figures use it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

from dmlrepro.errors import UserError
from dmlrepro.evaluation.hpatches_protocol import HPATCHES_IMAGES, PatchPairs, RetrievalTask, VerificationTask

HPATCHES_PATCH: Final[int] = 65
HPATCHES_SPLITS: Final[tuple[str, ...]] = ("a", "b", "c", "illum", "view", "full")
TABLE8_SPLIT: Final[str] = "full"
LAYOUT: Final[str] = (f"hpatches-release/<seq>/{{{','.join(HPATCHES_IMAGES)}}}.png, each a vertical stack "
                      f"of {HPATCHES_PATCH}x{HPATCHES_PATCH} grey patches, <seq> i_* or v_*")
VERIFICATION_FILES: Final[dict[str, str]] = {
    "positives": "verif_pos_split-{split}.csv",
    "intra": "verif_neg_intra_split-{split}.csv",
    "inter": "verif_neg_inter_split-{split}.csv",
}
RETRIEVAL_FILES: Final[dict[str, str]] = {
    "queries": "retr_queries_split-{split}.csv",
    "distractors": "retr_distractors_split-{split}.csv",
}
SPLITS_FILE: Final[str] = "splits/splits.json"
PAIR_HEADER: Final[tuple[str, ...]] = ("s1", "t1", "idx1", "s2", "t2", "idx2")
PATCH_HEADER: Final[tuple[str, ...]] = ("s", "idx")


class HPatchesLayoutError(UserError):
    """An HPatches folder or task file without the expected layout; the message names the path."""


class HPatchesRelease:
    """The sequences of an ``hpatches-release`` folder, checked on opening (image headers only) and
    read one sequence at a time (the whole release is 12 GB of pixels)."""

    def __init__(self, release_dir: str | Path) -> None:
        self.root = Path(release_dir).expanduser()
        if not self.root.is_dir():
            raise HPatchesLayoutError(f"HPatches release folder {self.root} not found; expected {LAYOUT}")
        self.sizes: dict[str, int] = {}
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            self.sizes[folder.name] = _sequence_size(folder)
        if not self.sizes:
            raise HPatchesLayoutError(f"{self.root} holds no sequence folders; expected {LAYOUT}")

    @property
    def sequences(self) -> list[str]:
        return list(self.sizes)

    def load(self, seq: str) -> dict[str, np.ndarray]:
        """``{image: uint8 [N, 65, 65]}`` for the 16 images of ``seq``."""
        if seq not in self.sizes:
            raise HPatchesLayoutError(f"{self.root} has no sequence {seq!r}")
        out = {}
        for image in HPATCHES_IMAGES:
            path = self.root / seq / f"{image}.png"
            with Image.open(path) as handle:
                pixels = np.array(handle.convert("L"), dtype=np.uint8)
            out[image] = pixels.reshape(-1, HPATCHES_PATCH, HPATCHES_PATCH)
        return out

    def __iter__(self) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for seq in self.sequences:
            yield seq, self.load(seq)

    def summary(self) -> str:
        kinds = {k: sum(s.startswith(k) for s in self.sizes) for k in ("i_", "v_")}
        return (f"HPatches {self.root}: {len(self.sizes)} sequences ({kinds['i_']} illumination, "
                f"{kinds['v_']} viewpoint), {sum(self.sizes.values())} patches per image type")


def _sequence_size(folder: Path) -> int:
    if folder.name[:2] not in ("i_", "v_"):
        raise HPatchesLayoutError(f"{folder}: sequence names start with i_ (illumination) or v_ (viewpoint); "
                                  f"expected {LAYOUT}")
    size = None
    for image in HPATCHES_IMAGES:
        path = folder / f"{image}.png"
        if not path.is_file():
            raise HPatchesLayoutError(f"{path} is missing; every sequence has {', '.join(HPATCHES_IMAGES)} (.png)")
        try:
            with Image.open(path) as handle:
                width, height = handle.size
        except (OSError, SyntaxError) as error:
            raise HPatchesLayoutError(f"{path} is not a readable png ({error}); expected {LAYOUT}") from None
        if width != HPATCHES_PATCH or height % HPATCHES_PATCH or height == 0:
            raise HPatchesLayoutError(f"{path} is {width}x{height}; expected a vertical stack of "
                                      f"{HPATCHES_PATCH}x{HPATCHES_PATCH} patches ({HPATCHES_PATCH} wide, a multiple of it high)")
        if size is None:
            size = height // HPATCHES_PATCH
        elif height // HPATCHES_PATCH != size:
            raise HPatchesLayoutError(f"{path} holds {height // HPATCHES_PATCH} patches but ref.png holds {size}; "
                                      f"all 16 images of a sequence hold the same patches")
    return size


# ---------------------------------------------------------------------------------------------
# Splits and task files.


def read_splits(tasks_dir: str | Path) -> dict[str, dict]:
    path = Path(tasks_dir).expanduser() / SPLITS_FILE
    if not path.is_file():
        raise HPatchesLayoutError(f"{path} not found; expected the benchmark's tasks/{SPLITS_FILE}")
    try:
        splits = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise HPatchesLayoutError(f"{path} is not valid json ({error.msg} at line {error.lineno})") from None
    if not isinstance(splits, dict) or not all(isinstance(v, dict) and isinstance(v.get("test"), list)
                                               for v in splits.values()):
        raise HPatchesLayoutError(f"{path}: expected {{split: {{'name': ..., 'test': [sequences], ...}}}}")
    return splits


def split_sequences(release: HPatchesRelease, split: str, tasks_dir: str | Path | None = None) -> list[str]:
    """The test sequences of ``split``: ``full`` is every sequence of the release; the others come
    from ``tasks_dir/splits/splits.json`` and must all be in the release."""
    if split == "full" and tasks_dir is None:
        return release.sequences
    if tasks_dir is None:
        raise UserError(f"split {split!r} needs the benchmark's tasks folder (its {SPLITS_FILE}); set the tasks dir")
    splits = read_splits(tasks_dir)
    if split not in splits:
        raise UserError(f"split {split!r} is not in {Path(tasks_dir) / SPLITS_FILE}; it has {', '.join(sorted(splits))}")
    missing = sorted(set(splits[split]["test"]) - set(release.sequences))
    if missing:
        raise HPatchesLayoutError(f"split {split!r} names sequences not in {release.root}: "
                                  f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return list(splits[split]["test"])


def _read_csv(path: Path, header: tuple[str, ...]) -> list[list[str]]:
    if not path.is_file():
        raise HPatchesLayoutError(f"{path} not found; expected the benchmark's task file with header {','.join(header)}")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(c.strip() for c in rows[0]) != header:
        raise HPatchesLayoutError(f"{path}: expected the header {','.join(header)}")
    return rows[1:]


def _check_patch(path: Path, line: int, seq: str, idx: int, sizes: Mapping[str, int]) -> None:
    if seq not in sizes:
        raise HPatchesLayoutError(f"{path}:{line}: sequence {seq!r} is not in the release")
    if not 0 <= idx < sizes[seq]:
        raise HPatchesLayoutError(f"{path}:{line}: patch index {idx} is out of range; {seq} has "
                                  f"{sizes[seq]} patches (0..{sizes[seq] - 1})")


def read_pairs(path: Path, sizes: Mapping[str, int]) -> PatchPairs:
    columns: list[list] = [[] for _ in PAIR_HEADER]
    for line, row in enumerate(_read_csv(path, PAIR_HEADER), start=2):
        try:
            s1, t1, i1, s2, t2, i2 = row[0], int(row[1]), int(row[2]), row[3], int(row[4]), int(row[5])
        except (ValueError, IndexError):
            raise HPatchesLayoutError(f"{path}:{line}: expected s1,t1,idx1,s2,t2,idx2, got {','.join(row)!r}") from None
        for seq, image, idx in ((s1, t1, i1), (s2, t2, i2)):
            if not 0 <= image <= 5:
                raise HPatchesLayoutError(f"{path}:{line}: image id {image} is not 0 (ref) to 5")
            _check_patch(path, line, seq, idx, sizes)
        for column, value in zip(columns, (s1, t1, i1, s2, t2, i2)):
            column.append(value)
    if not columns[0]:
        raise HPatchesLayoutError(f"{path} lists no pairs")
    return PatchPairs(tuple(columns[0]), np.asarray(columns[1]), np.asarray(columns[2]),
                      tuple(columns[3]), np.asarray(columns[4]), np.asarray(columns[5]))


def read_patch_list(path: Path, sizes: Mapping[str, int]) -> tuple[tuple[str, ...], np.ndarray]:
    seqs, idx = [], []
    for line, row in enumerate(_read_csv(path, PATCH_HEADER), start=2):
        try:
            seq, index = row[0], int(row[1])
        except (ValueError, IndexError):
            raise HPatchesLayoutError(f"{path}:{line}: expected s,idx, got {','.join(row)!r}") from None
        _check_patch(path, line, seq, index, sizes)
        seqs.append(seq)
        idx.append(index)
    if not seqs:
        raise HPatchesLayoutError(f"{path} lists no patches")
    return tuple(seqs), np.asarray(idx)


def read_hpatches_tasks(tasks_dir: str | Path, split: str, release: HPatchesRelease
                        ) -> tuple[VerificationTask, RetrievalTask]:
    """The verification and retrieval task files of ``split``, checked against the release."""
    folder = Path(tasks_dir).expanduser()
    if not folder.is_dir():
        raise HPatchesLayoutError(f"HPatches tasks folder {folder} not found; expected the benchmark's tasks/")
    pairs = {key: read_pairs(folder / name.format(split=split), release.sizes) for key, name in VERIFICATION_FILES.items()}
    queries = read_patch_list(folder / RETRIEVAL_FILES["queries"].format(split=split), release.sizes)
    distractors = read_patch_list(folder / RETRIEVAL_FILES["distractors"].format(split=split), release.sizes)
    return VerificationTask(**pairs), RetrievalTask(*queries, *distractors)


# ---------------------------------------------------------------------------------------------
# Drawing task lists (the benchmark's gen_verif / gen_retrieval, with our own generator).


@dataclass(frozen=True)
class TaskSizes:
    """How many pairs and patches to draw (the benchmark's: 1 M pairs, 5,000 queries — its
    results say 10K — and 20,000 distractors)."""

    pairs: int = 1_000_000
    queries: int = 5_000
    distractors: int = 20_000


def generate_hpatches_tasks(sizes: Mapping[str, int], ref_std: Mapping[str, np.ndarray], test: Sequence[str],
                            counts: TaskSizes, seed: int = 42) -> tuple[VerificationTask, RetrievalTask]:
    """Draw a verification and a retrieval task over the ``test`` sequences; ``ref_std[seq]`` is
    the pixel std of each ``ref`` patch (the retrieval lists keep patches with std > 10)."""
    rng = np.random.default_rng(seed)
    test = list(test)
    if not test or any(sizes.get(s, 0) < 2 for s in test):
        raise UserError("HPatches tasks need test sequences of at least 2 patches each")
    n = counts.pairs
    seq = [test[k] for k in rng.integers(0, len(test), n)]
    lengths = np.array([sizes[s] for s in seq])
    first = rng.integers(0, lengths)
    second = rng.integers(0, lengths - 1)
    second = second + (second >= first)
    t1 = rng.integers(0, 5, n)
    t2 = rng.integers(0, 4, n)
    t2 = t2 + (t2 >= t1)
    other = [test[k] for k in rng.integers(0, len(test), n)]
    other_idx = rng.integers(0, np.array([sizes[s] for s in other]))
    seq = tuple(seq)
    verification = VerificationTask(
        positives=PatchPairs(seq, t1, first, seq, t2, first),
        intra=PatchPairs(seq, t1, first, seq, t2, second),
        inter=PatchPairs(seq, t1, first, tuple(other), t2, other_idx),
    )

    def candidates(count: int) -> list[tuple[str, int]]:
        picked = [test[k] for k in rng.integers(0, len(test), count)]
        idx = rng.integers(0, np.array([sizes[s] for s in picked]))
        kept, seen = [], set()
        for s, i in zip(picked, idx.tolist()):
            if ref_std[s][i] > 10 and (s, i) not in seen:
                seen.add((s, i))
                kept.append((s, i))
        return kept

    queries = candidates(4 * counts.queries)[: counts.queries]
    chosen = set(queries)
    distractors = [c for c in candidates(10 * counts.distractors) if c not in chosen][: counts.distractors]
    if not queries or not distractors:
        raise UserError("no HPatches ref patch has pixel std > 10: the retrieval task would be empty")
    retrieval = RetrievalTask(tuple(s for s, _ in queries), np.array([i for _, i in queries]),
                              tuple(s for s, _ in distractors), np.array([i for _, i in distractors]))
    return verification, retrieval


def write_hpatches_tasks(tasks_dir: str | Path, split: str, verification: VerificationTask, retrieval: RetrievalTask) -> None:
    """Write the five task files of ``split`` in the benchmark's csv format."""
    folder = Path(tasks_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in VERIFICATION_FILES.items():
        pairs: PatchPairs = getattr(verification, key)
        with open(folder / name.format(split=split), "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(PAIR_HEADER)
            writer.writerows(zip(pairs.seq1, pairs.image1.tolist(), pairs.idx1.tolist(),
                                 pairs.seq2, pairs.image2.tolist(), pairs.idx2.tolist()))
    for key, (seqs, idx) in {"queries": (retrieval.query_seq, retrieval.query_idx),
                             "distractors": (retrieval.distractor_seq, retrieval.distractor_idx)}.items():
        with open(folder / RETRIEVAL_FILES[key].format(split=split), "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(PATCH_HEADER)
            writer.writerows(zip(seqs, idx.tolist()))
