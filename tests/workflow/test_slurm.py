"""profiles/slurm against a real scheduler: scripts/slurm-local.sh starts a single-node SLURM with
accounting, Snakemake submits a tiny table's jobs through the profile, and SLURM's own accounting
shows that every training cell ran as a SLURM job.  A profile whose partition is still the
placeholder stops before any job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "slurm-local.sh"
WORKFLOW_FILES = ("Snakefile", "workflow", "config", "paper_tables", "profiles", "src")
# CSALR Table 4: 4 rows x 2 datasets = 8 training cells, the smallest accuracy table.
TARGET, TABLE, CELLS = "csalr_table4", "results/csalr/table4.md", 8


def snakemake(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 1200):
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(env or os.environ)
    env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def copy_workflow(root: Path) -> Path:
    """A copy of the workflow's files (as tests/workflow/test_workflow.py makes), so that runs
    never touch the repository's results/ or its profile."""
    for name in WORKFLOW_FILES:
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / name)
    # CSALR's spec only: the workflow's rules are the same for every paper, and planning one paper
    # (not every cell of five) keeps each Snakemake call to seconds.
    for spec in (root / "paper_tables").glob("*.yaml"):
        if spec.name != "csalr.yaml":
            spec.unlink()
    return root


@pytest.fixture(scope="module")
def slurm_plugin():
    return pytest.importorskip(
        "snakemake_executor_plugin_slurm", reason="pip install snakemake-executor-plugin-slurm==2.8.0"
    )


@pytest.fixture(scope="module")
def slurm(slurm_plugin):
    """A running single-node SLURM; yields the environment that reaches it (SLURM_CONF, PATH).
    Stops exactly the daemons the script started, whatever the test did."""
    # Under /tmp, not pytest's 0700 tmp folder: munged needs a world-traversable socket path.
    state = Path(tempfile.mkdtemp(prefix="dmlrepro-slurm-", dir="/tmp"))
    started = time.monotonic()
    result = subprocess.run([str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=900)
    try:
        if result.returncode == 3:
            reason = (result.stderr.strip().splitlines() or ["scripts/slurm-local.sh exited 3"])[-1]
            pytest.skip(f"no local SLURM on this machine: {reason}")
        assert result.returncode == 0, result.stderr
        print(f"SLURM started in {time.monotonic() - started:.1f} s")
        # The script's own idempotence: a second start finds it running and changes nothing.
        again = subprocess.run([str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
        sourced = subprocess.run(
            ["bash", "-c", f'. "{state}/env" && env -0'], capture_output=True, text=True, check=True
        )
        env = dict(item.split("=", 1) for item in sourced.stdout.split("\0") if "=" in item)
        yield {"env": env, "state": state}
    finally:
        stop = subprocess.run([str(SCRIPT), "stop", str(state)], capture_output=True, text=True, timeout=300)
        status = subprocess.run([str(SCRIPT), "status", str(state)], capture_output=True, text=True)
        shutil.rmtree(state, ignore_errors=True)
        assert stop.returncode == 0, stop.stderr
        assert status.stdout.strip() == "stopped", status.stdout


def fill_profile(workdir: Path, partition: str, account: str) -> None:
    """What a user does once: put the cluster's partition and account into the profile."""
    profile = workdir / "profiles/slurm/config.yaml"
    text = profile.read_text()
    assert '"<your-partition>"' in text and '"<your-account>"' in text
    profile.write_text(text.replace('"<your-partition>"', partition).replace('"<your-account>"', account))


def sacct_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    fields = ["JobIDRaw", "Comment", "State", "Account", "Partition"]
    result = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "2000-01-01", f"--format={','.join(fields)}"],
        capture_output=True, text=True, env=env, check=True,
    )
    return [dict(zip(fields, line.split("|"))) for line in result.stdout.splitlines() if line]


@pytest.mark.slow
def test_tiny_table_trains_every_cell_as_a_slurm_job(slurm, tmp_path):
    env = slurm["env"]
    workdir = copy_workflow(tmp_path)
    fill_profile(workdir, env["SLURM_LOCAL_PARTITION"], env["SLURM_LOCAL_ACCOUNT"])

    started = time.monotonic()
    result = snakemake(
        "--profile", "profiles/slurm", TARGET, "--config", "scale=tiny",
        # The plugin's first status check comes 40 s after a submission by default.
        "--slurm-init-seconds-before-status-checks", "5",
        cwd=workdir, env=env,
    )
    print(f"{TARGET} at tiny scale through SLURM: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Regenerated at scale `tiny`" in (workdir / TABLE).read_text()

    # SLURM's accounting: every cell was a completed job (the plugin puts the rule and wildcards
    # in the job's comment), charged to the profile's account and partition.
    jobs = sacct_jobs(env)
    trained = {
        job["JobIDRaw"]: job["Comment"]
        for job in jobs
        if job["Comment"].startswith("rule_train_cell_") and job["State"] == "COMPLETED"
    }
    assert len(set(trained.values())) == CELLS, jobs
    assert {job["Account"] for job in jobs} == {env["SLURM_LOCAL_ACCOUNT"]}
    assert {job["Partition"] for job in jobs} == {env["SLURM_LOCAL_PARTITION"]}
    # And each cell's own record names the SLURM job that trained it.
    recorded = [
        json.loads(path.read_text())["provenance"]["slurm_job_id"]
        for path in (workdir / "results/cells").glob("*/seed*/metrics.json")
    ]
    assert len(recorded) == CELLS and set(recorded) <= set(trained), (recorded, trained)


def test_profile_with_the_placeholder_partition_stops_before_any_job(slurm_plugin, tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake("--profile", "profiles/slurm", "-n", TARGET, "--config", "scale=tiny", cwd=workdir, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "slurm_partition=<your-partition>" in output and "profiles/slurm/config.yaml" in output, output[-3000:]
    assert "train_cell" not in output
