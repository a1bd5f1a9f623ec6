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
``mean_of`` are not computed by the re-ID evaluation: refused on its columns rather than read from
the column's dataset cell (the patch-descriptor family computes ``train_dataset`` and ``mean_of``:
dmlrepro.families.l2net_descriptor, dmlrepro.tables.aggregate).  Resource columns are measured on the row's model alone: a ``dataset`` (or
any evaluation key) on one is refused; ``scope`` must be one the row's measurer reports.

Figures (``figure_problem``, ``figure_cell_problem``): every point of a figure (a panel's series on
a dataset at an x value) is a cell resolved like a row, so the task's own checks apply to it; on
top, each kind's renderer (``DRAWN_FIGURES``) reads only the keys of ``FIGURE_READ_KEYS``.  The
quantitative kinds (training_curve, bar_chart, sweep_curve) read ``metric`` from the cells'
metrics.json (a training_curve from the per-epoch evaluation, which only ``CURVE_TASKS`` record)
and need ``series``; ``x`` varies a cell key (``epoch`` and ``eval_dims_first`` are not computed).
The qualitative kinds read the figure's ``cell`` and the datasets: attention_maps of CSALR, CSA or SOA
cells, ranking_examples of image-retrieval models (and AiA-Net's re-ID failure cases,
dmlrepro.figures.reid_failure_cases), learner_examples of Divide and Conquer cells with
several learners (DCES Fig. S1).  ``eval_dims_first`` (DCES Fig. S2) is read by the figure as the
protocol ``dims@1-<m>`` of the series' one cell; a family whose cells have no such protocol refuses it.
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
EVALUATION_COLUMN_KEYS = ("dataset", "train_dataset", "boxes", "query_mode", "eval_dims", "mean_of", "mean_over_splits")
#: Figure kinds the harness draws → the module under dmlrepro.figures that draws them (for
#: attention_maps, by the cell's attention: ATTENTION_MAP_RENDERERS).
DRAWN_FIGURES = {
    "training_curve": "training_curve",
    "bar_chart": "bar_chart",
    "sweep_curve": "sweep_curve",
    "ranking_examples": "ranking_examples",
    "attention_maps": "attention_maps",
    "learner_examples": "learner_examples",
}
#: attention_maps: which renderer draws the maps of a cell's attention (CSALR Fig. 4: original vs
#: reconstructed maps; MHDML Fig. 6: SOA maps of both heads; CSA Fig. 5: base and reconstructed maps).
ATTENTION_MAP_RENDERERS = {"csalr": "attention_maps", "csa": "csa_maps", "soa": "soa_maps",
                           **{a: "aianet_maps" for a in ("lin", "sop", "gau", "se", "nl", "nonlinear_v1", "nonlinear_v2")}}
#: ranking_examples embeds the test set with the cell's model → the renderer per model (MHDML Fig. 4's
#: retrievals; AiA-Net Fig. 10's re-ID failure cases).
RANKING_MODELS = {"mhdml": "ranking_examples", "aianet": "reid_failure_cases"}
#: Tasks whose trainer can evaluate after every epoch (training_curve; retrieval `eval_every_epoch`).
CURVE_TASKS = ("image_retrieval",)
#: Kinds whose renderer reads the cells' metrics.json (every seed) rather than model.pt.
QUANTITATIVE_FIGURES = ("training_curve", "bar_chart", "sweep_curve")
_COMMON_KEYS = frozenset({"number", "caption", "kind", "notes", "dataset", "datasets"})
#: What each kind's renderer reads, on the figure and on each panel.
FIGURE_READ_KEYS = {
    "training_curve": _COMMON_KEYS | {"metric", "series", "panels"},
    "bar_chart": _COMMON_KEYS | {"metric", "series", "panels", "x"},
    "sweep_curve": _COMMON_KEYS | {"metric", "series", "panels", "x"},
    "ranking_examples": _COMMON_KEYS | {"cell"},
    "attention_maps": _COMMON_KEYS | {"cell", "series"},
    "learner_examples": _COMMON_KEYS | {"cell"},
}
PANEL_KEYS = frozenset({"panel", "caption", "notes", "dataset", "datasets", "metric", "series", "x"})
#: x keys that are not cell keys and that no figure computes yet.
_X_NOT_COMPUTED = {"epoch": "the x axis of a training_curve is the cell's epochs, not an x entry"}


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


