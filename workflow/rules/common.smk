# Helpers shared by the rules: the plan (paper specs → cells), paths, threads.
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from dmlrepro.config import ConfigError  # noqa: E402
from dmlrepro.plan import build_plan, data_root_for, SYNTHETIC_ROOT  # noqa: E402
from dmlrepro.specs import PaperSpecError  # noqa: E402

# Validate before any job runs: an invalid value, an unknown scale, groups that do not divide the
# channels or more landmarks than positions stop the workflow here with one line naming the fix.
try:
    PLAN = build_plan(config)
    from dmlrepro.validate import validate_plan  # noqa: E402

    validate_plan(PLAN)
except (ConfigError, PaperSpecError, ValueError, FileNotFoundError) as _exc:
    raise WorkflowError(f"dmlrepro: {_exc}") from None

SCALE = PLAN.scale
DATA_ROOT = data_root_for(PLAN.config)
SEEDS = PLAN.config["seeds"]
RESULTS = "results"
CELL_DIR = f"{RESULTS}/cells"
CHECKPOINT_DIR = f"{RESULTS}/checkpoints"
LOG_DIR = f"{RESULTS}/logs"

wildcard_constraints:
    cell=r"[A-Za-z0-9_.-]+",
    seed=r"\d+",
    paper=r"[a-z0-9]+",
    table=r"table[A-Za-z0-9]+",
    figure=r"fig[A-Za-z0-9]+",
    dataset=r"[a-z0-9]+",
    rcell=r"[A-Za-z0-9_.-]+",


def cell_metrics(cell_ids):
    return [f"{CELL_DIR}/{cid}/seed{seed}/metrics.json" for cid in sorted(set(cell_ids)) for seed in SEEDS]


def cell_threads():
    """Snakemake threads for a training job: sized so that no more cells run at once than the
    machine's cores can feed (`--cores 8` on a 2-core machine runs one 2-thread cell at a time)."""
    per_cell = min(os.cpu_count() or 1, SCALE["max_threads_per_cell"])
    fits = max(1, (os.cpu_count() or 1) // per_cell)
    try:
        cores = workflow.cores
    except WorkflowError:  # modes that schedule nothing (--report, --lint) define no cores
        cores = os.cpu_count() or 1
    return max(1, cores // fits)


def torch_threads(threads):
    return min(threads, SCALE["max_threads_per_cell"], os.cpu_count() or 1)
