# Figures drawn from trained cells (CSALR Figure 4: original vs reconstructed attention maps).


localrules:
    attention_figure,


rule attention_figure:
    input:
        model=lambda wildcards: f"{CELL_DIR}/{PLAN.figures[(wildcards.paper, wildcards.figure)].cell}/seed{SEEDS[0]}/model.pt",
        data=lambda wildcards: f"{RESULTS}/datasets/{PLAN.cells[PLAN.figures[(wildcards.paper, wildcards.figure)].cell]['dataset']}.json",
    output:
        png=report(f"{RESULTS}/{{paper}}/{{figure}}.png", caption="../report/figure.rst",
                   category="{paper}", subcategory="{figure}", labels={"paper": "{paper}", "file": "{figure}"}),
    log:
        f"{LOG_DIR}/figures/{{paper}}_{{figure}}.log",
    params:
        caption=lambda wildcards: PLAN.figures[(wildcards.paper, wildcards.figure)].spec["caption"],
    shell:
        "python -m dmlrepro.figures.attention_maps --model {input.model} --out {output.png} "
        "--caption {params.caption:q} > {log} 2>&1"
