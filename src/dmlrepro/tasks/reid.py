"""Image person re-identification (CSALR, CSA; AiA-Net's and DCES's re-ID tables as their trainers
land): PCB / PCB-RPP with an attention framework on Market-1501, DukeMTMC-reID and CUHK03-NP,
evaluated with the Market-1501 single-query CMC/mAP protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import register_task

#: AiA-Net's further image datasets (002_e585b7ac4801a221.txt, Sec. 5.1) → (loader of
#: dmlrepro.data.reid_extra, its options, generator variant).  CUHK03's vanilla protocol reads
#: split 0 of the 20 (`split_id`) unless the cell names its `split` (SPLIT_DATASETS); detected
#: and labeled boxes train different cells.
EXTRA_DATASETS: dict[str, tuple[str, dict, str]] = {
    "cuhk03": ("cuhk03_classic", {"boxes": "detected", "split_id": 0}, "cuhk03_classic"),
    "cuhk03_labeled": ("cuhk03_classic", {"boxes": "labeled", "split_id": 0}, "cuhk03_classic"),
    "msmt17": ("msmt17", {}, "msmt17"),
    "cuhk01": ("cuhk01", {"split_id": 0}, "cuhk01"),
}
#: Datasets with numbered splits a cell selects (`split`) → their count: CUHK03's 20 vanilla
#: splits (002_e585b7ac4801a221.txt Sec. 5.1; dmlrepro.data.reid_extra.cuhk03_classic.NUM_SPLITS);
#: CUHK01's 20 485/486 splits, torchreid's 10 identity partitions x 2 query cameras (Table 12;
#: dmlrepro.data.reid_extra.cuhk01.NUM_SPLITS).
SPLIT_DATASETS: dict[str, int] = {"cuhk03": 20, "cuhk03_labeled": 20, "cuhk01": 20}


def load_reid_data(dataset: str, root: str | Path, split: int = 0):
    """The `ReIDDataset` of a re-ID dataset name (a dmlrepro.data loader, or an extra one);
    `split` selects a split of a dataset of SPLIT_DATASETS."""
    if split and dataset not in SPLIT_DATASETS:
        from dmlrepro.errors import UserError

        raise UserError(f"split: {split!r} on dataset {dataset}, which has no splits "
                        f"({', '.join(SPLIT_DATASETS)} have); remove it from the cell")
    if dataset in EXTRA_DATASETS:
        from dmlrepro.data.reid_extra import build_extra_dataset

        loader, options, _ = EXTRA_DATASETS[dataset]
        return build_extra_dataset(loader, root, **{**options, **({"split_id": split} if split else {})})
    from dmlrepro.data import build_reid_dataset, cuhk03np_labeled  # noqa: F401  (registers it)

    return build_reid_dataset(dataset, root)


def load_cell_data(cell: dict):
    """The `ReIDDataset` a resolved cell trains and evaluates on: its dataset, data root and
    split (split 0 where the cell names none)."""
    return load_reid_data(cell["dataset"], cell["data_root"], cell.get("split", 0))


def make_extra_data(dataset: str, out: Path, seed: int, sizes: dict) -> Path:
    from dmlrepro.data.reid_extra.synthetic_extra import generate_extra_dataset

    _, _, variant = EXTRA_DATASETS[dataset]
    kwargs = {k: sizes[s] for k, s in (("num_train_ids", "train_ids"), ("num_test_ids", "test_ids"))
              if sizes.get(s) is not None}
    if variant == "cuhk01" and "num_train_ids" in kwargs:
        kwargs["num_test_ids"] = kwargs["num_train_ids"]  # 485/486: halves of the persons
    return generate_extra_dataset(out, variant, seed=seed, **kwargs)


@register_task
class ReIDTask(Task):
    """Its datasets here; its models in dmlrepro/families (PCB / PCB-RPP: families/pcb.py)."""

    name = "reid"
    datasets = ("market1501", "dukemtmc", "cuhk03np", "cuhk03np_labeled") + tuple(EXTRA_DATASETS)
    default_model = "pcb"
    default_family = "pcb"
    split_datasets = SPLIT_DATASETS

    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        from dmlrepro.data.synthetic import generate_reid_dataset

        if dataset in EXTRA_DATASETS:
            return make_extra_data(dataset, Path(out), seed, sizes)
        kwargs = {}
        if dataset == "cuhk03np_labeled":
            from dmlrepro.data.cuhk03np_labeled import generate_labeled

            sized = {k: sizes[s] for k, s in (("num_train_ids", "train_ids"), ("num_test_ids", "test_ids"))
                     if sizes.get(s) is not None}
            return generate_labeled(Path(out), seed, **sized)
        if sizes.get("train_ids") is not None:
            kwargs["num_train_ids"] = sizes["train_ids"]
        if sizes.get("test_ids") is not None:
            kwargs["num_test_ids"] = sizes["test_ids"]
        written = generate_reid_dataset(Path(out), dataset, seed=seed, **kwargs)
        if dataset == "market1501":  # the multi-query protocol's images (AiA-Net Table 11)
            from dmlrepro.data import build_reid_dataset
            from dmlrepro.data.market1501_gt_bbox import write_synthetic_gt_bbox

            data = build_reid_dataset(dataset, written)
            write_synthetic_gt_bbox(data.root, data.query, data.gallery)
        return written

    def check_data(self, dataset: str, root: str | Path) -> dict:
        data = load_reid_data(dataset, root)
        return {
            "dataset": data.name, "root": str(data.root), "train_images": len(data.train),
            "train_ids": data.num_train_pids, "query_images": len(data.query), "gallery_images": len(data.gallery),
            "summary": data.summary(),
        }
