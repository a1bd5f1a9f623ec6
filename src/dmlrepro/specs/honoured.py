"""Which paper-spec keys the harness's computations honour, and the one-line refusal for those it
cannot (issue 8, defect 10: a key that passes the schema must change the experiment or be refused).

The schema (workflow/schemas/paper_spec.schema.yaml) admits every key the five papers use, so that
reported-only rows and not-yet-trainable rows can describe the paper's setting.  For a cell the
harness COMPUTES — an accuracy column of a row the re-ID trainer trains, a resource column of a
row a measurer measures, a figure the harness draws — every key must be read by that computation
or state the value the computation has anyway.  The plan (``dmlrepro.plan``) applies these checks
and prefixes the spec file and row to the message.

The re-ID trainer (``dmlrepro.cells.resolve_reid_cell`` → ``dmlrepro.models.build`` →
``dmlrepro.training.reid_trainer``) and the PCB resource measurer, which resolves its rows the
same way, read:

* ``model`` (pcb, pcb_rpp), ``attention`` (none, sa, csa, csalr) and that attention's parameters
  (``cells.ATTENTION_PARAMS``: csa ``bases``/``groups``, csalr ``samples``/``groups``; and
  ``group_mode`` where there are groups);
* with an attention: ``stages``, ``deep_supervision``; with deep supervision also ``ds_lambda``
  and ``ds_branch`` (CSALR Eq. 18, CSA Eq. 8);
* ``backbone`` only as ``resnet50``: the scale preset's ResNet (ResNet-50 at ``paper`` scale, a
  thin ResNet at ``smoke``/``tiny``);
* ``loss`` only as ``{cross_entropy: 1.0}``: PCB's cross-entropy over the parts (CSALR Sec. 4.2:
  "the loss L_F is the same as PCB"), the deep-supervision terms being ``ds_lambda``'s.

An attention parameter inherited from the paper's or a table's defaults that the row's attention
does not read is dropped (PCB without attention is one cell whatever ``samples`` the defaults
carry).  A row's own ``cell`` may set such a key only to the value the model has anyway (``groups:
1`` on SA, which is single-head; ``deep_supervision: false`` without an attention).

Columns the re-ID evaluation computes: ``dataset``, ``metric`` (rank1, rank5, rank10, map),
``boxes: detected`` on CUHK03-NP (the loader reads the detected boxes only), ``query_mode:
single_query`` (Market-1501 single-query protocol).  ``train_dataset``, ``eval_dims`` and
``mean_of`` are computed by nothing yet: refused on computed columns rather than read from the
column's dataset cell.  Resource columns are measured on the row's model alone: a ``dataset`` (or
any evaluation key) on one is refused; ``scope`` must be one the row's measurer reports.
"""

from __future__ import annotations

from typing import Any

from dmlrepro.cells import ATTENTION_PARAMS, REID_MODELS

#: The task whose rows the resource measurers measure (PCB and AiA-Net rows are re-ID models).
COMPUTED_TASKS = ("reid",)
#: What the re-ID evaluation writes into metrics.json (single-query CMC and mAP, percent).
REID_METRICS = ("rank1", "rank5", "rank10", "map")
#: The PCB trainer's main loss: cross-entropy over the parts, weight 1.
PCB_LOSS = {"cross_entropy": 1.0}
REID_BACKBONES = ("resnet50",)
#: Cell keys the re-ID trainer reads (some only with an attention or deep supervision).
REID_READ_KEYS = frozenset(
    {"model", "backbone", "attention", "loss", "samples", "groups", "bases", "group_mode",
     "stages", "deep_supervision", "ds_lambda", "ds_branch"}
)
#: Column keys that select an evaluation; refused on a resource column.
EVALUATION_COLUMN_KEYS = ("dataset", "train_dataset", "boxes", "query_mode", "eval_dims", "mean_of")
#: The only figure the harness draws (dmlrepro.figures.attention_maps: CSALR Figure 4).
DRAWN_FIGURES = {"attention_maps": ("csalr",)}
FIGURE_READ_KEYS = frozenset({"number", "caption", "kind", "dataset", "cell", "notes"})


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, dict) else "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"


def task_problem(task: str | None, computed: tuple[str, ...] = COMPUTED_TASKS) -> str | None:
    """A computed cell's task (the table's, else the paper's) must be one the harness trains
    (`computed`: for resource rows the re-ID measurers' task; for accuracy rows the registered tasks)."""
    if task not in computed:
        return (f"task {task!r} has no trainer yet (the harness computes {', '.join(computed)} cells); "
                f"mark the row reported_only or give it a model of that task")
    return None


def _reid_applies(key: str, cell: dict) -> bool:
    """Whether the re-ID model reads ``key`` for this resolved cell."""
    attention = cell.get("attention", "none")
    params = ATTENTION_PARAMS.get(attention, ())
    with_attention = attention != "none"
    if key in ("samples", "groups", "bases"):
        return key in params
    if key == "group_mode":
        return "group_mode" in params or "groups" in params
    if key in ("stages", "deep_supervision"):
        return with_attention
    if key in ("ds_lambda", "ds_branch"):
        return with_attention and bool(cell.get("deep_supervision", True))
    return key in REID_READ_KEYS


