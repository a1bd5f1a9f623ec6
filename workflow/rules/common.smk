# Helpers shared by the rules: the plan (paper specs → cells), paths, threads.
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from dmlrepro.errors import UserError  # noqa: E402
from dmlrepro.plan import build_plan, data_key, data_root_for  # noqa: E402

# `--config reuse_weights=true` reaches us as the string "true" (Snakemake parses only True/False).
if str(config.get("reuse_weights")).lower() in ("true", "false"):
    config["reuse_weights"] = str(config["reuse_weights"]).lower() == "true"

# Validate before any job runs: an invalid value, an unknown scale, groups that do not divide the
# channels or more landmarks than positions stop the workflow here with one line naming the fix.
# UserError (ConfigError, PaperSpecError, ... derive from it) is the harness's own checks; plain
# ValueError stays in the tuple while some checks still raise it (cells.resolve_reid_cell,
# validate.validate_plan, the attention modules' constructors).  Anything else is a bug, and
# Snakemake shows its traceback.
try:
    PLAN = build_plan(config)
    if workflow.is_main_process:  # jobs re-parse the workflow; validating once is enough
        from dmlrepro.validate import validate_plan  # noqa: E402

        validate_plan(PLAN)
except (UserError, ValueError) as _exc:
    raise WorkflowError(f"dmlrepro: {str(_exc).splitlines()[0] if str(_exc) else type(_exc).__name__}") from None

SCALE = PLAN.scale
DATA_ROOT = data_root_for(PLAN.config)
# Where a dataset's check record lives: one folder per data root (data/synthetic, data/synthetic-tiny,
# or a real root), so that checking another root never rewrites, and so retriggers, the record the
# cells of this root depend on.
DATA_KEY = data_key(DATA_ROOT)


def dataset_record(dataset):
    return f"{RESULTS}/datasets/{DATA_KEY}/{dataset}.json"
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
    dataset=r"[a-z0-9_]+",
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
    # Inside a SLURM job step the allocation, not the node, bounds the threads: srun sets
    # SLURM_CPUS_PER_TASK, and without cgroups nothing else stops a job oversubscribing the node.
    allocated = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or os.cpu_count() or 1
    return min(threads, SCALE["max_threads_per_cell"], allocated)


# ---- cluster resources (profiles/slurm) ------------------------------------------------------
# What one job asks SLURM for, by rule and scale preset, for its first attempt: runtime in
# minutes, memory in MB.  A retry (attempt 2, 3) asks for `attempt` times the time and memory,
# since a cluster job that failed most likely hit one of those limits.  Only paper-scale jobs ask
# for a GPU.  Local runs ignore all of it (mem_mb only counts under --resources mem_mb=N).
CLUSTER_RESOURCES = {
    "train_cell": {
        "tiny": {"runtime": 15, "mem_mb": 2000, "cpus_per_task": 1},
        "smoke": {"runtime": 60, "mem_mb": 4000, "cpus_per_task": 2},
        "paper": {"runtime": 8 * 60, "mem_mb": 32000, "cpus_per_task": 8, "gpu": 1},
    },
    "measure_resources": {
        "tiny": {"runtime": 30, "mem_mb": 8000, "cpus_per_task": 2},
        "smoke": {"runtime": 30, "mem_mb": 8000, "cpus_per_task": 2},
        "paper": {"runtime": 60, "mem_mb": 16000, "cpus_per_task": 4, "gpu": 1},
    },
}


def cluster_resource(rule_name, resource):
    """A `resources:` value for `rule_name`: the preset's number, scaled by the attempt for
    runtime and memory; None (unset) where the preset has none; a preset not listed above is
    sized like `smoke`."""
    by_scale = CLUSTER_RESOURCES[rule_name]
    base = by_scale.get(SCALE["name"], by_scale["smoke"]).get(resource)
    if base is not None and resource in ("runtime", "mem_mb"):
        return lambda wildcards, attempt: base * attempt
    return base


def _unfilled_placeholders():
    """Resources still set to a profile placeholder such as slurm_partition: "<your-partition>"."""
    settings = workflow.resource_settings
    scopes = [("", settings.default_resources or {})]
    scopes += [(f"{rule}:", res) for rule, res in (settings.overwrite_resources or {}).items()]
    found = []
    for prefix, resources in scopes:
        for name, res in resources.items():
            raw = str(getattr(res, "raw", res)).strip().strip("'\"")
            if raw.startswith("<") and raw.endswith(">"):
                found.append(f"{prefix}{name}={raw}")
    return found


if _placeholders := _unfilled_placeholders():
    raise WorkflowError(
        f"dmlrepro: the cluster profile still has placeholders ({', '.join(_placeholders)}): "
        "set them under default-resources in profiles/slurm/config.yaml "
        "(`sinfo -s` lists partitions; delete slurm_account where your cluster has no accounts)"
    )
