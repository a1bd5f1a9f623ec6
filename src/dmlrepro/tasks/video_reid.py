"""Video person re-identification (AiA-Net Table 13, 002_e585b7ac4801a221.txt Sec. 5.4): MARS,
tracklets of frames, in torchreid's layout (``dmlrepro.data.reid_extra.mars``), evaluated on
tracklet features pooled from frame features (``dmlrepro.evaluation.video_reid``).  Its model
family is AiA-Net-V (``dmlrepro.families.aianet_video``)."""

from __future__ import annotations

from pathlib import Path

from dmlrepro.tasks.base import Task
from dmlrepro.tasks.registry import register_task


@register_task
class VideoReIDTask(Task):
    name = "video_reid"
    datasets = ("mars",)
    default_model = "aianet_v"
    default_family = "aianet_v"

    def make_data(self, dataset: str, out: Path, seed: int, sizes: dict) -> Path:
        from dmlrepro.data.reid_extra.synthetic_extra import generate_extra_dataset

        kwargs = {k: sizes[s] for k, s in (("num_train_ids", "train_ids"), ("num_test_ids", "test_ids"))
                  if sizes.get(s) is not None}
        return generate_extra_dataset(Path(out), dataset, seed=seed, **kwargs)

    def check_data(self, dataset: str, root: str | Path) -> dict:
        from dmlrepro.data.reid_extra import build_extra_dataset

        data = build_extra_dataset(dataset, root)
        return {"dataset": data.name, "root": str(data.root), "train_tracklets": len(data.train),
                "train_ids": data.num_train_pids, "query_tracklets": len(data.query),
                "gallery_tracklets": len(data.gallery), "summary": data.summary()}
