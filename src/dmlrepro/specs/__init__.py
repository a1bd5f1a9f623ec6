"""Paper specs: paper_tables/<paper>.yaml, the single source of truth for what each table row
reports and which cell (resolved experiment config) regenerates it."""

from dmlrepro.specs.paper_spec import (
    PaperSpecError,
    iter_rows,
    load_all_specs,
    load_paper_spec,
    reported_literals,
    resolve_cell,
    spec_schema_path,
)

__all__ = [
    "PaperSpecError",
    "iter_rows",
    "load_all_specs",
    "load_paper_spec",
    "reported_literals",
    "resolve_cell",
    "spec_schema_path",
]
