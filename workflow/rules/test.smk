# Meta-testing: one job per (learner, test configuration); a tidy per-(episode, step) CSV
# (vsml meta-test) or, when the data is unavailable, a "not run" marker CSV.


rule meta_test:
    input:
        _test_input,
    output:
        f"{RUNS}/test/{{test}}.csv",
    log:
        f"logs/{SCALE}/test/{{test}}.log",
    benchmark:
        f"benchmarks/{SCALE}/test/{{test}}.tsv"
    wildcard_constraints:
        test=r"[^/]+(/[^/]+)*",
    conda:
        VSML_ENV
    threads: S["threads"]["test"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=60,
    params:
        cmd=lambda w: test_command(w.test),
        fingerprint=lambda w: pipeline.short_hash(test_job(w.test)),
        not_run=lambda w: bool(test_job(w.test).missing),
    shell:
        "if [ {params.not_run} = True ]; then ({params.cmd}) > {output} 2> {log}; "
        "else {params.cmd} {output} > {log} 2>&1; fi"
