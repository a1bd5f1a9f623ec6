# The embedded default data: a generated dataset per variant, written in the real dataset's layout
# by the task that reads it (only when no data_root is given).  The generator writes atomically and
# marks completion.  Sizes: the scale's `synthetic` block (identities or classes per split); each
# scale's data has its own root (plan.data_root_for).


rule synthetic_dataset:
    output:
        f"{DATA_ROOT}/.{{dataset}}.complete",
    log:
        f"{LOG_DIR}/data/{{dataset}}.log",
    params:
        train_ids=SCALE.get("synthetic", {}).get("train_ids", 32),
        test_ids=SCALE.get("synthetic", {}).get("test_ids", 32),
    shell:
        "python -m dmlrepro.cli make-data --variant {wildcards.dataset} --out {DATA_ROOT} "
        "--train-ids {params.train_ids} --test-ids {params.test_ids} --log {log} "
        "&& touch {output}"


def synthetic_marker(wildcards):
    return [f"{DATA_ROOT}/.{wildcards.dataset}.complete"] if PLAN.synthetic else []


rule check_dataset:
    # Every training cell waits for this: a missing folder, a wrong layout or an empty split fails
    # here once, with one line naming the path and the expected layout, before any training starts.
    input:
        synthetic_marker,
    output:
        f"{RESULTS}/datasets/{DATA_KEY}/{{dataset}}.json",
    log:
        f"{LOG_DIR}/data/{{dataset}}.check.log",
    params:
        root=DATA_ROOT,
    shell:
        "python -m dmlrepro.cli check-data --dataset {wildcards.dataset} --root {params.root} "
        "--out {output} --log {log}"


def pretrained_ready(wildcards):
    """Cells with an ImageNet-initialised backbone wait for one check that the weights load."""
    source = PLAN.cells[wildcards.cell]["training"]["backbone"]["pretrained"]
    return [] if source == "none" else [f"{RESULTS}/pretrained/resnet50.json"]


rule check_pretrained_weights:
    # Once per run, before any paper-scale training: the weights load, or the run stops with one
    # line saying where to put them.
    output:
        f"{RESULTS}/pretrained/resnet50.json",
    log:
        f"{LOG_DIR}/pretrained/resnet50.log",
    params:
        source=lambda wildcards: next(
            (c["training"]["backbone"]["pretrained"] for c in PLAN.cells.values()
             if c["training"]["backbone"]["pretrained"] != "none"), "none"),
    shell:
        "python -m dmlrepro.cli check-weights --source {params.source:q} --out {output} --log {log}"
