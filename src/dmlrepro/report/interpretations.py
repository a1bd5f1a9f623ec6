"""Every interpretation the harness made for a paper, gathered from where it is written (never
retyped): the spec's notes (paper, tables, figures, claims), the consistency checks' notes, and
the README's faithfulness sections that concern the paper."""

from __future__ import annotations

import re
from pathlib import Path

FAITHFULNESS_HEADING = "## Faithfulness"


def spec_notes(spec: dict) -> list[tuple[str, str]]:
    """(where, note) for every `notes` of the spec, in file order."""
    out = []
    if spec.get("notes"):
        out.append(("spec", spec["notes"]))
    for table_id, table in spec["tables"].items():
        if table.get("notes"):
            out.append((table_id, table["notes"]))
        for row in table["rows"]:
            if row.get("notes"):
                out.append((f"{table_id} / {row['source']['row']}", row["notes"]))
    for figure_id, figure in spec.get("figures", {}).items():
        if figure.get("notes"):
            out.append((figure_id, figure["notes"]))
    for claim in spec.get("claims", []):
        if claim.get("notes"):
            out.append((f"claim {claim['id']}", claim["notes"]))
    return out


def check_notes(checks: list[dict]) -> list[tuple[str, str]]:
    return [(f"consistency {c['id']}", c["notes"]) for c in checks if c.get("notes")]


def _key(text: str) -> str:
    return re.sub(r"[-_]", "", text.lower())


def readme_sections(readme: str | Path, paper: str) -> list[tuple[str, str]]:
    """(heading, Markdown body) of each ### section under the README's faithfulness heading whose
    heading or text names the paper (its key as a word, hyphens ignored: "AiA-Net" is aianet)."""
    path = Path(readme)
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    start = text.find(FAITHFULNESS_HEADING)
    if start < 0:
        return []
    end = text.find("\n## ", start + len(FAITHFULNESS_HEADING))
    part = text[start: end if end > 0 else len(text)]
    sections = re.split(r"\n(?=### )", part)
    pattern = re.compile(rf"\b{re.escape(paper)}\b")
    out = []
    for section in sections[1:]:
        heading, _, body = section.partition("\n")
        if pattern.search(_key(section)):
            out.append((heading.lstrip("#").strip(), body.strip()))
    return out
