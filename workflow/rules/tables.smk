# Aggregate the cells' metrics into each table, render it like the paper and diff it.
# Rendering is separate from training: a change of layout or caption never retrains a model.


localrules:
    render_table,


def table_inputs(wildcards):
    table_plan = PLAN.tables[(wildcards.paper, wildcards.table)]
    resources = {by_key[""] for by_key in table_plan.cells.values() if "" in by_key}
    cells = [cid for by_key in table_plan.cells.values() for key, cid in by_key.items() if key]
    return [resource_json(rid) for rid in sorted(resources)] + cell_metrics(cells)


rule render_table:
    input:
        table_inputs,
    output:
        md=f"{RESULTS}/{{paper}}/{{table}}.md",
        csv=report(f"{RESULTS}/{{paper}}/{{table}}.csv", caption="../report/table.rst",
                   category="{paper}", subcategory="{table}", labels={"paper": "{paper}", "file": "{table} (regenerated)"}),
        tex=f"{RESULTS}/{{paper}}/{{table}}.tex",
        diff=report(f"{RESULTS}/{{paper}}/{{table}}.diff.csv", caption="../report/diff.rst",
                    category="{paper}", subcategory="{table}", labels={"paper": "{paper}", "file": "{table} diff"}),
    log:
        f"{LOG_DIR}/tables/{{paper}}_{{table}}.log",
    params:
        plan=lambda wildcards: PLAN.tables[(wildcards.paper, wildcards.table)],
        paper_spec=lambda wildcards: PLAN.specs[wildcards.paper],
    run:
        from dmlrepro.tables import collect_table, render_table

        table = collect_table(
            params.plan, params.paper_spec, SCALE["name"], SEEDS,
            result_path=lambda cid, seed: f"{CELL_DIR}/{cid}/seed{seed}/metrics.json",
            resource_path=resource_json,
        )
        prefix = output.md[: -len(".md")]
        render_table(table, prefix)
