"""Class-split image retrieval (Multi-Head DML, 003_72cd4b33cee60b89.txt; the DCES supplement's
SOP table): CUB-200-2011, Cars-196, Stanford Online Products and In-Shop, evaluated with
Recall@K.  The datasets are here; the models in dmlrepro/families (the multi-head model:
families/mhdml.py)."""

from __future__ import annotations

from pathlib import Path

from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import register_task

#: What `evaluate_retrieval` writes (training/retrieval_parts.RECALL_KS), as column metrics.
RECALL_METRICS = tuple(f"recall@{k}" for k in (1, 2, 4, 8, 10, 16, 20, 30, 32, 40, 100, 1000))


@register_task
class ImageRetrievalTask(Task):
    name = "image_retrieval"
    datasets = ("cub200", "cars196", "sop", "inshop")
    default_family = "mhdml"

    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        from dmlrepro.data.retrieval.synthetic_retrieval import generate_retrieval_dataset

        return generate_retrieval_dataset(Path(out), dataset, seed=seed,
                                          num_train_classes=sizes.get("train_ids"),
                                          num_test_classes=sizes.get("test_ids"))

    def check_data(self, dataset: str, root: str | Path) -> dict:
        from dmlrepro.data.retrieval import build_retrieval_dataset

        data = build_retrieval_dataset(dataset, root)
        queries, references, _ = data.retrieval_sets()
        return {
            "dataset": data.name, "root": str(data.root), "train_images": len(data.train),
            "train_classes": data.num_train_classes, "query_images": len(queries),
            "reference_images": len(references), "protocol": data.protocol,
            "queries_without_positive": len(data.classes_without_positive().query_indices),
            "summary": data.summary(),
        }
