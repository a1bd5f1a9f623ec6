# One reproduction report per paper: `snakemake <paper>_report` writes results/<paper>/report.html
# (dmlrepro.report.html) from the paper's regenerated tables and diffs, its figures, its claims
# evaluated over seeds, its consistency checks, its interpretations, and the evaluation-protocol
# variants re-measured on the same trained cells (no retraining).  No code per paper: the rules
# come from the plan.


localrules:
    paper_report,


def paper_table_ids(paper):
    return [tid for (p, tid) in PLAN.tables if p == paper]


#: Tasks whose cells the protocol variants re-embed (dmlrepro.report.reembed; a family it does not
#: re-embed is listed in the report as not re-measured, with the reason).
VARIANT_TASKS = ("reid", "image_retrieval")


def protocol_cells(paper):
    """The paper's trained re-ID and image-retrieval table cells (the protocol variants re-embed
    their model.pt)."""
    cells = set()
    for tid in paper_table_ids(paper):
        for by_key in PLAN.tables[(paper, tid)].cells.values():
            cells.update(cid for key, cid in by_key.items() if key and PLAN.cells[cid].get("task") in VARIANT_TASKS)
    return sorted(cells)


rule protocol_variants:
    input:
        models=lambda wildcards: [f"{CELL_DIR}/{cid}/seed{seed}/model.pt" for cid in protocol_cells(wildcards.paper)
                                  for seed in SEEDS],
        metrics=lambda wildcards: cell_metrics(protocol_cells(wildcards.paper)),
    output:
        f"{RESULTS}/{{paper}}/protocol_variants.json",
    log:
        f"{LOG_DIR}/report/{{paper}}_protocol_variants.log",
    params:
        cells=lambda wildcards: " ".join(protocol_cells(wildcards.paper)),
        seeds=" ".join(str(s) for s in SEEDS),
        device=config["device"],
        torch_threads=lambda wildcards, threads: torch_threads(threads),
    threads: cell_threads()
    shell:
        "python -m dmlrepro.report.protocol_variants --cell-dir {CELL_DIR} --cells {params.cells} "
        "--seeds {params.seeds} --device {params.device} --threads {params.torch_threads} --out {output} > {log} 2>&1"


def report_inputs(wildcards):
    paper = wildcards.paper
    files = {"variants": f"{RESULTS}/{paper}/protocol_variants.json"}
    files["tables"] = [f for tid in paper_table_ids(paper) for f in table_outputs(paper, tid)]
    files["figures"] = [f for (p, fid) in PLAN.figures if p == paper for f in figure_outputs(p, fid)]
    files["consistency"] = [str(p) for p in (Path(workflow.basedir) / "paper_tables" / "consistency").glob(f"{paper}.yaml")]
    return files


rule paper_report:
    input:
        unpack(report_inputs),
    output:
        report(f"{RESULTS}/{{paper}}/report.html", caption="../report/paper_report.rst", category="{paper}",
               subcategory="report", labels={"paper": "{paper}", "file": "reproduction report"}),
    log:
        f"{LOG_DIR}/report/{{paper}}_report.log",
    run:
        from dmlrepro.atomic_io import atomic_write_text
        from dmlrepro.claims.consistency import check_paper
        from dmlrepro.claims.evaluate import evaluate_claims
        from dmlrepro.claims.figure_table import figure_table
        from dmlrepro.claims.spec_check import claim_target
        from dmlrepro.report.html import build_report, load_variants, read_diff
        from dmlrepro.tables import collect_table

        paper = wildcards.paper
        spec = PLAN.specs[paper]
        tables, diffs, cell_ids = {}, {}, {}
        for tid in paper_table_ids(paper):
            table_plan = PLAN.tables[(paper, tid)]
            tables[tid] = collect_table(
                table_plan, spec, SCALE["name"], SEEDS,
                result_path=lambda cid, seed: f"{CELL_DIR}/{cid}/seed{seed}/metrics.json",
                resource_path=resource_json,
            )
            diffs[tid] = read_diff(f"{RESULTS}/{paper}/{tid}.diff.csv")
            for index, by_key in table_plan.cells.items():
                for key, cid in by_key.items():
                    cell_ids[(tid, index, key)] = cid
        figures = {fid: Path(f"{RESULTS}/{paper}/{fid}.png") for (p, fid) in PLAN.figures if p == paper}
        claim_tables = dict(tables)
        for claim in spec.get("claims", []):
            if "figure" in claim and (paper, claim["figure"]) in PLAN.figures:
                claim_tables[claim_target(claim)] = figure_table(
                    PLAN.figures[(paper, claim["figure"])], spec, claim.get("panel"), SCALE["name"], SEEDS,
                    result_path=lambda cid, seed: f"{CELL_DIR}/{cid}/seed{seed}/metrics.json",
                )
        claims = evaluate_claims(spec, claim_tables)
        checks = check_paper(paper)
        page = build_report(spec, tables, diffs, figures, claims, checks, scale=SCALE["name"], seeds=SEEDS,
                            variants=load_variants(input.variants), cell_ids=cell_ids,
                            readme=Path(workflow.basedir) / "README.md")
        atomic_write_text(output[0], page)
        counts = {}
        for result in claims:
            counts[result.category] = counts.get(result.category, 0) + 1
        Path(log[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(log[0]).write_text(f"{output[0]}: {len(claims)} claims {counts}, {len(checks)} consistency checks\n")
        print(Path(log[0]).read_text(), end="")


for _paper in PLAN.specs:

    rule:
        localrule: True
        name:
            f"{_paper}_report"
        input:
            f"{RESULTS}/{_paper}/report.html",
