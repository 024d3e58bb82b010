# Meta-training: one job per (method, variant, meta-training distribution).  The run folder
# name ends in the hash of the resolved run config (vsml.meta.config.trajectory_hash), so a
# changed value trains a new run and leaves the others alone; more meta_train.steps resume
# and extend the same folder.  Runs whose datasets are missing write a "not run" status.


rule meta_train:
    output:
        f"{RUNS}/train/{{run}}/status.json",
    log:
        f"logs/{SCALE}/train/{{run}}.log",
    benchmark:
        f"benchmarks/{SCALE}/train/{{run}}.tsv"
    wildcard_constraints:
        run=r"[^/]+/[^/]+/[^/]+",
    # meta-training is the long pole: start it before the (short) SGD/Adam meta-tests
    priority: 10
    conda:
        VSML_ENV
    threads: S["threads"]["train"]
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=24 * 60,
    params:
        cmd=lambda w: train_command(w.run),
        # rerun trigger: anything that changes the job (steps, availability, sets)
        fingerprint=lambda w: pipeline.short_hash(train_job(w.run)),
    shell:
        "({params.cmd}) > {output}.tmp 2> {log} && mv {output}.tmp {output}"
