# The embedded default data: a generated re-ID dataset per variant, written in the real dataset's
# layout (only when no data_root is given).  The generator writes atomically and marks completion.


rule synthetic_reid_dataset:
    output:
        f"{SYNTHETIC_ROOT}/.{{dataset}}.complete",
    log:
        f"{LOG_DIR}/data/{{dataset}}.log",
    params:
        train_ids=SCALE.get("synthetic", {}).get("train_ids", 32),
        test_ids=SCALE.get("synthetic", {}).get("test_ids", 32),
    shell:
        "python -m dmlrepro.cli make-data --variant {wildcards.dataset} --out {SYNTHETIC_ROOT} "
        "--train-ids {params.train_ids} --test-ids {params.test_ids} --log {log} "
        "&& touch {output}"


def dataset_ready(wildcards):
    """A training cell waits for its synthetic dataset; real data is checked by the job itself."""
    if not PLAN.synthetic:
        return []
    return [f"{SYNTHETIC_ROOT}/.{PLAN.cells[wildcards.cell]['dataset']}.complete"]
