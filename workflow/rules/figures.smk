# Figures drawn from trained cells.  The plan (dmlrepro.plan.FigurePlan) gives every figure its
# cells (one per point: panel x series x dataset x value, shared with the tables) and its renderer,
# a module of src/dmlrepro/figures per kind: training_curve, bar_chart and sweep_curve read the
# cells' metrics.json (every seed); attention_maps (CSALR maps, or SOA maps: soa_maps) and
# ranking_examples read the first seed's model.pt and the data.  Rendering is separate from
# training: a change of caption or layout never retrains a model.
#
# One rule per figure, from the template of its kind below: two figure kinds can share a paper
# and figure name pattern (CSALR's fig4 draws attention maps, MHDML's fig4 rankings), so each
# rule matches its own figure exactly and Snakemake never has two rules for one PNG.
import re

from dmlrepro.figures.manifest import figure_manifest  # noqa: E402
from dmlrepro.figures.renderer_code import renderer_code_hash  # noqa: E402
from dmlrepro.specs.honoured import QUANTITATIVE_FIGURES  # noqa: E402


#: Renderers that embed whole test sets.
EMBEDDING_RENDERERS = ("ranking_examples", "reid_failure_cases")


def figure_inputs(figure_plan):
    """What a figure's renderer reads: its cells' metrics.json, or their model.pt and the data."""
    if figure_plan.spec["kind"] in QUANTITATIVE_FIGURES:
        return cell_metrics(figure_plan.cells)
    models = [f"{CELL_DIR}/{cid}/seed{SEEDS[0]}/model.pt" for cid in figure_plan.cells]
    data = sorted({dataset_record(PLAN.cells[cid]["dataset"]) for cid in figure_plan.cells})
    return models + data


for (_paper, _figure_id), _figure_plan in PLAN.figures.items():

    rule:
        name:
            f"draw_{_paper}_{_figure_id}"
        # Curves and bars read a few JSON files and maps run the model on one image each: local
        # jobs.  Rankings embed every test image (60,502 on SOP): a cluster job.
        localrule: _figure_plan.renderer not in EMBEDDING_RENDERERS
        input:
            figure_inputs(_figure_plan),
        output:
            png=report(f"{RESULTS}/{{paper}}/{{figure}}.png", caption="../report/figure.rst",
                       category="{paper}", subcategory="{figure}", labels={"paper": "{paper}", "file": "{figure}"}),
        wildcard_constraints:
            paper=re.escape(_paper),
            figure=re.escape(_figure_id),
        log:
            f"{LOG_DIR}/figures/{{paper}}_{{figure}}.log",
        params:
            renderer=_figure_plan.renderer,
            # The drawing code's hash: a change of it redraws the figure (params trigger reruns).
            renderer_code=renderer_code_hash(_figure_plan.renderer),
            manifest=json.dumps(figure_manifest(_figure_plan, PLAN.specs[_paper], SCALE["name"], SEEDS, CELL_DIR)),
            device=config["device"],
        shell:
            "python -m dmlrepro.figures.{params.renderer} --manifest-json {params.manifest:q} "
            "--device {params.device} --out {output.png} > {log} 2>&1"
