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


def claim_target(claim: dict) -> str:
    """What a claim is about: its table id, or "fig5" / "fig5 panel a"."""
    if "table" in claim:
        return claim["table"]
    return claim["figure"] + (f" panel {claim['panel']}" if "panel" in claim else "")


def claim_rows(claim: dict) -> list[str]:
    """The rows a claim names, in its order: `row`/`rows` then `than`."""
    rows = ([claim["row"]] if "row" in claim else []) + list(claim.get("rows", []))
    return rows + list(claim.get("than", []))


def _figure_as_table(spec: dict, claim: dict) -> tuple[dict | None, str | None]:
    """A figure claim's plot as a table-shaped spec (claims.figure_table), or the problem."""
    from dmlrepro.claims.figure_table import plot_spec

    figures = spec.get("figures", {})
    figure = figures.get(claim["figure"])
    if figure is None:
        return None, f"figure {claim['figure']!r} is not a figure of this spec" + _suggest(claim["figure"], list(figures))
    panels = [p["panel"] for p in figure.get("panels", [])]
    if panels and claim.get("panel") not in panels:
        return None, f"{claim['figure']} has panels {', '.join(panels)}: name one under `panel`"
    if not panels and "panel" in claim:
        return None, f"{claim['figure']} has no panels"
    plot = figure if not panels else figure["panels"][panels.index(claim["panel"])]
    if "metric" not in plot:
        return None, f"{claim['figure']} draws no metric (kind {figure['kind']}): nothing to compare"
    return plot_spec(claim["figure"], figure, claim.get("panel")), None


def claim_problem(spec: dict) -> tuple[str, str] | None:
    """The first problem in the spec's claims as (place, message), or None."""
    seen: set[str] = set()
    for index, claim in enumerate(spec.get("claims", [])):
        place = f"claims[{index}] '{claim['id']}'"
        if claim["id"] in seen:
            return place, "duplicate claim id (make it unique)"
        seen.add(claim["id"])
        if ("table" in claim) == ("figure" in claim):
            return place, "a claim names exactly one of `table` and `figure`"
        if "figure" in claim:
            table, problem = _figure_as_table(spec, claim)
            if problem:
                return place, problem
        else:
            table = spec["tables"].get(claim["table"])
            if table is None:
                return place, f"table {claim['table']!r} is not a table of this spec" + _suggest(claim["table"], list(spec["tables"]))
            if "panel" in claim:
                return place, "`panel` belongs to a figure claim"
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
        where = claim_target(claim)
        what = ("a source.row", "a column id") if "table" in claim else ("a series label or x value", "a dataset")
        sources = [row["source"]["row"] for row in table["rows"]]
        for name in claim_rows(claim):
            if name not in sources:
                return place, f"row {name!r} is not {what[0]} of {where}" + _suggest(name, sources)
        columns = [c["id"] for c in table["columns"]]
        for column in claim["columns"]:
            if column not in columns:
                return place, f"column {column!r} is not {what[1]} of {where}" + _suggest(column, columns)
        if claim.get("over") == "mean" and len(claim["columns"]) < 2:
            return place, "over: mean needs at least two columns"
        for column in claim.get("paper_p", {}):
            if column not in claim["columns"] or claim.get("over") == "mean":
                return place, (f"paper_p names column {column!r}, which is not one of the claim's own columns "
                               "(compared one by one); name one of " + ", ".join(claim["columns"]))
    return None
