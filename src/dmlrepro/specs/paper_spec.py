"""Load, validate and resolve paper specs (paper_tables/<paper>.yaml).

The schema (workflow/schemas/paper_spec.schema.yaml) checks shapes, types and enumerations; this
module checks what a schema cannot (cross-references between columns and rows, label lengths,
unique ids, value ranges that depend on a column's metric) and reports the first problem as ONE
line naming the file, the table and row, and what is wrong.
"""

from __future__ import annotations

from dmlrepro.errors import UserError

import copy
import difflib
import functools
import json
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

__all__ = [
    "PaperSpecError",
    "iter_rows",
    "load_all_specs",
    "load_paper_spec",
    "reported_literals",
    "resolve_cell",
    "spec_schema_path",
]

#: Metrics measuring cost rather than accuracy (the schema's `metric` description gives units).
RESOURCE_METRICS = frozenset({"params", "flops", "memory_mb", "fps", "inference_time_ms"})
#: Metrics printed in percent (with every recall@k): a value outside [0, 100] is a transcription error.
PERCENT_METRICS = frozenset(
    {"rank1", "rank5", "rank10", "rank20", "map", "nmi", "fpr95",
     "verification_map", "matching_map", "retrieval_map"}
)
#: Cell keys whose value is a set written as a list: sorted on resolution so that [3, 2] and
#: [2, 3] are one cell.
_SET_VALUED_KEYS = ("stages", "layers", "descriptors")


class PaperSpecError(UserError):
    """A paper spec that does not load; the message is one line: file, where, what."""


def spec_schema_path() -> Path:
    """workflow/schemas/paper_spec.schema.yaml of the repository this package lives in."""
    # src/dmlrepro/specs/paper_spec.py -> parents[3] is the repository root.
    return Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "paper_spec.schema.yaml"


# --------------------------------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (a second `table2:` would silently win)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # unhashable key: let the base constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PaperSpecError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PaperSpecError(f"{path}: invalid YAML: {_one_line(exc)}") from None


@functools.lru_cache(maxsize=None)
def _validator() -> jsonschema.Draft202012Validator:
    path = spec_schema_path()
    if not path.is_file():
        raise PaperSpecError(f"paper spec schema not found at {path}: run dmlrepro from a checkout of its repository")
    schema = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ------------------------------------------------------------------------- error formatting


def row_name(row: Any, index: int) -> str:
    if isinstance(row, dict):
        source = row.get("source")
        if isinstance(source, dict) and isinstance(source.get("row"), str):
            return f"row {index + 1} '{source['row']}'"
        label = row.get("label")
        if isinstance(label, list) and all(isinstance(x, str) for x in label):
            return f"row {index + 1} '{' | '.join(label)}'"
    return f"row {index + 1}"


def _column_name(column: Any, index: int) -> str:
    if isinstance(column, dict) and isinstance(column.get("id"), str):
        return f"column {index + 1} '{column['id']}'"
    return f"column {index + 1}"


def _where(data: Any, path: list) -> tuple[str, list]:
    """Split an instance path into a readable place ("table2 row 3 '...'") and the rest."""
    if len(path) >= 2 and path[0] in ("tables", "figures") and isinstance(data, dict):
        group = data.get(path[0]) or {}
        item = group.get(path[1]) if isinstance(group, dict) else None
        place = str(path[1])
        rest = list(path[2:])
        if path[0] == "tables" and len(rest) >= 2 and rest[0] in ("rows", "columns") and isinstance(rest[1], int):
            seq = item.get(rest[0]) if isinstance(item, dict) else None
            element = seq[rest[1]] if isinstance(seq, list) and rest[1] < len(seq) else None
            name = row_name(element, rest[1]) if rest[0] == "rows" else _column_name(element, rest[1])
            return f"{place} {name}", rest[2:]
        if path[0] == "figures" and len(rest) >= 2 and rest[0] in ("panels", "series") and isinstance(rest[1], int):
            return f"{place} {rest[0][:-1]} {rest[1] + 1}", rest[2:]
        return place, rest
    if path:
        return str(path[0]), list(path[1:])
    return "spec", []


