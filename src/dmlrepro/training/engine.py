"""The one training engine behind every accuracy number, whatever the task.

What every task shares lives here: seeding and deterministic kernels (and a record of every kernel
that ran without a deterministic implementation), a checkpoint after every epoch with the code
version that wrote it and any extra state a task keeps (proxies, cluster assignments, a switched
model phase), exact resume, a NaN loss recorded as the seed's result (divergence.py), progress bars
with ETA, provenance, and `metrics.json` written last and atomically, so that a metrics file that
exists is a complete result. What differs by task or paper comes in as `TrainingParts`: the model,
the loss step, the sampler, the optimizer and its parameter groups, the schedule, phases, callbacks
and evaluation.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler
from tqdm import tqdm

from dmlrepro.atomic_io import atomic_write, atomic_write_json
from dmlrepro.cells import cell_hash
from dmlrepro.errors import UserError
from dmlrepro.training.determinism import (
    NondeterministicOps,
    resolve_device,
    restore_rng_state,
    rng_state,
    seed_everything,
    set_deterministic,
)
from dmlrepro.training.divergence import DIVERGED
from dmlrepro.training.provenance import code_version, git_state, provenance

log = logging.getLogger("dmlrepro.train")

CHECKPOINT_NAME = "last.pt"
COMPLETED_NAME = "completed.json"


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the message says at which epoch and iteration (1-based),
    which the attributes hold too.  `run_training` records it as the cell's result (divergence.py)."""

    def __init__(self, message: str, epoch: int | None = None, iteration: int | None = None,
                 loss: float | None = None) -> None:
        super().__init__(message)
        self.epoch, self.iteration, self.loss = epoch, iteration, loss


@dataclass
class TrainingParts:
    """What a task gives the engine for one cell (everything else is the engine's).

    * `model` — the network; `extra_modules` — other trained modules saved with it (a loss's
      proxies), by name;
    * `train_set`, `batch_size`, `epochs`, and `sampler(dataset, seed, epoch)` (default: a random
      permutation seeded by (seed, epoch), so a resumed run sees the batches an uninterrupted one
      would);
    * `loss_step(batch) -> (loss, {name: float})` — one batch's loss, with `loss` in the dict;
    * `build_optimizer()` — a fresh optimizer over the current parameter groups, each with an
      `lr_mult`; called at the start and again whenever the phase changes;
    * `learning_rate(epoch)` — the base learning rate of a (0-based) epoch;
    * `phase_of(epoch)` and `apply_phase(phase)` — named phases (PCB → RPP); `apply_phase` sets
      training modes and trainable parameters for an epoch of that phase;
    * `callbacks` — `on_epoch_start(epoch)` hooks run before each epoch (re-clustering, switching
      an augmentation on), after `apply_phase`;
    * `extra_state()` / `load_extra_state(state)` — anything else a resumed run needs (loaded
      before the weights, so a model can switch shape first);
    * `evaluate()` — the metrics of the trained model, by protocol where a task has several;
    * `model_record()` — what model.pt holds besides the state dicts (num_classes, flags);
    * `epoch_counters()` — numbers taken (and reset) after each epoch into its history line;
      `record_extra(history)` — keys added to metrics.json after the evaluation.
    """

    model: nn.Module
    train_set: Dataset
    batch_size: int
    epochs: int
    loss_step: Callable[[Any], tuple[torch.Tensor, dict[str, float]]]
    build_optimizer: Callable[[], torch.optim.Optimizer]
    learning_rate: Callable[[int], float]
    evaluate: Callable[[], dict]
    extra_modules: dict[str, nn.Module] = field(default_factory=dict)
    sampler: Callable[[Dataset, int, int], Sampler] | None = None
    #: or batches of indices (a P×K sampler): `batch_sampler(dataset, seed, epoch)`
    batch_sampler: Callable[[Dataset, int, int], Sampler] | None = None
    phase_of: Callable[[int], str] = lambda epoch: "train"
    apply_phase: Callable[[str], None] | None = None
    callbacks: list[Callable[[int], None]] = field(default_factory=list)
    extra_state: Callable[[], dict] = dict
    load_extra_state: Callable[[dict], None] = lambda state: None
    model_record: Callable[[], dict] = dict
    grad_clip_norm: float | None = None
    num_workers: int = 0
    #: what to tell the user when the loss diverges
    divergence_hint: str = "lower the learning rate of the training preset or check the data"
    #: per-epoch numbers added to the history (e.g. attention fallbacks), taken after each epoch
    epoch_counters: Callable[[], dict] = dict
    #: keys added to metrics.json, computed after the evaluation from the history
    record_extra: Callable[[list[dict]], dict] = lambda history: {}
    #: an evaluation after every epoch, kept in that epoch's history line as `eval` (a metric
    #: against epochs, MHDML Figure 1); None for none.  It must not touch the training RNG.
    epoch_evaluate: Callable[[], dict] | None = None


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


