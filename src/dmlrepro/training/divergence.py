"""A run whose loss became NaN or infinite, kept as a result rather than a failed job.

Training is deterministic (seeds, deterministic kernels, exact resume), so a run that diverges
diverges again when it is rerun: retrying tells nothing new, and a failed job leaves every table,
claim and report downstream of it unwritten.  So the engine records the divergence as the cell's
result for that seed:

* ``metrics.json``: no metrics, a ``diverged`` entry (epoch and iteration, 1-based, the loss, the
  phase and the engine's message), the history up to the last finished epoch, the provenance;
* ``model.pt``: the cell and the same ``diverged`` entry, and no weights;
* the checkpoint of the last finished epoch stays and no completion marker is written (there are no
  finished weights), so a forced rerun resumes from it and diverges, or not, again.

Downstream, a table cell with a diverged seed is ``not computed: diverged (...)`` (never a mean of
the seeds that survived, which would be a biased number), a claim that needs it is not computed,
and whatever needs the trained weights (a figure, the protocol variants) says in one line that this
seed has none.  The fix is the cell's setting (a lower learning rate in its preset), which gives the
cell a new id; the record says so.
"""

from __future__ import annotations

from pathlib import Path

from dmlrepro.errors import UserError

#: The key of the divergence entry in metrics.json and model.pt.
DIVERGED = "diverged"


class DivergedRunError(UserError):
    """Something needs the trained weights of a run that diverged (it has none)."""


def divergence_of(record: dict) -> dict | None:
    """The `diverged` entry of a metrics.json record or a model.pt state, or None."""
    entry = record.get(DIVERGED) if isinstance(record, dict) else None
    return entry if isinstance(entry, dict) else None


def describe(record: dict) -> str:
    """'seed 0 diverged at epoch 8, iteration 5 (loss nan, phase rpp_classifier)', of a metrics.json
    record or a model.pt state (whose entry carries the seed)."""
    entry = divergence_of(record) or {}
    seed = record.get("seed", entry.get("seed"))
    where = f"epoch {entry.get('epoch')}, iteration {entry.get('iteration')}"
    detail = f"loss {entry.get('loss')}" + (f", phase {entry['phase']}" if entry.get("phase") else "")
    return f"{'seed ' + str(seed) + ' ' if seed is not None else ''}diverged at {where} ({detail})"


def diverged_runs(runs) -> list[str]:
    """'<cell>: seed s diverged at ...' for each (cell id, metrics.json record) of `runs` that
    diverged: what a table or plot cell says instead of a measurement."""
    return [f"{cell_id}: {describe(record)}" for cell_id, record in runs if divergence_of(record)]


def require_weights(state: dict, path: Path | str, cell_id: str | None = None) -> None:
    """Raise a one-line error when `state` (a loaded model.pt) is a diverged run's record."""
    if divergence_of(state) is None:
        return
    name = cell_id or Path(path).parent.parent.name
    raise DivergedRunError(
        f"{path}: cell {name} {describe(state)}, so it has no trained "
        "weights; lower the learning rate of its preset (a new cell) or draw from another cell")
