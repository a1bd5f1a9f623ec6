"""Train and evaluate one re-ID cell: the training engine behind every accuracy number of the
CSALR and CSA tables.

Device-agnostic (CPU or CUDA), seeded, deterministic kernels requested (and every kernel that ran
without a deterministic implementation recorded); a checkpoint after every epoch, kept outside the
job's declared outputs (Snakemake deletes those when a job fails); `metrics.json` is written last
and atomically, so a metrics file that exists is a complete result.

How a job starts (`plan_start`), given what its checkpoint folder holds:

- nothing, or a checkpoint of another configuration or another code version: from scratch, with
  the cell's pretrained weights;
- an unfinished checkpoint of this configuration and this code version (a killed or failed job):
  resume after its last epoch, bitwise equal to an uninterrupted run;
- a finished run (its `completed.json` marker, written after its metrics): from scratch again,
  since a job that runs although a result existed was forced to (`--forcerun`, a deleted result,
  a code change); only with `reuse_weights` are the finished weights evaluated instead, and the
  result records whose weights they were.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from dmlrepro.atomic_io import atomic_write, atomic_write_json
from dmlrepro.cells import cell_hash
from dmlrepro.data import ImageDataset, build_reid_dataset, build_transforms
from dmlrepro.errors import UserError
from dmlrepro.evaluation import evaluate_market1501, pairwise_distance
from dmlrepro.models.build import build_reid_model
from dmlrepro.models.pcb import PCB, pcb_loss
from dmlrepro.training.determinism import (
    NondeterministicOps,
    resolve_device,
    restore_rng_state,
    rng_state,
    seed_everything,
    set_deterministic,
)
from dmlrepro.training.optim import build_optimizer, freeze_all_but, learning_rate, set_learning_rate, unfreeze
from dmlrepro.training.provenance import code_version, git_state, provenance
from dmlrepro.training.schedule import Phase, phase_of, validate_schedule

log = logging.getLogger("dmlrepro.train")

CHECKPOINT_NAME = "last.pt"
COMPLETED_NAME = "completed.json"


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the message says at which epoch and iteration."""


@dataclass
class Start:
    """How a job starts: `fresh`, `resume` or `reuse`, why, and the checkpoint it starts from."""

    kind: str
    reason: str
    state: dict | None = None
    completed: dict | None = None


