"""Cross-checks of a paper spec's `claims:` (what the schema cannot see): every row a claim names is
a source.row of its table, every column an id of it, and the keys fit the claim's kind.

Called by dmlrepro.specs.paper_spec at load time, so a claim naming a row or column the table does
not have stops the workflow at start-up with one line.
"""

from __future__ import annotations

import difflib

KIND_KEYS = {
    "compare": {"required": ("than",), "directions": ("higher", "lower"), "default": None},
    "trend": {"required": ("rows",), "directions": ("increasing", "decreasing"), "default": "increasing"},
}


def _suggest(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def claim_rows(claim: dict) -> list[str]:
    """The rows a claim names, in its order: `row`/`rows` then `than`."""
    rows = ([claim["row"]] if "row" in claim else []) + list(claim.get("rows", []))
    return rows + list(claim.get("than", []))


def claim_problem(spec: dict) -> tuple[str, str] | None:
    """The first problem in the spec's claims as (place, message), or None."""
    seen: set[str] = set()
    for index, claim in enumerate(spec.get("claims", [])):
        place = f"claims[{index}] '{claim['id']}'"
        if claim["id"] in seen:
            return place, "duplicate claim id (make it unique)"
        seen.add(claim["id"])
        table = spec["tables"].get(claim["table"])
        if table is None:
            return place, f"table {claim['table']!r} is not a table of this spec" + _suggest(claim["table"], list(spec["tables"]))
        kind = KIND_KEYS[claim["kind"]]
        for key in kind["required"]:
            if key not in claim:
                return place, f"a {claim['kind']} claim needs `{key}`"
        if claim["kind"] == "compare":
            if ("row" in claim) == ("rows" in claim):
                return place, "a compare claim needs exactly one of `row` and `rows`"
            if "direction" not in claim:
                return place, "a compare claim needs `direction` (higher or lower)"
        elif "row" in claim or "than" in claim:
            return place, "a trend claim names its rows in order under `rows` only"
        direction = claim.get("direction", kind["default"])
        if direction not in kind["directions"]:
            return place, f"direction {direction!r} does not fit a {claim['kind']} claim (use {' or '.join(kind['directions'])})"
        sources = [row["source"]["row"] for row in table["rows"]]
        for name in claim_rows(claim):
            if name not in sources:
                return place, f"row {name!r} is not a source.row of {claim['table']}" + _suggest(name, sources)
        columns = [c["id"] for c in table["columns"]]
        for column in claim["columns"]:
            if column not in columns:
                return place, f"column {column!r} is not a column id of {claim['table']}" + _suggest(column, columns)
        if claim.get("over") == "mean" and len(claim["columns"]) < 2:
            return place, "over: mean needs at least two columns"
    return None