def _suggest(value: Any, choices: list) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _schema_message(error: jsonschema.ValidationError) -> str:
    """A short message for the common mistakes; jsonschema's own otherwise."""
    path = list(error.absolute_path)
    field = next((p for p in reversed(path) if isinstance(p, str)), None)
    if field is not None and path and isinstance(path[-1], int):
        field = f"entry of {field}"
    if "propertyNames" in error.absolute_schema_path and error.validator in ("enum", "const"):
        bad = error.instance
        return f"unknown {field or 'key'} key {bad!r}" + _suggest(bad, _enum_of(error))
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = list(error.schema.get("properties", {}))
        for sub in error.schema.get("allOf", []):
            if isinstance(sub, dict) and "$ref" in sub:
                target = _validator().schema["$defs"].get(sub["$ref"].rsplit("/", 1)[-1], {})
                allowed += list(target.get("properties", {}))
        unexpected = sorted(k for k in error.instance if k not in allowed)
        bad = unexpected[0] if unexpected else "?"
        return f"unknown key {bad!r}" + _suggest(bad, allowed)
    if error.validator == "const":
        return f"{error.instance!r} is not a valid {field or 'value'} here (expected {error.validator_value!r})"
    if error.validator == "enum":
        condition = _then_condition(error)
        if condition:
            return f"{error.instance!r} is not a valid {field or 'value'} when {condition} is set"
        return f"{error.instance!r} is not a valid {field or 'value'}" + _suggest(error.instance, _enum_of(error))
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "label" in error.instance:
        return "a row needs exactly one of `cell` (computed) and `reported_only` (quoted)"
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "kind" in error.instance:
        return "a figure needs exactly one of `dataset`, `datasets` and `panels`"
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "panel" in error.instance:
        return "a panel needs exactly one of `dataset` and `datasets`"
    return error.message


def _then_condition(error: jsonschema.ValidationError) -> str | None:
    """For an error raised by an if/then branch: the keys whose presence triggered it."""
    path = list(error.absolute_schema_path)
    if "then" not in path:
        return None
    root = _validator().schema
    node: Any = root
    try:
        for key in path[: len(path) - path[::-1].index("then") - 1]:
            node = node[key]
            # jsonschema's schema paths step through a `$ref` without naming it.
            while isinstance(node, dict) and "$ref" in node:
                node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    except (KeyError, IndexError, TypeError):
        return None
    required = node.get("if", {}).get("required", []) if isinstance(node, dict) else []
    return ", ".join(f"`{k}`" for k in required) or None


def _enum_of(error: jsonschema.ValidationError) -> list:
    schema = error.schema
    if isinstance(schema, dict):
        if "enum" in schema:
            return list(schema["enum"])
        if "const" in schema:
            return [schema["const"]]
    return list(error.validator_value) if isinstance(error.validator_value, list) else []


