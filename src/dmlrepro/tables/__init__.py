"""Regenerated tables: collect measured values, lay them out like the paper, diff them."""

from dmlrepro.tables.aggregate import MeasuredTable, Measurement, collect_table
from dmlrepro.tables.comparability import is_synthetic, paper_setting, run_deviations, setting_deviations
from dmlrepro.tables.diff import diff_rows
from dmlrepro.tables.render import render_table
from dmlrepro.tables.tolerance import Tolerance

__all__ = [
    "MeasuredTable", "Measurement", "Tolerance", "collect_table", "diff_rows", "is_synthetic", "paper_setting",
    "render_table", "run_deviations", "setting_deviations",
]
