"""The re-ID parts of the training engine (`dmlrepro.training.engine`): PCB / PCB-RPP with the
attention framework, trained on a re-ID dataset and evaluated with the Market-1501 protocol (the
CSALR and CSA accuracy tables).

* batches: a random permutation of the training images per epoch, seeded by (seed, epoch);
* loss: PCB's cross-entropy over the parts plus λ times the deep-supervision losses (Eq. 18);
* optimizer: SGD with backbone / attention / head groups (optim.py), fresh in every phase;
* phases: PCB, then for PCB-RPP the classifier-only epochs with everything else frozen (eval-mode
  BN and dropout) and the fine-tuning epochs (schedule.py);
* evaluation: single-query CMC rank-1/5/10 and mAP (percent); the attention modules'
  pseudo-inverse fallbacks are counted per epoch and at evaluation.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from dmlrepro.data import ImageDataset, build_reid_dataset, build_transforms
from dmlrepro.evaluation import evaluate_market1501, pairwise_distance
from dmlrepro.models.build import build_reid_model
from dmlrepro.models.pcb import PCB, pcb_loss
from dmlrepro.training import engine
from dmlrepro.training.engine import COMPLETED_NAME, TrainingDiverged, TrainingParts, plan_start  # noqa: F401
from dmlrepro.training.optim import build_optimizer, freeze_all_but, learning_rate, unfreeze
from dmlrepro.training.schedule import Phase, phase_of, validate_schedule

log = logging.getLogger("dmlrepro.train")


def apply_phase(model: PCB, phase: Phase) -> None:
    """Training mode and trainable parameters for one epoch of `phase` (schedule.py)."""
    if phase is Phase.PCB:
        unfreeze(model)
        return
    model.refine()
    if phase is Phase.RPP_CLASSIFIER:
        freeze_all_but(model, model.refined_pool.classifier)
    else:
        unfreeze(model)


def take_pinv_fallbacks(model: torch.nn.Module) -> int:
    """Batch elements whose attention fell back to the pseudo-inverse since the last call: the sum
    of the modules' `pinv_fallbacks` counters, which are reset to 0."""
    total = 0
    for module in model.modules():
        count = getattr(module, "pinv_fallbacks", None)
        if isinstance(count, int):
            total += count
            module.pinv_fallbacks = 0
    return total


@torch.no_grad()
def extract_features(model: PCB, items, cell: dict, device: torch.device, batch_size: int) -> torch.Tensor:
    height, width = cell["training"]["input_size"]
    dataset = ImageDataset(items, build_transforms(height, width, train=False))
    model.eval()
    features = [model(images.to(device)).cpu() for images, _, _ in DataLoader(dataset, batch_size=batch_size)]
    return torch.cat(features)


def evaluate(model: PCB, data, cell: dict, device: torch.device, batch_size: int) -> dict[str, float]:
    """Single-query CMC rank-1/5/10 and mAP (percent) under the Market-1501 protocol."""
    query = extract_features(model, data.query, cell, device, batch_size)
    gallery = extract_features(model, data.gallery, cell, device, batch_size)
    distances = pairwise_distance(query, gallery, metric="sqeuclidean").numpy()
    result = evaluate_market1501(
        distances,
        [pid for _, pid, _ in data.query], [pid for _, pid, _ in data.gallery],
        [cam for _, _, cam in data.query], [cam for _, _, cam in data.gallery],
    )
    metrics = result.as_percent_dict(ranks=(1, 5, 10))
    metrics["num_valid_queries"] = result.num_valid_queries
    return metrics


def train_transform(cell: dict):
    """The training images' transform: flip, normalisation and the preset's `random_erasing`."""
    training = cell["training"]
    height, width = training["input_size"]
    return build_transforms(height, width, train=True, random_erasing=training.get("random_erasing"))


def reid_parts(cell: dict, device: torch.device, load_pretrained: bool, num_workers: int = 0,
               eval_batch_size: int = 128) -> TrainingParts:
    """The engine's parts for one re-ID cell; `load_pretrained`: start from the cell's pretrained
    backbone (a fresh run) or not (the checkpoint brings every weight)."""
    training = cell["training"]
    validate_schedule(cell["model"], training)
    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    log.info("%s", data.summary())
    train_set = ImageDataset(data.train, train_transform(cell))
    model = build_reid_model(cell, data.num_train_pids, load_pretrained=load_pretrained).to(device)

    def loss_step(batch):
        images, pids, _camids = batch
        return pcb_loss(model(images.to(device)), pids.to(device), cell["ds_lambda"])

    def phase_name(epoch: int) -> str:
        return phase_of(epoch, cell["model"], training).value

    def load_extra_state(state: dict) -> None:
        if state.get("refined"):
            model.refine()

    def record_extra(history: list[dict]) -> dict:
        return {"pinv_fallbacks": {"train": sum(h.get("pinv_fallbacks", 0) for h in history),
                                   "eval": take_pinv_fallbacks(model)}}

    return TrainingParts(
        model=model,
        train_set=train_set,
        batch_size=training["batch_size"],
        epochs=training["epochs"],
        loss_step=loss_step,
        build_optimizer=lambda: build_optimizer(model, training),
        learning_rate=lambda epoch: learning_rate(epoch, training),
        phase_of=phase_name,
        apply_phase=lambda phase: apply_phase(model, Phase(phase)),
        extra_state=lambda: {"refined": model.refined},
        load_extra_state=load_extra_state,
        evaluate=lambda: evaluate(model, data, cell, device, eval_batch_size),
        model_record=lambda: {"num_classes": data.num_train_pids, "refined": model.refined},
        grad_clip_norm=training["grad_clip_norm"],
        num_workers=num_workers,
        divergence_hint=f"lower optimizer.lr in config/presets/<paper>.yaml (scale {cell['scale']}) or check the data",
        epoch_counters=lambda: {"pinv_fallbacks": take_pinv_fallbacks(model)},
        record_extra=record_extra,
    )


def train_reid_cell(
    cell: dict,
    seed: int,
    out_dir: Path,
    checkpoint_dir: Path,
    device_name: str = "auto",
    threads: int | None = None,
    num_workers: int = 0,
    eval_batch_size: int = 128,
    progress: bool = True,
    progress_file=None,
    reuse_weights: bool = False,
) -> dict:
    """Train the cell (afresh, or from its unfinished checkpoint), evaluate, write model.pt,
    metrics.json and the completion marker (the engine's module docstring says which)."""
    started = time.time()
    device, flags = engine.prepare_run(threads, device_name, seed)
    validate_schedule(cell["model"], cell["training"])
    return engine.run_training(
        cell, seed, out_dir, checkpoint_dir,
        lambda device_, fresh: reid_parts(cell, device_, fresh, num_workers, eval_batch_size),
        device, flags, started, progress=progress, progress_file=progress_file, reuse_weights=reuse_weights,
    )
