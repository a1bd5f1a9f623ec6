# Named targets: tableN (Table N of every registered paper), <paper>_tableN, <paper>_figN,
# <paper> (all of one paper), all.  Defined from the plan, so a new paper spec adds its targets.


def table_outputs(paper, table_id):
    return [f"{RESULTS}/{paper}/{table_id}.{ext}" for ext in ("md", "csv", "tex", "diff.csv")]


def figure_outputs(paper, figure_id):
    return [f"{RESULTS}/{paper}/{figure_id}.png"]


def paper_outputs(paper):
    files = []
    for (p, tid) in PLAN.tables:
        if p == paper:
            files += table_outputs(p, tid)
    for (p, fid) in PLAN.figures:
        if p == paper:
            files += figure_outputs(p, fid)
    return files


rule all:
    default_target: True
    input:
        [f for paper in PLAN.specs for f in paper_outputs(paper)],


for _number in PLAN.table_numbers():

    rule:
        localrule: True
        name:
            f"table{_number}"
        input:
            [f for t in PLAN.tables_numbered(_number) for f in table_outputs(t.paper, t.table_id)],
        run:
            print_tables(input)


for (_paper, _table_id) in PLAN.tables:

    rule:
        localrule: True
        name:
            f"{_paper}_{_table_id}"
        input:
            table_outputs(_paper, _table_id),
        run:
            print_tables(input)


for (_paper, _figure_id) in PLAN.figures:

    rule:
        localrule: True
        name:
            f"{_paper}_{_figure_id}"
        input:
            figure_outputs(_paper, _figure_id),


for _paper in PLAN.specs:

    rule:
        localrule: True
        name:
            _paper
        input:
            paper_outputs(_paper),


localrules:
    all,
    unknown_target,
    resources_scaling,


rule resources_scaling:
    input:
        f"{RESULTS}/resources/scaling.png",


rule unknown_target:
    # Lowest priority catch-all: a target that is neither a rule nor a file ends with the list
    # of valid targets instead of Snakemake's "No rule to produce".
    output:
        "{target}",
    wildcard_constraints:
        target=r"[A-Za-z][A-Za-z0-9_]*",
    priority: -100
    run:
        raise WorkflowError(
            f"unknown target {wildcards.target!r}; valid targets: {', '.join(PLAN.target_names())}"
        )


def print_tables(files):
    for path in files:
        if path.endswith(".md"):
            print(Path(path).read_text())
