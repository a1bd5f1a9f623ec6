# Aggregate the cells' metrics into each table, render it like the paper and diff it.
# Rendering is separate from training: a change of layout or caption never retrains a model.


localrules:
    render_table,


def table_inputs(wildcards):
    table_plan = PLAN.tables[(wildcards.paper, wildcards.table)]
    ids = [cid for by_dataset in table_plan.cells.values() for cid in by_dataset.values()]
    if table_plan.spec["kind"] == "resources":
        return [f"{RESULTS}/resources/{rid}/resources.json" for rid in sorted(set(ids))]
    return cell_metrics(ids)


rule render_table:
    input:
        table_inputs,
    output:
        md=f"{RESULTS}/{{paper}}/{{table}}.md",
        csv=f"{RESULTS}/{{paper}}/{{table}}.csv",
        tex=f"{RESULTS}/{{paper}}/{{table}}.tex",
        diff=f"{RESULTS}/{{paper}}/{{table}}.diff.csv",
    log:
        f"{LOG_DIR}/tables/{{paper}}_{{table}}.log",
    params:
        plan=lambda wildcards: PLAN.tables[(wildcards.paper, wildcards.table)],
        paper_spec=lambda wildcards: PLAN.specs[wildcards.paper],
    run:
        from dmlrepro.tables import collect_table, render_table

        table_plan = params.plan
        if table_plan.spec["kind"] == "resources":
            result_path = lambda rid, seed: f"{RESULTS}/resources/{rid}/resources.json"
            seeds = [0]
        else:
            result_path = lambda cid, seed: f"{CELL_DIR}/{cid}/seed{seed}/metrics.json"
            seeds = SEEDS
        table = collect_table(table_plan, params.paper_spec, SCALE["name"], seeds, result_path)
        prefix = output.md[: -len(".md")]
        render_table(table, prefix)
