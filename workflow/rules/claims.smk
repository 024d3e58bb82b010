# The claims table: one row per checkable claim of the paper, judged by rules fixed in
# vsml/repro/claims.py.  Needs the summary tables of the scale's claims_figures (default: every
# figure); claims of the other figures say "not run".


rule claims:
    input:
        summaries=expand(f"{RES}/{{fig}}.csv", fig=PLAN.claims_figures),
        diagnoses=DIAGNOSES,
    output:
        csv=f"{RES}/claims.csv",
        md=f"{RES}/claims.md",
        html=report(f"{RES}/claims.html", caption="../report/claims.rst", category="Claims"),
    log:
        f"logs/{SCALE}/claims.log",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
    shell:
        "vsml claims --summary {input.summaries} --diagnoses {input.diagnoses} "
        "--scale {params.scale} --out {output.csv} > {log} 2>&1"
