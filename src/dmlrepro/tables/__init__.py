"""Regenerated tables: collect measured values, lay them out like the paper, diff them."""

from dmlrepro.tables.aggregate import MeasuredTable, collect_table
from dmlrepro.tables.diff import diff_rows
from dmlrepro.tables.render import render_table

__all__ = ["MeasuredTable", "collect_table", "diff_rows", "render_table"]
