"""The attention scaling study (dmlrepro.resources.scaling): a tiny run writes its CSV and PNG, SA's
memory grows faster with the input than CSALR's, and points over budget are recorded as skipped
with no number in their place."""

from __future__ import annotations

import csv

import pytest

from dmlrepro.resources import scaling
from dmlrepro.resources.peak_memory import cpu_peak_supported
from dmlrepro.resources.scaling import Budget, Variant, estimate_mb, measure_point, parse_size, run_scaling, variants

pytestmark = pytest.mark.skipif(not cpu_peak_supported(), reason="needs Linux /proc/self/clear_refs")


def test_variants_are_the_papers_modules_at_every_group_count():
    names = [v.name for v in variants()]
    assert names == ["sa", "sa_sdpa", "csa-g1", "csa-g2", "csa-g4", "csa-g8",
                     "csalr-g1", "csalr-g2", "csalr-g4", "csalr-g8"]
    assert Variant("csalr", 2, landmarks=96).kwargs() == {"samples": 96, "groups": 2}
    assert Variant("csa", 4, bases=32).kwargs() == {"bases": 32, "groups": 4}
    with pytest.raises(ValueError, match="methods"):
        variants(("sa", "lin"))


def test_sizes_must_be_multiples_of_the_stage_1_stride():
    assert parse_size("384x128") == (384, 128)
    for bad in ("384", "383x128", "0x128"):
        with pytest.raises(Exception, match="size"):
            parse_size(bad)


def test_the_estimate_is_quadratic_for_sa_and_linear_for_csalr():
    sa, csalr = Variant("sa"), Variant("csalr", 2, landmarks=96)
    assert estimate_mb(sa, 4 * 3072, 1) > 8 * estimate_mb(sa, 3072, 1)
    assert estimate_mb(csalr, 4 * 3072, 1) == pytest.approx(4 * estimate_mb(csalr, 3072, 1))


def test_points_over_budget_are_skipped_without_inventing_numbers():
    points = run_scaling([(192, 64), (384, 128)], [Variant("sa")], 8, "cpu", 1, 1,
                         Budget(memory_mb=1, time_s=60), log=lambda _: None)
    assert [p.result["status"] for p in points] == ["skipped", "skipped"]
    assert "estimated" in points[0].result["reason"] and "not run" in points[0].result["reason"]
    assert "smaller input" in points[1].result["reason"]
    for point in points:
        row = point.row()
        assert row["peak_mb"] is None and row["time_s"] is None and row["status"] == "skipped"


def test_a_worker_past_the_time_budget_is_killed_and_recorded_as_skipped():
    result = measure_point(Variant("sa"), 64, 32, 1, "cpu", 1, 1, Budget(memory_mb=1e6, time_s=0.2))
    assert result["status"] == "skipped" and "time budget" in result["reason"]
    assert "peak_mb" not in result and "time_s" not in result


def test_a_tiny_run_writes_csv_and_png_and_sa_grows_faster_than_csalr(tmp_path):
    out_csv, out_png = tmp_path / "scaling.csv", tmp_path / "scaling.png"
    code = scaling.main([
        "--out-csv", str(out_csv), "--out-png", str(out_png), "--device", "cpu",
        "--sizes", "128x64", "256x128", "--methods", "sa", "csalr", "--groups", "1",
        "--batch", "2", "--iterations", "1", "--threads", "1",
    ])
    assert code == 0
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["variant"], r["positions"], r["status"]) for r in rows] == [
        ("sa", "512", "measured"), ("csalr-g1", "512", "measured"),
        ("sa", "2048", "measured"), ("csalr-g1", "2048", "measured"),
    ]
    assert all(r["device"].startswith("cpu") and r["batch"] == "2" and r["pid"] for r in rows)
    assert len({r["pid"] for r in rows}) == 4  # every point in its own process
    # ... and its time in another one, with glibc's default allocator (see measure_point)
    assert all(r["time_pid"] and r["time_pid"] != r["pid"] and "default malloc" in r["clock"] for r in rows)
    assert all("MALLOC_MMAP_THRESHOLD_" in r["memory_method"] for r in rows)
    peak = {(r["variant"], int(r["positions"])): float(r["peak_mb_per_image"]) for r in rows}
    sa_growth = peak[("sa", 2048)] / peak[("sa", 512)]
    csalr_growth = peak[("csalr-g1", 2048)] / peak[("csalr-g1", 512)]
    # 4× the positions: the n×n map grows 16×, CSALR's n×m and n×C tensors 4×.
    assert sa_growth > 8 and csalr_growth < 6 and sa_growth > 2 * csalr_growth, (sa_growth, csalr_growth)
    assert peak[("sa", 2048)] > 2 * peak[("csalr-g1", 2048)]
    # The figure can be redrawn from the CSV alone, which reads back exactly.
    out_png.unlink()
    assert scaling.main(["--out-csv", str(out_csv), "--out-png", str(out_png), "--plot-only"]) == 0
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    text = out_csv.read_text()
    assert scaling.to_csv(scaling.points_from_csv(text)).replace("\r\n", "\n") == text