def _leaf_errors(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """Descend into anyOf/oneOf contexts to the errors that name the actual mistake."""
    if error.validator == "oneOf" and isinstance(error.instance, dict) and (
        "label" in error.instance or "kind" in error.instance or "panel" in error.instance
    ):
        return [error]  # the row's / figure's xor: our own message is clearer
    if error.context:
        return [leaf for sub in error.context for leaf in _leaf_errors(sub)]
    return [error]


# Among equally deep errors: a wrong name before an unexpected key before anything else, and a
# type error last (under oneOf, e.g. a tolerance, the branch of the other type always fails).
_VALIDATOR_PRIORITY = {"enum": 1, "const": 1, "additionalProperties": 2, "unevaluatedProperties": 2, "type": 4}


def _schema_error(path: Path, data: Any) -> str | None:
    errors = list(_validator().iter_errors(data))
    if not errors:
        return None
    leaves = [leaf for error in errors for leaf in _leaf_errors(error)]
    # Report the deepest error (the most specific place), ties broken by kind and path.
    leaves.sort(key=lambda e: (
        -len(e.absolute_path),
        _VALIDATOR_PRIORITY.get(e.validator, 3),
        [str(p) for p in e.absolute_path],
    ))
    error = leaves[0]
    where, rest = _where(data, list(error.absolute_path))
    field = ".".join(str(p) for p in rest)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {where}{': ' + field if field else ''}: {_schema_message(error)}{more}"


# --------------------------------------------------------------------------- semantic checks


def _is_percent(metric: str) -> bool:
    return metric in PERCENT_METRICS or metric.startswith("recall@")


def _table_id(number: Any) -> str:
    return f"table{number}"


def _check_table(table_id: str, table: dict, spec: dict) -> tuple[str, str] | None:
    """The first problem in one table as (place, message), or None."""
    if table_id != _table_id(table["number"]):
        return table_id, f"id does not match number {table['number']!r} (expected {_table_id(table['number'])!r})"

    columns = table["columns"]
    kind = table["kind"]
    metrics = [c["metric"] for c in columns]
    if kind == "descriptive" and columns:
        return table_id, "a descriptive table has no columns"
    if kind != "descriptive" and not columns:
        return table_id, f"a {kind} table needs at least one column"
    has_resource = any(m in RESOURCE_METRICS for m in metrics)
    has_accuracy = any(m not in RESOURCE_METRICS for m in metrics)
    if kind == "accuracy" and has_resource:
        return table_id, "kind accuracy but has resource columns (use kind: mixed)"
    if kind == "resources" and has_accuracy:
        return table_id, "kind resources but has accuracy columns (use kind: mixed)"
    if kind == "mixed" and not (has_resource and has_accuracy):
        return table_id, "kind mixed needs both accuracy and resource columns"

    ids: dict[str, int] = {}
    for j, column in enumerate(columns):
        place = f"{table_id} {_column_name(column, j)}"
        cid = column["id"]
        if cid in ids:
            return place, f"duplicate column id {cid!r} (also column {ids[cid] + 1})"
        ids[cid] = j
        segments = cid.split(".")
        if segments[-1] != column["metric"]:
            return place, f"id {cid!r} does not end in its metric {column['metric']!r}"
        if "dataset" in column and (len(segments) < 2 or segments[0] != column["dataset"]):
            return place, f"id {cid!r} does not start with its dataset {column['dataset']!r}"
        if column.get("train_dataset") is not None and column.get("train_dataset") == column.get("dataset"):
            return place, "train_dataset equals dataset (omit it)"
        if "eval_dims" in column and column["eval_dims"][0] > column["eval_dims"][1]:
            return place, f"eval_dims {column['eval_dims']} is not [first, last]"
    by_id = {c["id"]: c for c in columns}
    for j, column in enumerate(columns):
        for ref in column.get("mean_of", []):
            place = f"{table_id} {_column_name(column, j)}"
            if ref not in by_id or ref == column["id"]:
                return place, f"mean_of names {ref!r}, which is not another column of this table"
            if by_id[ref]["metric"] != column["metric"]:
                return place, f"mean_of column {ref!r} has metric {by_id[ref]['metric']!r}, not {column['metric']!r}"

    n_header = len(table["row_header"])
    sources: dict[str, int] = {}
    cells: dict[str, int] = {}
    for i, row in enumerate(table["rows"]):
        place = f"{table_id} {row_name(row, i)}"
        if len(row["label"]) != n_header:
            return place, (f"label has {len(row['label'])} cell(s) but row_header {table['row_header']} "
                           f"has {n_header}")
        if row["source"]["table"] != table["number"]:
            return place, f"source.table {row['source']['table']!r} is not this table's number {table['number']!r}"
        srow = row["source"]["row"]
        if srow in sources:
            return place, f"source.row {srow!r} repeats row {sources[srow] + 1} (make it unique)"
        sources[srow] = i
        if ("cell" in row) == ("reported_only" in row):
            return place, "a row needs exactly one of `cell` (computed) and `reported_only` (quoted)"
        reported = row["reported"]
        unknown = [k for k in reported if k not in by_id]
        if unknown:
            return place, f"reported key {unknown[0]!r} is not a column of {table_id}" + _suggest(unknown[0], list(by_id))
        missing = [c for c in by_id if c not in reported]
        if missing:
            return place, f"reported lacks column(s) {', '.join(missing)} (write null for a printed dash)"
        for cid, value in reported.items():
            if value is None:
                continue
            metric = by_id[cid]["metric"]
            if _is_percent(metric) and not 0 <= value <= 100:
                return place, f"{cid} = {value} is outside [0, 100] for a percentage"
            if metric == "corr_coeff" and not -1 <= value <= 1:
                return place, f"{cid} = {value} is outside [-1, 1]"
            if metric in RESOURCE_METRICS and value < 0:
                return place, f"{cid} = {value} is negative"
        for cid in row.get("scope", {}):
            if cid not in by_id or by_id[cid]["metric"] not in RESOURCE_METRICS:
                return place, f"scope names {cid!r}, which is not a resource column of {table_id}"
        if kind == "descriptive" and "cell" in row:
            return place, "rows of a descriptive table are reported_only"
        if "cell" in row:
            key = json.dumps(_resolve(spec, table.get("defaults"), row["cell"], None), sort_keys=True)
            if key in cells:
                return place, f"resolves to the same cell as row {cells[key] + 1} (a copy-paste slip?)"
            cells[key] = i

    ref = table.get("compare_as_ratio_to")
    if ref is not None:
        if ref not in sources:
            return table_id, f"compare_as_ratio_to {ref!r} is not the source.row of a row" + _suggest(ref, list(sources))
        if "cell" not in table["rows"][sources[ref]]:
            return table_id, f"compare_as_ratio_to {ref!r} is a reported-only row"
    return None


def _semantic_error(path: Path, spec: dict) -> str | None:
    for table_id, table in spec["tables"].items():
        problem = _check_table(table_id, table, spec)
        if problem is not None:
            return f"{path}: {problem[0]}: {problem[1]}"
    for fig_id, figure in spec.get("figures", {}).items():
        expected = f"fig{figure['number']}"
        if fig_id != expected:
            return f"{path}: {fig_id}: id does not match number {figure['number']!r} (expected {expected!r})"
    from dmlrepro.claims.spec_check import claim_problem

    problem = claim_problem(spec)
    if problem is not None:
        return f"{path}: {problem[0]}: {problem[1]}"
    return None


# ------------------------------------------------------------------------------- public API


def load_paper_spec(path: str | Path) -> dict:
    """Parse, validate and cross-check one paper spec; raise PaperSpecError (one line) if bad.

    The returned dict is plain data (no YAML aliases shared between tables).
    """
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise PaperSpecError(f"{path}: spec: expected a mapping at the top level, got {type(data).__name__}")
    message = _schema_error(path, data)
    if message is not None:
        raise PaperSpecError(message)
    # Break YAML aliases (a `columns: *anchor` list shared by several tables) into copies.
    spec = json.loads(json.dumps(data))
    message = _semantic_error(path, spec)
    if message is not None:
        raise PaperSpecError(message)
    return spec


def load_all_specs(directory: str | Path) -> dict[str, dict]:
    """Every paper_tables/*.yaml, keyed by paper; each file's stem must equal its `paper`."""
    directory = Path(directory)
    specs: dict[str, dict] = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = load_paper_spec(path)
        if spec["paper"] != path.stem:
            raise PaperSpecError(f"{path}: spec: paper {spec['paper']!r} does not match the file name {path.stem!r}")
        specs[spec["paper"]] = spec
    return specs


def _resolve(spec: dict, table_defaults: dict | None, cell: dict | None, dataset: str | None) -> dict:
    resolved = copy.deepcopy(spec["defaults"])
    if dataset is not None:
        resolved.update(copy.deepcopy(spec.get("dataset_defaults", {}).get(dataset, {})))
    resolved.update(copy.deepcopy(table_defaults or {}))
    resolved.update(copy.deepcopy(cell or {}))
    for key in _SET_VALUED_KEYS:
        if key in resolved:
            resolved[key] = sorted(resolved[key])
    return resolved


def _context_defaults(spec: dict, item: dict) -> dict | None:
    """The table defaults that apply to `item` (a row, figure, panel or series entry of `spec`)."""
    for table in spec["tables"].values():
        if any(row is item for row in table["rows"]):
            return table.get("defaults") or {}
    for figure in spec.get("figures", {}).values():
        plots = [figure, *figure.get("panels", [])]
        for plot in plots:
            if plot is item or any(entry is item for entry in plot.get("series", [])):
                return {}
    return None


def resolve_cell(spec: dict, row: dict, dataset: str | None = None) -> dict:
    """The full config of a computed row (or figure / series entry) of `spec`.

    spec.defaults < spec.dataset_defaults[dataset] < table.defaults < row.cell; each level
    replaces the keys it sets (a row's `stages: [1]` replaces the default [1, 2, 3], it is not
    merged with it).  Set-valued keys (stages, layers, descriptors) come back sorted so equal
    configs compare equal.  `dataset` is the column's dataset when the spec has dataset_defaults.
    """
    defaults = _context_defaults(spec, row)
    if defaults is None:
        raise ValueError("resolve_cell: the row is not a row, figure or series entry of this spec")
    if "reported_only" in row:
        raise ValueError(f"resolve_cell: row {row.get('source', {}).get('row')!r} is reported-only and has no cell")
    return _resolve(spec, defaults, row.get("cell"), dataset)


def iter_rows(spec: dict) -> Iterator[tuple[str, dict, int, dict]]:
    """(table id, table, row index, row) for every row of every table, in file order."""
    for table_id, table in spec["tables"].items():
        for index, row in enumerate(table["rows"]):
            yield table_id, table, index, row


def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value_node
    return None


def reported_literals(path: str | Path) -> dict[tuple[str, int, str], str]:
    """{(table id, row index, column id): the number exactly as written in the YAML} for every
    non-null reported value, e.g. "165.00" where the loaded value is the float 165.0.

    Specs write numbers as printed in the paper, so these literals carry the paper's decimals
    (for the transcription check and for rendering computed values at the same precision).
    """
    path = Path(path)
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    literals: dict[tuple[str, int, str], str] = {}
    tables = _mapping_get(root, "tables")
    if not isinstance(tables, yaml.MappingNode):
        return literals
    for key_node, table_node in tables.value:
        rows = _mapping_get(table_node, "rows")
        if not isinstance(rows, yaml.SequenceNode):
            continue
        for index, row_node in enumerate(rows.value):
            reported = _mapping_get(row_node, "reported")
            if not isinstance(reported, yaml.MappingNode):
                continue
            for col_node, value_node in reported.value:
                if isinstance(value_node, yaml.ScalarNode) and value_node.tag != "tag:yaml.org,2002:null":
                    literals[(key_node.value, index, col_node.value)] = value_node.value
    return literals