def _read_completed(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def plan_start(checkpoint_dir: Path, cell: dict, reuse_weights: bool = False) -> Start:
    """Decide from the checkpoint folder whether this job starts afresh, resumes or reuses."""
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not checkpoint.exists():
        return Start("fresh", "no checkpoint")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if state.get("cell_hash") != cell_hash(cell):
        return Start("fresh", f"checkpoint {checkpoint} belongs to another configuration")
    completed = _read_completed(Path(checkpoint_dir) / COMPLETED_NAME)
    if completed is not None and (completed.get("epoch") != state["epoch"]
                                  or completed.get("code_version") != state.get("code_version")):
        completed = None  # a marker that does not describe this checkpoint describes nothing
    if completed is not None:
        written = f"code version {completed.get('code_version')}, commit {str(completed.get('commit'))[:10]}"
        if reuse_weights:
            return Start("reuse", f"reusing the finished weights of {checkpoint} ({written})", state, completed)
        return Start("fresh", f"{checkpoint} holds a finished run ({written}); retraining from scratch "
                              "(--config reuse_weights=true would evaluate its weights instead)")
    if state.get("code_version") != code_version():
        return Start("fresh", f"checkpoint {checkpoint} was written by code version {state.get('code_version')}, "
                              f"this is {code_version()}; retraining from scratch")
    return Start("resume", f"resuming {checkpoint} after epoch {state['epoch']}", state)


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


def _train_epoch(model, loader, optimizer, cell, epoch, device, progress) -> dict[str, float]:
    """One epoch in the modes `_apply_phase` set.  `progress`: a file for the tqdm bar (with
    ETA), or None for none."""
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


def train_transform(cell: dict):
    """The training images' transform: flip, normalisation and the preset's `random_erasing`."""
    training = cell["training"]
    height, width = training["input_size"]
    return build_transforms(height, width, train=True, random_erasing=training.get("random_erasing"))


def _save_checkpoint(path: Path, model, optimizer, epoch: int, phase: Phase, history: list, cell: dict,
                     nondeterministic: list[str]) -> None:
    state = {
        "epoch": epoch, "phase": phase.value, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "refined": model.refined, "history": history, "rng": rng_state(), "cell_hash": cell_hash(cell),
        "code_version": code_version(), "nondeterministic_ops": list(nondeterministic),
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _restore(state: dict, model: PCB, optimizer) -> None:
    if state["refined"]:
        model.refine()
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_state(state["rng"])


def _clear(checkpoint_dir: Path) -> None:
    # The checkpoint goes first: a job killed in between then finds no checkpoint, never a finished
    # checkpoint without its marker (which would pass for an unfinished run to resume).
    for name in (CHECKPOINT_NAME, COMPLETED_NAME):
        (checkpoint_dir / name).unlink(missing_ok=True)


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
    metrics.json and the completion marker; with `reuse_weights`, a finished run's weights are
    evaluated instead of retrained (see the module docstring)."""
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
    train_set = ImageDataset(data.train, train_transform(cell))

    checkpoint_dir = Path(checkpoint_dir)
    checkpoint = checkpoint_dir / CHECKPOINT_NAME
    start = plan_start(checkpoint_dir, cell, reuse_weights)
    (log.info if start.kind == "resume" or start.reason == "no checkpoint" else log.warning)("%s", start.reason)
    if reuse_weights and start.kind != "reuse":
        log.warning("reuse_weights: no finished run of this cell to reuse; training")
    if start.kind == "fresh":
        _clear(checkpoint_dir)
    # Starting afresh always starts from the cell's pretrained weights; a resumed or reused model
    # gets all of its weights from the checkpoint.
    model = build_reid_model(cell, data.num_train_pids, load_pretrained=start.kind == "fresh").to(device)
    optimizer = build_optimizer(model, training)
    start_epoch, history, seen_ops = 0, [], []
    current_phase: Phase | None = None
    if start.state is not None:
        try:
            _restore(start.state, model, optimizer)
        except RuntimeError as exc:  # load_state_dict: the code changed the model's parameters
            if start.kind != "reuse":
                raise
            raise UserError(f"the finished weights in {checkpoint} do not fit this code's model "
                            f"({str(exc).splitlines()[0]}); rerun without reuse_weights to retrain") from None
        start_epoch, history = start.state["epoch"], start.state["history"]
        seen_ops = start.state.get("nondeterministic_ops", [])
        current_phase = Phase(start.state.get("phase") or phase_of(start_epoch - 1, cell["model"], training))

    take_pinv_fallbacks(model)
    with NondeterministicOps(seen_ops) as nondeterministic:
        for epoch in range(start_epoch, training["epochs"]):
            phase = phase_of(epoch, cell["model"], training)
            if current_phase is not None and phase is not current_phase:
                # A new phase starts with a fresh optimizer: no momentum carried across (schedule.py).
                optimizer = build_optimizer(model, training)
                log.info("epoch %d starts phase %s with a fresh optimizer", epoch + 1, phase.value)
            current_phase = phase
            _apply_phase(model, phase)
            set_learning_rate(optimizer, learning_rate(epoch, training))
            loader = _loader(train_set, training["batch_size"], seed, epoch, num_workers)
            stats = _train_epoch(model, loader, optimizer, cell, epoch, device,
                                 (progress_file or sys.stderr) if progress else None)
            history.append({"epoch": epoch + 1, "phase": phase.value, "lr": learning_rate(epoch, training), **stats,
                            "pinv_fallbacks": take_pinv_fallbacks(model)})
            log.info("epoch %d/%d %s lr=%.2g loss=%.4f", epoch + 1, training["epochs"], phase.value,
                     history[-1]["lr"], stats.get("loss", float("nan")))
            _save_checkpoint(checkpoint, model, optimizer, epoch + 1, phase, history, cell, nondeterministic.messages)

        metrics = evaluate(model, data, cell, device, eval_batch_size)
    pinv_fallbacks = {"train": sum(h.get("pinv_fallbacks", 0) for h in history), "eval": take_pinv_fallbacks(model)}
    log.info("evaluation: %s", metrics)
    out_dir = Path(out_dir)
    atomic_write(out_dir / "model.pt", lambda tmp: torch.save(
        {"cell": cell, "num_classes": data.num_train_pids, "refined": model.refined, "model": model.state_dict()}, tmp))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reused = None
    if start.kind == "reuse":
        reused = {"code_version": start.completed.get("code_version"), "commit": start.completed.get("commit"),
                  "same_code": start.completed.get("code_version") == code_version()}
    record = {
        "cell_id_hash": cell_hash(cell),
        "cell": cell,
        "seed": seed,
        "metrics": metrics,
        "pinv_fallbacks": pinv_fallbacks,
        "history": history,
        "provenance": {
            **provenance(device),
            "determinism": flags,
            "nondeterministic_ops": nondeterministic.messages,
            "wall_time_s": round(time.time() - started, 2),
            "start": start.kind,
            "start_reason": start.reason,
            "resumed_from_epoch": start_epoch,
            "reused_weights": reused,
            "peak_rss_mb": round(peak_rss_mb, 1),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
        },
    }
    atomic_write_json(out_dir / "metrics.json", record)
    if start.kind != "reuse":  # a reused run's marker already describes the weights
        atomic_write_json(checkpoint_dir / COMPLETED_NAME, {
            "code_version": code_version(), **git_state(), "epoch": training["epochs"],
            "cell_hash": cell_hash(cell), "metrics": str(out_dir / "metrics.json"),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return record
