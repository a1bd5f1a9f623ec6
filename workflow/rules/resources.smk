# Resource tables (parameters, memory, speed) need no data and no training: each row's model is
# measured at the paper's architecture and input size on this machine (CPU here, CUDA if present).
# Memory per image is the slope of one training step's peak between two batches (CPU 2 and 4,
# CUDA 32 and 64; dmlrepro.resources.core), the fixed part recorded apart; resources.json names
# the device and host it was measured on.  The row's model picks its measurer from the registry
# (dmlrepro.resources.measurers).


def resource_json(rid):
    return f"{RESULTS}/resources/{rid}/resources.json"


rule measure_resources:
    output:
        f"{RESULTS}/resources/{{rcell}}/resources.json",
    log:
        f"{LOG_DIR}/resources/{{rcell}}.log",
    params:
        cell=lambda wildcards: json.dumps(PLAN.resource_cells[wildcards.rcell], sort_keys=True),
        metrics=lambda wildcards: ",".join(sorted(PLAN.resource_metrics[wildcards.rcell])),
        device=config["device"],
    threads: cell_threads()
    resources:
        runtime=cluster_resource("measure_resources", "runtime"),
        mem_mb=cluster_resource("measure_resources", "mem_mb"),
        cpus_per_task=cluster_resource("measure_resources", "cpus_per_task"),
        gpu=cluster_resource("measure_resources", "gpu"),
    shell:
        "python -m dmlrepro.resources.measure --cell {params.cell:q} --device {params.device} "
        "--threads {threads} --metrics {params.metrics} --out {output} > {log} 2>&1"


rule scaling_study:
    # How memory and time of SA, fused SDPA, CSA and CSALR grow with the input (beyond the papers'
    # tables: the O(n²) vs O(n·m) story in one figure).  Every point runs in a fresh process.
    output:
        csv=f"{RESULTS}/resources/scaling.csv",
        png=report(f"{RESULTS}/resources/scaling.png", caption="../report/scaling.rst",
                   category="resources", labels={"file": "attention scaling"}),
    log:
        f"{LOG_DIR}/resources/scaling.log",
    params:
        device=config["device"],
    shell:
        "python -m dmlrepro.resources.scaling --out-csv {output.csv} --out-png {output.png} "
        "--device {params.device} > {log} 2>&1"
