"""Local descriptor learning (CSA, 001_5fbd5da13318fd56.txt, "Local Descriptor Learning", Tables
7-8): 32×32 patch descriptors trained on one Brown subset and evaluated with FPR95 on the other
two (Table 7) and with the HPatches verification / matching / retrieval mAP (Table 8, trained on
Liberty).  The datasets are here; the models in dmlrepro/families (L2-Net with the HardNet or
RAL-Net loss: families/l2net_descriptor.py).

Layouts under the run's ``data_root`` (or the embedded ``data/synthetic``):

* ``brown_liberty`` / ``brown_notredame`` / ``brown_yosemite``: ``<root>/<name>/`` in the
  PhotoTour layout torchvision reads (``<name>`` = liberty, notredame, yosemite;
  ``dmlrepro.data.patches.phototour``);
* ``hpatches``: ``<root>/hpatches-benchmark/`` as the benchmark repository lays it out after its
  download script: ``data/hpatches-release/<seq>/{ref,e1..e5,h1..h5,t1..t5}.png`` and the task
  lists ``tasks/`` (``splits/splits.json``, ``verif_*_split-<X>.csv``, ``retr_*_split-<X>.csv``;
  ``dmlrepro.data.patches.hpatches``).

Synthetic sizes from the scale's ``synthetic`` block (``train_ids``, ``test_ids``, as for the other
tasks' generators): a Brown subset gets ``BROWN_POINTS_PER_ID × train_ids`` 3-D points and
``BROWN_PAIRS_PER_ID × test_ids`` test pairs; HPatches ``max(2, test_ids // 8)`` sequences of
``test_ids`` points, ``HPATCHES_PAIRS_PER_ID × test_ids`` verification pairs, ``3 × test_ids``
queries and ``12 × test_ids`` distractors (each capped by what the sequences hold: a quarter and
a half of their patches).  Smoke (32 / 32): Brown 384 points and 640 pairs per subset, HPatches 4
sequences of 32 points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import register_task

#: Spec dataset name → PhotoTour subset folder name.
BROWN_SUBSETS: Final[dict[str, str]] = {
    "brown_liberty": "liberty", "brown_notredame": "notredame", "brown_yosemite": "yosemite",
}
HPATCHES: Final[str] = "hpatches"
#: The benchmark repository's folder under the data root, and its release and task folders.
HPATCHES_DIR: Final[str] = "hpatches-benchmark"
HPATCHES_RELEASE: Final[str] = "data/hpatches-release"
HPATCHES_TASKS: Final[str] = "tasks"
#: Synthetic sizes per `train_ids` / `test_ids` of the scale (module docstring).
BROWN_POINTS_PER_ID: Final[int] = 12
BROWN_PAIRS_PER_ID: Final[int] = 20
HPATCHES_PAIRS_PER_ID: Final[int] = 50
#: The loss of each model (the paper: "The main loss L_main is the same as the original method").
MODEL_LOSSES: Final[dict[str, str]] = {"hardnet": "hardnet", "ralnet": "ral"}
#: What `evaluate` writes per protocol, as column metrics.
BROWN_METRICS: Final[tuple[str, ...]] = ("fpr95",)
HPATCHES_METRICS: Final[tuple[str, ...]] = ("verification_map", "matching_map", "retrieval_map")


def hpatches_folders(root: str | Path) -> tuple[Path, Path]:
    """``(release, tasks)`` of the benchmark folder under ``root`` (``root`` may also be the
    ``hpatches-benchmark`` folder itself)."""
    root = Path(root).expanduser()
    base = root if (root / HPATCHES_RELEASE).is_dir() and not (root / HPATCHES_DIR).is_dir() else root / HPATCHES_DIR
    return base / HPATCHES_RELEASE, base / HPATCHES_TASKS


def synthetic_sizes(sizes: dict) -> dict:
    """The generators' sizes from the scale's ``synthetic`` block (module docstring)."""
    train = int(sizes.get("train_ids") or 32)
    test = int(sizes.get("test_ids") or 32)
    return {
        "brown": {"points": BROWN_POINTS_PER_ID * train, "pairs": BROWN_PAIRS_PER_ID * test},
        "hpatches": {"sequences": max(2, test // 8), "points": test, "pairs": HPATCHES_PAIRS_PER_ID * test,
                     "queries": 3 * test, "distractors": 12 * test},
    }


@register_task
class PatchDescriptorTask(Task):
    name = "patch_descriptor"
    datasets = (*BROWN_SUBSETS, HPATCHES)
    default_model = "hardnet"
    default_family = "l2net_descriptor"

    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        from dmlrepro.data.patches.synthetic_patches import generate_hpatches, generate_phototour

        own = synthetic_sizes(sizes)
        if dataset == HPATCHES:
            return generate_hpatches(Path(out), seed=seed, **own["hpatches"])
        return generate_phototour(Path(out), seed=seed, names=[BROWN_SUBSETS[dataset]], **own["brown"])[BROWN_SUBSETS[dataset]]

    def check_data(self, dataset: str, root: str | Path) -> dict:
        from dmlrepro.data.patches.hpatches import TABLE8_SPLIT, HPatchesRelease, read_hpatches_tasks, split_sequences
        from dmlrepro.data.patches.phototour import read_labels, read_matches, subset_dir, tile_paths, tile_patches
        from dmlrepro.data.patches.phototour import INFO_FILE, LAYOUT, MATCHES_FILE, PhotoTourLayoutError

        if dataset == HPATCHES:
            release_dir, tasks_dir = hpatches_folders(root)
            release = HPatchesRelease(release_dir)
            sequences = split_sequences(release, TABLE8_SPLIT, tasks_dir)
            verification, retrieval = read_hpatches_tasks(tasks_dir, TABLE8_SPLIT, release)
            return {"dataset": dataset, "root": str(release.root), "tasks": str(tasks_dir), "split": TABLE8_SPLIT,
                    "sequences": len(sequences), "verification_pairs": len(verification.positives),
                    "queries": len(retrieval.query_seq), "distractors": len(retrieval.distractor_seq),
                    "summary": release.summary()}
        folder = subset_dir(root, BROWN_SUBSETS[dataset])
        if not folder.is_dir():
            raise PhotoTourLayoutError(f"PhotoTour subset folder {folder} not found; expected {LAYOUT}")
        # The whole layout is checked (tile count, every tile's size, every pair) without keeping
        # the pixels: a real subset is 450k-630k patches.
        labels = read_labels(folder / INFO_FILE)
        tiles = tile_paths(folder, labels.size)
        for tile in tiles:
            tile_patches(tile)
        matches = read_matches(folder / MATCHES_FILE, labels)
        summary = (f"{BROWN_SUBSETS[dataset]}: {labels.size} patches of {len(set(labels.tolist()))} 3-D points, "
                   f"{matches.shape[0]} test pairs ({int(matches[:, 2].sum())} matching)")
        return {"dataset": dataset, "root": str(folder), "patches": int(labels.size), "tiles": len(tiles),
                "test_pairs": int(matches.shape[0]), "summary": summary}
