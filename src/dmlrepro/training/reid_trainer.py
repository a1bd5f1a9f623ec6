"""Train and evaluate one re-ID cell: the training engine behind every accuracy number of the
CSALR and CSA tables.

Device-agnostic (CPU or CUDA), seeded, deterministic kernels requested; a checkpoint after every
epoch, kept outside the job's declared outputs (Snakemake deletes those when a job fails), and
resume from it; `metrics.json` is written last and atomically, so a metrics file that exists is a
complete result.
"""

from __future__ import annotations

import logging
import math
import resource
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from dmlrepro.atomic_io import atomic_write, atomic_write_json
from dmlrepro.cells import cell_hash
from dmlrepro.data import ImageDataset, build_reid_dataset, build_transforms
from dmlrepro.evaluation import evaluate_market1501, pairwise_distance
from dmlrepro.models.build import build_reid_model
from dmlrepro.models.pcb import PCB, pcb_loss
from dmlrepro.training.determinism import (
    resolve_device,
    restore_rng_state,
    rng_state,
    seed_everything,
    set_deterministic,
)
from dmlrepro.training.optim import build_optimizer, freeze_all_but, learning_rate, set_learning_rate, unfreeze
from dmlrepro.training.provenance import provenance
from dmlrepro.training.schedule import Phase, phase_of, validate_schedule

log = logging.getLogger("dmlrepro.train")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says at which epoch and iteration."""


def _loader(dataset, batch_size: int, seed: int, epoch: int, num_workers: int) -> DataLoader:
    # A generator seeded by (seed, epoch) makes each epoch's order independent of how the run got
    # there, so a resumed run sees exactly the batches an uninterrupted one would.
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=RandomSampler(dataset, generator=generator),
        drop_last=len(dataset) > batch_size,
        num_workers=num_workers,
        generator=generator,
    )


def _apply_phase(model: PCB, phase: Phase) -> None:
    if phase is Phase.PCB:
        unfreeze(model)
        return
    model.refine()
    if phase is Phase.RPP_CLASSIFIER:
        freeze_all_but(model, model.refined_pool.classifier)
    else:
        unfreeze(model)


def _train_epoch(model, loader, optimizer, cell, epoch, device, progress) -> dict[str, float]:
    """`progress`: a file for the tqdm bar (with ETA), or None for none."""
    model.train()
    totals: dict[str, float] = {}
    batches = tqdm(
        loader, desc=f"epoch {epoch + 1}/{cell['training']['epochs']}", file=progress or sys.stderr,
        disable=progress is None, mininterval=2.0, leave=False,
    )
    for iteration, (images, pids, _camids) in enumerate(batches, start=1):
        images, pids = images.to(device), pids.to(device)
        loss, parts = pcb_loss(model(images), pids, cell["ds_lambda"])
        if not math.isfinite(parts["loss"]):
            raise TrainingDiverged(
                f"loss became {parts['loss']} at epoch {epoch + 1}, iteration {iteration}; "
                f"lower optimizer.lr in config/scales.yaml (scale {cell['scale']}) or check the data"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cell["training"]["grad_clip_norm"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cell["training"]["grad_clip_norm"])
        optimizer.step()
        for key, value in parts.items():
            totals[key] = totals.get(key, 0.0) + value
        batches.set_postfix(loss=f"{parts['loss']:.3f}")
    return {key: value / max(1, iteration) for key, value in totals.items()}


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


def _save_checkpoint(path: Path, model, optimizer, epoch: int, history: list, cell: dict) -> None:
    state = {
        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "refined": model.refined, "history": history, "rng": rng_state(), "cell_hash": cell_hash(cell),
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _load_checkpoint(path: Path, model, optimizer, cell: dict) -> tuple[int, list]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("cell_hash") != cell_hash(cell):
        log.warning("checkpoint %s belongs to another configuration; starting afresh", path)
        return 0, []
    if state["refined"]:
        model.refine()
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_state(state["rng"])
    log.info("resumed from %s after epoch %d", path, state["epoch"])
    return state["epoch"], state["history"]


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
) -> dict:
    """Train the cell from its last checkpoint (if any), evaluate, write model.pt and metrics.json."""
    started = time.time()
    if threads:
        torch.set_num_threads(threads)
    # Saturated softmaxes leave subnormal floats behind, which some CPUs process ~100x slower.
    torch.set_flush_denormal(True)
    device = resolve_device(device_name)
    flags = set_deterministic(device)
    seed_everything(seed)
    training = cell["training"]
    validate_schedule(cell["model"], training)

    data = build_reid_dataset(cell["dataset"], cell["data_root"])
    log.info("%s", data.summary())
    height, width = training["input_size"]
    train_set = ImageDataset(data.train, build_transforms(height, width, train=True))

    checkpoint = Path(checkpoint_dir) / "last.pt"
    model = build_reid_model(cell, data.num_train_pids, load_pretrained=not checkpoint.exists()).to(device)
    optimizer = build_optimizer(model, training)
    start_epoch, history = (0, [])
    if checkpoint.exists():
        start_epoch, history = _load_checkpoint(checkpoint, model, optimizer, cell)

    for epoch in range(start_epoch, training["epochs"]):
        phase = phase_of(epoch, cell["model"], training)
        _apply_phase(model, phase)
        set_learning_rate(optimizer, learning_rate(epoch, training))
        loader = _loader(train_set, training["batch_size"], seed, epoch, num_workers)
        stats = _train_epoch(model, loader, optimizer, cell, epoch, device, (progress_file or sys.stderr) if progress else None)
        history.append({"epoch": epoch + 1, "phase": phase.value, "lr": learning_rate(epoch, training), **stats})
        log.info("epoch %d/%d %s lr=%.2g loss=%.4f", epoch + 1, training["epochs"], phase.value,
                 history[-1]["lr"], stats.get("loss", float("nan")))
        _save_checkpoint(checkpoint, model, optimizer, epoch + 1, history, cell)

    metrics = evaluate(model, data, cell, device, eval_batch_size)
    log.info("evaluation: %s", metrics)
    out_dir = Path(out_dir)
    atomic_write(out_dir / "model.pt", lambda tmp: torch.save(
        {"cell": cell, "num_classes": data.num_train_pids, "refined": model.refined, "model": model.state_dict()}, tmp))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "cell_id_hash": cell_hash(cell),
        "cell": cell,
        "seed": seed,
        "metrics": metrics,
        "history": history,
        "provenance": {
            **provenance(device),
            "determinism": flags,
            "wall_time_s": round(time.time() - started, 2),
            "resumed_from_epoch": start_epoch,
            "peak_rss_mb": round(peak_rss_mb, 1),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
        },
    }
    atomic_write_json(out_dir / "metrics.json", record)
    return record
