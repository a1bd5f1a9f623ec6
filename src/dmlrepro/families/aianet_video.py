"""AiA-Net-V (002_e585b7ac4801a221.txt, Sec. 5.4, Table 13): AiA-Net on MARS, the video task's
model family.

"The network architecture and training details are given in the supplementary material", which
is not available; "AiA-Net-V only considers the spatial information in each frame to calculate
the attention values and ... doesn't take into account the modeling of the temporal attention to
fuse the frame features".  Read here (interpretation, README): the frame-level AiA-Net of the image
tables trained like them (``dmlrepro.training.aianet_parts``: triplet + cross-entropy on F_a and
F_p, the P x K sampler over the identities of the training frames, the image preset and its lr of
5e-4, r = 4, c' = 480, tau = 1), every frame of a training tracklet an image of the tracklet's
identity; a tracklet's test feature is the mean of all its frames' features.

Protocols (``dmlrepro.evaluation.video_reid``): the flat metrics are MARS's official evaluation,
which keeps the query tracklets in the gallery; ``gallery@torchreid`` removes them (torchreid);
``pooling@max`` pools by the element-wise maximum (the official MATLAB code's pooling).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmlrepro.families.aianet import AiANetFamily
from dmlrepro.tasks.family import register_family

VIDEO_PROTOCOLS = ("gallery@torchreid", "pooling@max")
VIDEO_METRICS = ("rank1", "rank5", "rank10", "rank20", "map")


@dataclass(frozen=True)
class FrameDataset:
    """The training frames of a video dataset as image items ``(path, pid, camid)``."""

    name: str
    root: Path
    train: list = field(repr=False)
    num_train_pids: int
    video: Any = field(repr=False)

    def summary(self) -> str:
        return f"{self.video.summary()}\n  frames used as training images: {len(self.train)}"


def frame_dataset(video) -> FrameDataset:
    train = [(path, pid, cam) for frames, pid, cam in video.train for path in frames]
    return FrameDataset(video.name, video.root, train, video.num_train_pids, video)


@register_family
class AiANetVideoFamily(AiANetFamily):
    name = "aianet_v"
    task = "video_reid"
    models = ("aianet_v",)

    def cell_problem(self, paper_cell: dict, own: dict) -> str | None:
        return super().cell_problem({**paper_cell, "model": "aianet"}, own)

    def protocols(self, dataset: str) -> tuple[str, ...]:
        return VIDEO_PROTOCOLS if dataset == "mars" else ()

    def column_problem(self, column: dict) -> str | None:
        problem = self.protocol_problem(column)
        if problem:
            return problem
        if column.get("dataset") != "mars":
            return f"dataset {column.get('dataset')!r}: AiA-Net-V is evaluated on mars only"
        if column["metric"] not in VIDEO_METRICS:
            return f"metric {column['metric']!r} is not computed by the MARS evaluation ({', '.join(VIDEO_METRICS)})"
        return None

    def resolve_cell(self, paper_cell: dict, dataset: str, scale: dict, data_root: str, paper: str) -> dict:
        cell = super().resolve_cell({**paper_cell, "model": "aianet"}, dataset, scale, data_root, paper)
        cell.update(task=self.task, family=self.name, video={"pooling": "mean", "frames": "all"})
        return cell

    def cell_id(self, cell: dict) -> str:
        return super().cell_id(cell).replace("-aianet-", "-aianetv-", 1)

    def train_cell(self, cell: dict, seed: int, out_dir: Path, checkpoint_dir: Path, **runtime: Any) -> dict:
        import time

        from dmlrepro.data.reid_extra import build_extra_dataset
        from dmlrepro.training.aianet_parts import aianet_parts
        from dmlrepro.training.engine import prepare_run, run_training

        started = time.time()
        device, flags = prepare_run(runtime.get("threads"), runtime.get("device_name", "auto"), seed)
        data = frame_dataset(build_extra_dataset(cell["dataset"], cell["data_root"]))
        return run_training(
            cell, seed, out_dir, checkpoint_dir,
            lambda device_, fresh: aianet_parts(cell, device_, fresh, runtime.get("num_workers", 0),
                                                runtime.get("eval_batch_size"), data=data,
                                                evaluate=evaluate_video),
            device, flags, started, progress=runtime.get("progress", True),
            progress_file=runtime.get("progress_file"), reuse_weights=runtime.get("reuse_weights", False),
        )

    def paper_probe(self, batch_size: int = 2) -> dict:
        """The image AiA-Net's probe: AiA-Net-V is that network applied to frames."""
        return super().paper_probe(batch_size)


def evaluate_video(model, data: FrameDataset, cell: dict, device, batch_size: int) -> dict:
    """Flat: official MARS gallery, mean pooling; protocols: torchreid's gallery, max pooling."""
    from dmlrepro.evaluation.video_reid import evaluate_video_reid, flatten_tracklets
    from dmlrepro.training.aianet_eval import RANKS, extract_features

    video = data.video
    q_frames, q_owner = flatten_tracklets(video.query)
    g_frames, g_owner = flatten_tracklets(video.gallery)
    q_feats = extract_features(model, [(p, 0, 0) for p in q_frames], cell, device, batch_size)
    g_feats = extract_features(model, [(p, 0, 0) for p in g_frames], cell, device, batch_size)
    ids = ([p for _, p, _ in video.query], [c for _, _, c in video.query],
           [p for _, p, _ in video.gallery], [c for _, _, c in video.gallery])

    def run(gallery: str, pooling: str) -> dict:
        result = evaluate_video_reid(q_feats, q_owner, ids[0], ids[1], g_feats, g_owner, ids[2], ids[3],
                                     gallery=gallery, pooling=pooling)
        return {**result.as_percent_dict(ranks=RANKS), "num_valid_queries": result.num_valid_queries}

    metrics = run("official", "mean")
    metrics["protocols"] = {"gallery@torchreid": run("torchreid", "mean"), "pooling@max": run("official", "max")}
    return metrics