#: (attention, key) → the value the model has for a key it does not read.
_REID_EFFECTIVE = {("sa", "groups"): 1, ("none", "deep_supervision"): False}


def reid_cell_problem(cell: dict, own: dict) -> str | None:
    """The first key of the resolved paper ``cell`` the re-ID trainer does not honour, as one
    line; ``own`` is the row's own ``cell`` (keys it sets itself, not inherited)."""
    model = cell.get("model", "pcb")
    if model not in REID_MODELS:
        return f"model {model!r} has no re-ID trainer (trained: {', '.join(REID_MODELS)})"
    attention = cell.get("attention", "none")
    if attention not in ATTENTION_PARAMS:
        return (f"attention {attention!r} does nothing in {model}: the re-ID framework builds "
                f"{', '.join(sorted(ATTENTION_PARAMS))}")
    backbone = cell.get("backbone", "resnet50")
    if backbone not in REID_BACKBONES:
        return (f"backbone {backbone!r} does nothing: the PCB trainer builds the scale's ResNet "
                f"(backbone: resnet50); remove it or mark the row reported_only")
    if "loss" in cell and cell["loss"] != PCB_LOSS:
        return (f"loss {_show(cell['loss'])} does nothing: the PCB trainer's loss is PCB's cross-entropy "
                f"over the parts ({_show(PCB_LOSS)}; deep supervision via ds_lambda); remove it or mark the row reported_only")
    for key in sorted(cell):
        if key not in REID_READ_KEYS:
            return (f"{key}: {_show(cell[key])} does nothing in {model} (the re-ID trainer reads "
                    f"{', '.join(sorted(REID_READ_KEYS))}); remove it or mark the row reported_only")
    for key in sorted(own):
        if _reid_applies(key, cell):
            continue
        effective = _REID_EFFECTIVE.get((attention, key))
        if effective is not None and own[key] == effective:
            continue
        why = f"attention {attention!r} does not read it"
        if key in ("ds_lambda", "ds_branch") and attention != "none":
            why = "deep_supervision is off"
        if effective is not None:
            why += f" ({key} is {effective!r} there)"
        return f"{key}: {_show(own[key])} does nothing: {why}; remove it from the row"
    return None


def reid_column_problem(column: dict) -> str | None:
    """The first key of an accuracy column the re-ID evaluation does not honour, as one line."""
    metric = column["metric"]
    if metric not in REID_METRICS:
        return f"metric {metric!r} is not computed by the re-ID evaluation ({', '.join(REID_METRICS)})"
    if column.get("boxes", "detected") != "detected":
        return (f"boxes: {column['boxes']} cannot be honoured: the {column.get('dataset')} loader reads the "
                f"detected boxes only; use boxes: detected or make the table's rows reported_only")
    if column.get("query_mode", "single_query") != "single_query":
        return (f"query_mode: {column['query_mode']} cannot be honoured: the re-ID evaluation is "
                f"single-query; use single_query or make the table's rows reported_only")
    if "train_dataset" in column:
        return (f"train_dataset: {column['train_dataset']} cannot be honoured: the re-ID trainer trains on "
                f"the column's dataset ({column.get('dataset')}); make the table's rows reported_only")
    if "eval_dims" in column:
        return "eval_dims cannot be honoured: the re-ID evaluation uses the whole embedding; make the table's rows reported_only"
    if "mean_of" in column:
        return "mean_of cannot be honoured: means of columns are not computed yet; make the table's rows reported_only"
    if "scope" in column:
        return "scope applies to resource columns only; remove it"
    return None


def resource_column_problem(column: dict, metrics: frozenset[str], scopes: frozenset[str],
                            scope: str, measurer: str) -> str | None:
    """The first key of a resource column the row's measurer does not honour, as one line."""
    for key in EVALUATION_COLUMN_KEYS:
        if key in column:
            return (f"{key} does nothing on a resource column: {measurer} rows are measured on the model "
                    f"alone; remove it")
    if column["metric"] not in metrics:
        return f"metric {column['metric']!r} is not measured for {measurer} rows ({', '.join(sorted(metrics))})"
    if scope not in scopes:
        return f"scope {scope!r} is not reported for {measurer} rows ({', '.join(sorted(scopes))})"
    return None


def figure_problem(figure: dict, cell: dict) -> str | None:
    """The first key of a figure the harness cannot draw, as one line."""
    kind = figure["kind"]
    if kind not in DRAWN_FIGURES:
        return (f"kind {kind!r} has no renderer yet (drawn: {', '.join(DRAWN_FIGURES)}); "
                f"remove the figure until one exists")
    for key in sorted(figure):
        if key not in FIGURE_READ_KEYS:
            return f"{key} does nothing for a figure of kind {kind!r} (it reads {', '.join(sorted(FIGURE_READ_KEYS))}); remove it"
    attention = cell.get("attention", "none")
    if attention not in DRAWN_FIGURES[kind]:
        return f"attention {attention!r}: a figure of kind {kind!r} draws {', '.join(DRAWN_FIGURES[kind])} maps only"
    return None
