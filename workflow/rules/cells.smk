# One cell = one resolved configuration, trained and evaluated once per seed.


localrules:
    cell_config,


rule cell_config:
    output:
        f"{CELL_DIR}/{{cell}}/cell.json",
    params:
        cell=lambda wildcards: json.dumps(PLAN.cells[wildcards.cell], indent=2, sort_keys=True),
    run:
        from dmlrepro.atomic_io import atomic_write_text

        atomic_write_text(output[0], params.cell + "\n")


rule train_cell:
    input:
        cell=f"{CELL_DIR}/{{cell}}/cell.json",
        # The training set and any test sets the cell evaluates on besides it (`test_datasets`:
        # a patch descriptor trained on one Brown subset is tested on the others and HPatches).
        data=lambda wildcards: [dataset_record(d) for d in
                                [PLAN.cells[wildcards.cell]["dataset"], *PLAN.cells[wildcards.cell].get("test_datasets", [])]],
        weights=pretrained_ready,
    output:
        metrics=f"{CELL_DIR}/{{cell}}/seed{{seed}}/metrics.json",
        model=f"{CELL_DIR}/{{cell}}/seed{{seed}}/model.pt",
    log:
        f"{LOG_DIR}/cells/{{cell}}/seed{{seed}}.log",
    params:
        # Outside the declared outputs: Snakemake deletes those when a job fails, but a killed
        # or failed job must keep its last checkpoint so that the rerun resumes from it.
        checkpoint_dir=f"{CHECKPOINT_DIR}/{{cell}}/seed{{seed}}",
        device=config["device"],
        workers=SCALE["num_workers"],
        eval_batch=SCALE["eval_batch_size"],
        torch_threads=lambda wildcards, threads: torch_threads(threads),
        # --config reuse_weights=true: a job that finds a finished run of its cell evaluates those
        # weights instead of retraining (recorded as provenance.reused_weights in metrics.json).
        # A function of `threads` is a "derived" param, which Snakemake leaves out of its params
        # rerun trigger: switching reuse_weights on or off must not by itself rerun every cell.
        reuse=lambda wildcards, threads: " --reuse-weights" if config.get("reuse_weights", False) else "",
    threads: cell_threads()
    resources:
        runtime=cluster_resource("train_cell", "runtime"),
        mem_mb=cluster_resource("train_cell", "mem_mb"),
        cpus_per_task=cluster_resource("train_cell", "cpus_per_task"),
        gpu=cluster_resource("train_cell", "gpu"),
    shell:
        "python -m dmlrepro.cli train-cell --cell {input.cell} --seed {wildcards.seed} "
        "--out-dir $(dirname {output.metrics}) --checkpoint-dir {params.checkpoint_dir} "
        "--device {params.device} --threads {params.torch_threads} --num-workers {params.workers} "
        "--eval-batch-size {params.eval_batch} --log {log} --progress-file {log}.progress{params.reuse}"
