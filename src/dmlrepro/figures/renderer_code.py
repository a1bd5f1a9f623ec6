"""A figure's renderer code as a rerun trigger: the hash of its module's source and of every module of
dmlrepro.figures it imports, transitively (plotting helpers, shared drawing).  The workflow passes it
as a param of the figure's rule, so after a change of the drawing code Snakemake redraws the figure
(params are a rerun trigger) instead of saying "nothing to be done" over a stale PNG.  Code outside
dmlrepro.figures (models, data) is not followed: what it computes reaches a figure through the cells.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FIGURES_DIR = Path(__file__).resolve().parent
_IMPORT = re.compile(r"^\s*(?:from\s+dmlrepro\.figures\.(\w+)\s+import|from\s+dmlrepro\.figures\s+import\s+([\w, ]+)|"
                     r"import\s+dmlrepro\.figures\.(\w+))", re.MULTILINE)


def figure_modules(renderer: str) -> list[str]:
    """`renderer` and the dmlrepro.figures modules it imports, transitively, sorted."""
    seen: set[str] = set()
    todo = [renderer]
    while todo:
        name = todo.pop()
        path = FIGURES_DIR / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        for match in _IMPORT.finditer(path.read_text()):
            direct, listed, plain = match.groups()
            todo += [direct or plain] if (direct or plain) else [n.strip() for n in listed.split(",")]
    return sorted(seen)


def renderer_code_hash(renderer: str) -> str:
    """sha1 (12 hex digits) over the sources of `figure_modules(renderer)`."""
    digest = hashlib.sha1()
    for name in figure_modules(renderer):
        digest.update(name.encode() + b"\0" + (FIGURES_DIR / f"{name}.py").read_bytes() + b"\0")
    return digest.hexdigest()[:12]
