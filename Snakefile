# dmlrepro: regenerate the tables and figures of deep-metric-learning papers and diff them
# against the numbers the papers report.  Read this file as the table of contents.
#
#   snakemake --cores 8 table2                 # Table 2 of every registered paper (smoke scale)
#   snakemake -n csalr_table4                  # list the cells CSALR Table 4 would train
#   snakemake --cores 8 csalr                  # all CSALR tables and Figure 4
#   snakemake --cores 8 csalr_table1 --config scale=paper data_root=/data/reid
#
# Paper specs (paper_tables/*.yaml) name the cell each table row needs; workflow/rules/common.smk
# turns them into jobs, so a cell several tables share is trained once.

configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/cells.smk"
include: "workflow/rules/resources.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/report.smk"