def epoch_loader(parts: TrainingParts, seed: int, epoch: int) -> DataLoader:
    """The batches of one epoch, a function of (seed, epoch) alone."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    if parts.batch_sampler is not None:
        return DataLoader(parts.train_set, batch_sampler=parts.batch_sampler(parts.train_set, seed, epoch),
                          num_workers=parts.num_workers, generator=generator)
    if parts.sampler is None:
        # One generator for the sampler and the loader (the loader draws its base seed from it
        # first): the order of the re-ID runs recorded before the engine existed.
        sampler: Sampler = RandomSampler(parts.train_set, generator=generator)
    else:
        sampler = parts.sampler(parts.train_set, seed, epoch)
    return DataLoader(
        parts.train_set,
        batch_size=parts.batch_size,
        sampler=sampler,
        drop_last=len(sampler) > parts.batch_size,
        num_workers=parts.num_workers,
        generator=generator,
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, base_lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = base_lr * group.get("lr_mult", 1.0)


def _trained_parameters(parts: TrainingParts) -> list[nn.Parameter]:
    modules: Iterable[nn.Module] = [parts.model, *parts.extra_modules.values()]
    return [p for m in modules for p in m.parameters() if p.requires_grad]


def _train_epoch(parts: TrainingParts, loader, optimizer, epoch: int, progress) -> dict[str, float]:
    """One epoch in the modes `apply_phase` set.  `progress`: a file for the tqdm bar (with ETA),
    or None for none."""
    totals: dict[str, float] = {}
    batches = tqdm(
        loader, desc=f"epoch {epoch + 1}/{parts.epochs}", file=progress or sys.stderr,
        disable=progress is None, mininterval=2.0, leave=False,
    )
    iteration = 0
    for iteration, batch in enumerate(batches, start=1):
        loss, values = parts.loss_step(batch)
        if not math.isfinite(values["loss"]):
            raise TrainingDiverged(
                f"loss became {values['loss']} at epoch {epoch + 1}, iteration {iteration}; {parts.divergence_hint}",
                epoch=epoch + 1, iteration=iteration, loss=values["loss"],
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if parts.grad_clip_norm:
            torch.nn.utils.clip_grad_norm_(_trained_parameters(parts), parts.grad_clip_norm)
        optimizer.step()
        for key, value in values.items():
            totals[key] = totals.get(key, 0.0) + value
        batches.set_postfix(loss=f"{values['loss']:.3f}")
    return {key: value / max(1, iteration) for key, value in totals.items()}


def _state_dicts(parts: TrainingParts) -> dict[str, dict]:
    return {"model": parts.model.state_dict(),
            **{f"extra.{name}": module.state_dict() for name, module in parts.extra_modules.items()}}


def _load_state_dicts(parts: TrainingParts, state: dict) -> None:
    parts.model.load_state_dict(state["model"])
    for name, module in parts.extra_modules.items():
        module.load_state_dict(state[f"extra.{name}"])


def _clear(checkpoint_dir: Path) -> None:
    # The checkpoint goes first: a job killed in between then finds no checkpoint, never a finished
    # checkpoint without its marker (which would pass for an unfinished run to resume).
    for name in (CHECKPOINT_NAME, COMPLETED_NAME):
        (checkpoint_dir / name).unlink(missing_ok=True)


def prepare_run(threads: int | None, device_name: str, seed: int) -> tuple[torch.device, dict]:
    """Threads, device, deterministic kernels and seeds, before anything random happens."""
    if threads:
        torch.set_num_threads(threads)
    # Saturated softmaxes leave subnormal floats behind, which some CPUs process ~100x slower.
    torch.set_flush_denormal(True)
    device = resolve_device(device_name)
    flags = set_deterministic(device)
    seed_everything(seed)
    return device, flags


def _run_provenance(device: torch.device, determinism: dict, nondeterministic_ops: list, started: float,
                    start: Start, start_epoch: int) -> dict:
    """metrics.json's `provenance` of this run (a finished or a diverged one)."""
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reused = None
    if start.kind == "reuse":
        reused = {"code_version": start.completed.get("code_version"), "commit": start.completed.get("commit"),
                  "same_code": start.completed.get("code_version") == code_version()}
    return {
        **provenance(device),
        "determinism": determinism,
        "nondeterministic_ops": list(nondeterministic_ops),
        "wall_time_s": round(time.time() - started, 2),
        "start": start.kind,
        "start_reason": start.reason,
        "resumed_from_epoch": start_epoch,
        "reused_weights": reused,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
    }