def figure_problem(figure: dict) -> str | None:
    """The first key of a figure its renderer does not read, as one line (the figure alone; the
    cells of its points are checked by `figure_cell_problem`)."""
    kind = figure["kind"]
    if kind not in DRAWN_FIGURES:
        return (f"kind {kind!r} has no renderer yet (drawn: {', '.join(DRAWN_FIGURES)}); "
                f"remove the figure until one exists")
    reads = FIGURE_READ_KEYS[kind]
    for key in sorted(figure):
        if key not in reads:
            return f"{key} does nothing for a figure of kind {kind!r} (it reads {', '.join(sorted(reads))}); remove it"
    for plot in figure.get("panels") or [figure]:
        where = f"panel {plot['panel']}: " if "panel" in plot else ""
        for key in sorted(plot):
            if "panel" in plot and key not in PANEL_KEYS & (reads | {"panel", "caption"}):
                return f"{where}{key} does nothing for a figure of kind {kind!r}; remove it"
        if kind not in QUANTITATIVE_FIGURES:
            continue
        for key in ("metric", "series"):
            if key not in plot:
                return f"{where}a figure of kind {kind!r} needs `{key}` (what it plots)"
        x = plot.get("x")
        if kind == "sweep_curve" and x is None:
            return f"{where}a sweep_curve needs `x` (the cell key it varies and its values)"
        if x is not None and x["key"] in _X_NOT_COMPUTED:
            return f"{where}x {x['key']!r} cannot be honoured: {_X_NOT_COMPUTED[x['key']]}; remove it"
        if x is not None and len(set(map(repr, x["values"]))) != len(x["values"]):
            return f"{where}x values {x['values']} repeat a value"
    return None


def figure_renderer(figure: dict, cell: dict) -> str:
    """The dmlrepro.figures module that draws `figure` for its cells (`cell`: one point's
    resolved paper cell; attention maps are drawn by the module of the cell's attention)."""
    kind = figure["kind"]
    if kind == "attention_maps":
        return ATTENTION_MAP_RENDERERS[cell.get("attention", "none")]
    if kind == "ranking_examples":
        return RANKING_MODELS[cell.get("model")]
    return DRAWN_FIGURES[kind]


def figure_cell_problem(figure: dict, cell: dict, task: str) -> str | None:
    """Whether the renderer of `figure` can draw one of its points' cells (resolved over the
    paper's defaults; `task` is the spec's task), as one line."""
    kind = figure["kind"]
    if kind == "attention_maps":
        attention = cell.get("attention", "none")
        if attention not in ATTENTION_MAP_RENDERERS:
            return (f"attention {attention!r}: a figure of kind {kind!r} draws "
                    f"{', '.join(ATTENTION_MAP_RENDERERS)} maps only")
    if kind == "ranking_examples" and cell.get("model") not in RANKING_MODELS:
        return (f"model {cell.get('model')!r}: a figure of kind {kind!r} ranks with "
                f"{', '.join(RANKING_MODELS)} models only")
    if kind == "learner_examples" and (cell.get("model") != "dces" or cell.get("learners", 8) < 2):
        return (f"model {cell.get('model')!r} with {cell.get('learners')} learner(s): a figure of kind {kind!r} "
                "shows the queries of each of several Divide and Conquer learners (model dces, learners >= 2)")
    if kind == "training_curve" and task not in CURVE_TASKS:
        return (f"task {task!r} records no evaluation per epoch: a training_curve is drawn for "
                f"{', '.join(CURVE_TASKS)} cells only")
    return None
