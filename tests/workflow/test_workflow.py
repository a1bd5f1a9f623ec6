"""The workflow itself, run by Snakemake as a user would: dry runs list the right jobs, bad input
stops before any job, and one tiny end-to-end run produces a table from trained cells."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def snakemake(*args: str, cwd: Path = REPO, timeout: int = 900) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def jobs(result: subprocess.CompletedProcess, rule: str) -> int:
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == rule and parts[1].isdigit():
            return int(parts[1])
    return 0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A copy of the workflow's files, so that runs never touch the repository's results/."""
    root = tmp_path_factory.mktemp("wf")
    for name in ("Snakefile", "workflow", "config", "paper_tables", "profiles", "src"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, root / name)
    # CSALR's spec only: the workflow's rules are the same for every paper, and planning one paper
    # (not every cell of five) keeps each Snakemake call to seconds.
    for spec in (root / "paper_tables").glob("*.yaml"):
        if spec.name != "csalr.yaml":
            spec.unlink()
    return root


def test_dry_run_table2_lists_one_cell_per_sample_num_and_dataset(workdir):
    result = snakemake("-n", "csalr_table2", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert jobs(result, "train_cell") == 8


def test_dry_run_table3_reuses_the_96_sample_cell(workdir):
    table2 = snakemake("-n", "csalr_table2", cwd=workdir)
    both = snakemake("-n", "csalr_table2", "csalr_table3", cwd=workdir)
    # Table 3 adds groups 1, 4, 8 on two datasets; its 2-group row is Table 2's 96-sample cell.
    assert jobs(both, "train_cell") == jobs(table2, "train_cell") + 6


def test_paper_scale_checks_the_imagenet_weights_once_before_training(workdir, tmp_path):
    result = snakemake("-n", "csalr_table2", "--config", "scale=paper", f"data_root={tmp_path}", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert jobs(result, "check_pretrained_weights") == 1 and jobs(result, "train_cell") == 8


@pytest.mark.parametrize(
    "config, message",
    [
        ("scale=enormous", "scale"),
        ("data_root=/nonexistent/reid", "/nonexistent/reid"),
    ],
)
def test_bad_config_stops_before_any_job(workdir, config, message):
    result = snakemake("-n", "csalr_table2", "--config", config, cwd=workdir)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_unknown_target_lists_valid_ones(workdir):
    result = snakemake("--cores", "1", "tabel2", cwd=workdir)
    assert result.returncode != 0
    assert "valid targets" in result.stdout + result.stderr and "csalr_table2" in result.stdout + result.stderr
    assert not (workdir / "tabel2").exists()


@pytest.mark.slow
def test_tiny_end_to_end_run_with_two_seeds_renders_table2_figure4_and_report(workdir):
    result = snakemake("--cores", "2", "csalr_table2", "csalr_fig4", "--config", "scale=tiny", "seeds=[0,1]", cwd=workdir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    md = (workdir / "results/csalr/table2.md").read_text()
    assert "Regenerated at scale `tiny` with seeds [0, 1] (n = 2)" in md and "PCB + CSALR" in md
    assert "±" in md and "[" in md  # mean ± std [95% t-interval]
    for ext in ("csv", "tex", "diff.csv"):
        assert (workdir / f"results/csalr/table2.{ext}").stat().st_size > 0
    diff = (workdir / "results/csalr/table2.diff.csv").read_text()
    assert "ci95_low" in diff and "not comparable" in diff  # tiny scale: never judged against the paper
    assert (workdir / "results/csalr/fig4.png").read_bytes()[:4] == b"\x89PNG"
    # Nothing left to do: the outputs are complete and up to date.
    again = snakemake("-n", "--cores", "2", "csalr_table2", "--config", "scale=tiny", "seeds=[0,1]", cwd=workdir)
    assert jobs(again, "train_cell") == 0, again.stdout[-2000:]
    report = snakemake("--report", "report.html", "csalr_table2", "csalr_fig4", "--config", "scale=tiny", "seeds=[0,1]", cwd=workdir)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (workdir / "report.html").read_text()
    assert "table2.diff.csv" in html and "fig4.png" in html
    forced_rerun_retrains_unless_reuse_weights(workdir)


def forced_rerun_retrains_unless_reuse_weights(workdir: Path) -> None:
    """A forced rerun of a finished cell retrains it from scratch; with reuse_weights=true it
    evaluates the finished weights and says so; neither makes other jobs outdated."""
    import json

    metrics = sorted((workdir / "results/cells").glob("*/seed0/metrics.json"))[0]
    target = str(metrics.relative_to(workdir))
    log = workdir / "results/logs/cells" / metrics.parent.parent.name / "seed0.log"
    config = ["--config", "scale=tiny", "seeds=[0,1]"]
    before = json.loads(metrics.read_text())
    assert before["provenance"]["code_version"] and before["provenance"]["reused_weights"] is None

    forced = snakemake("--cores", "2", target, "--forcerun", "train_cell", *config, cwd=workdir)
    assert forced.returncode == 0, forced.stderr[-3000:]
    text = log.read_text()
    assert "holds a finished run" in text and "retraining from scratch" in text
    epochs = before["cell"]["training"]["epochs"]
    assert f"epoch {epochs}/{epochs}" in text.split("retraining from scratch")[-1]
    retrained = json.loads(metrics.read_text())
    assert retrained["provenance"]["resumed_from_epoch"] == 0 and retrained["metrics"] == before["metrics"]

    reused = snakemake("--cores", "2", target, "--forcerun", "train_cell", *config, "reuse_weights=true", cwd=workdir)
    assert reused.returncode == 0, reused.stderr[-3000:]
    record = json.loads(metrics.read_text())
    assert record["provenance"]["reused_weights"] == {
        "code_version": retrained["provenance"]["code_version"], "commit": retrained["provenance"]["commit"],
        "same_code": True}
    assert record["metrics"] == before["metrics"]
    assert "epoch 1/" not in log.read_text().split("reusing the finished weights")[-1]
    # Switching reuse_weights back off is no reason to rerun anything.
    again = snakemake("-n", "--cores", "2", target, *config, cwd=workdir)
    assert jobs(again, "train_cell") == 0, again.stdout[-2000:]