def _write_diverged(cell: dict, seed: int, out_dir: Path, entry: dict, history: list[dict], run_provenance: dict) -> dict:
    """The record of a run that diverged (divergence.py): model.pt without weights, then metrics.json
    without metrics, both atomically; no completion marker, and the last checkpoint stays."""
    atomic_write(out_dir / "model.pt", lambda tmp: torch.save({"cell": cell, DIVERGED: entry}, tmp))
    record = {"cell_id_hash": cell_hash(cell), "cell": cell, "seed": seed, "metrics": {}, DIVERGED: entry,
              "history": history, "provenance": run_provenance}
    atomic_write_json(out_dir / "metrics.json", record)
    return record


def run_training(
    cell: dict,
    seed: int,
    out_dir: Path,
    checkpoint_dir: Path,
    build_parts: Callable[[torch.device, bool], TrainingParts],
    device: torch.device,
    determinism: dict,
    started: float,
    progress: bool = True,
    progress_file=None,
    reuse_weights: bool = False,
) -> dict:
    """Train the cell (afresh, or from its unfinished checkpoint), evaluate, write model.pt,
    metrics.json and the completion marker; with `reuse_weights`, a finished run's weights are
    evaluated instead of retrained (see the module docstring).

    `build_parts(device, load_pretrained)` builds the task's parts once the engine knows whether
    the run starts afresh (then the model gets its pretrained weights) or from a checkpoint."""
    checkpoint_dir = Path(checkpoint_dir)
    checkpoint = checkpoint_dir / CHECKPOINT_NAME
    start = plan_start(checkpoint_dir, cell, reuse_weights)
    (log.info if start.kind == "resume" or start.reason == "no checkpoint" else log.warning)("%s", start.reason)
    if reuse_weights and start.kind != "reuse":
        log.warning("reuse_weights: no finished run of this cell to reuse; training")
    if start.kind == "fresh":
        _clear(checkpoint_dir)
    parts = build_parts(device, start.kind == "fresh")
    optimizer = parts.build_optimizer()
    start_epoch, history, seen_ops = 0, [], []
    current_phase: str | None = None
    if start.state is not None:
        try:
            parts.load_extra_state(start.state.get("extra_state", {}))
            _load_state_dicts(parts, start.state)
            optimizer.load_state_dict(start.state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:  # the code changed the model's parameters
            if start.kind != "reuse":
                raise
            raise UserError(f"the finished weights in {checkpoint} do not fit this code's model "
                            f"({str(exc).splitlines()[0]}); rerun without reuse_weights to retrain") from None
        restore_rng_state(start.state["rng"])
        start_epoch, history = start.state["epoch"], start.state["history"]
        seen_ops = start.state.get("nondeterministic_ops", [])
        current_phase = start.state.get("phase") or parts.phase_of(start_epoch - 1)

    parts.epoch_counters()  # counters start from this run's first epoch
    progress_to = (progress_file or sys.stderr) if progress else None
    with NondeterministicOps(seen_ops) as nondeterministic:
        for epoch in range(start_epoch, parts.epochs):
            phase = parts.phase_of(epoch)
            if current_phase is not None and phase != current_phase:
                # A new phase starts with a fresh optimizer: no momentum carried across.
                optimizer = parts.build_optimizer()
                log.info("epoch %d starts phase %s with a fresh optimizer", epoch + 1, phase)
            current_phase = phase
            if parts.apply_phase is not None:
                parts.apply_phase(phase)
            else:
                parts.model.train()
            for callback in parts.callbacks:
                callback(epoch)
            lr = parts.learning_rate(epoch)
            set_learning_rate(optimizer, lr)
            try:
                stats = _train_epoch(parts, epoch_loader(parts, seed, epoch), optimizer, epoch, progress_to)
            except TrainingDiverged as diverged:
                entry = {"epoch": diverged.epoch, "iteration": diverged.iteration, "loss": str(diverged.loss),
                         "phase": phase, "seed": seed, "message": str(diverged)}
                log.warning("recorded as this seed's result (no metrics, no weights): %s", diverged)
                return _write_diverged(cell, seed, Path(out_dir), entry, history, _run_provenance(
                    device, determinism, nondeterministic.messages, started, start, start_epoch))
            history.append({"epoch": epoch + 1, "phase": phase, "lr": lr, **stats, **parts.epoch_counters()})
            if parts.epoch_evaluate is not None:
                # Evaluation draws no random numbers, but the RNG state is restored anyway so
                # that a run with the curve trains exactly like one without it.
                saved = rng_state()
                history[-1]["eval"] = parts.epoch_evaluate()
                restore_rng_state(saved)
            log.info("epoch %d/%d %s lr=%.2g loss=%.4f", epoch + 1, parts.epochs, phase, lr,
                     stats.get("loss", float("nan")))
            state = {
                "epoch": epoch + 1, "phase": phase, **_state_dicts(parts), "optimizer": optimizer.state_dict(),
                "extra_state": parts.extra_state(), "history": history, "rng": rng_state(),
                "cell_hash": cell_hash(cell), "code_version": code_version(),
                "nondeterministic_ops": list(nondeterministic.messages),
            }
            atomic_write(checkpoint, lambda tmp: torch.save(state, tmp))
        metrics = parts.evaluate()
    log.info("evaluation: %s", metrics)
    out_dir = Path(out_dir)
    atomic_write(out_dir / "model.pt", lambda tmp: torch.save(
        {"cell": cell, **parts.model_record(), **_state_dicts(parts)}, tmp))
    record = {
        "cell_id_hash": cell_hash(cell),
        "cell": cell,
        "seed": seed,
        "metrics": metrics,
        "history": history,
        "provenance": _run_provenance(device, determinism, nondeterministic.messages, started, start, start_epoch),
    }
    record.update(parts.record_extra(history))
    atomic_write_json(out_dir / "metrics.json", record)
    if start.kind != "reuse":  # a reused run's marker already describes the weights
        atomic_write_json(checkpoint_dir / COMPLETED_NAME, {
            "code_version": code_version(), **git_state(), "epoch": parts.epochs,
            "cell_hash": cell_hash(cell), "metrics": str(out_dir / "metrics.json"),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return record
