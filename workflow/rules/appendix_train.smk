# App. B figures with their own meta-training runs: Figs. 18 (Omniglot 5-way 1-shot), 20 (conv
# VSML) and 21 (conv VSML meta-trained on CIFAR-10).  Their runs and meta-tests are ordinary
# jobs of the plan (rules meta_train / meta_test); vsml/repro/appendix_train.py plans them
# from the scale's `appendix_train` settings.  Fig. 20 is aggregated like Fig. 8, Fig. 21
# like Fig. 6 (learning curves); Fig. 18 has its own table (query accuracy per block of
# episodes and the meta-training curves), and all three have their own drawing.

from vsml.repro import appendix_train as _appendix

_FEWSHOT = _appendix.settings(PLAN, "fig18")


rule fewshot_aggregate:
    input:
        cells=lambda w: CELLS["fig18"],
        tests=lambda w: [f"{RUNS}/test/{t}.csv" for t in PLAN.figure_tests("fig18")],
        runs=lambda w: [
            f"{RUNS}/train/{r}/status.json" for r in _appendix.train_runs(PLAN, "fig18")
        ],
    output:
        summary=report(
            f"{RES}/fig18.csv", category="Tables", labels={"figure": "fig18", "table": "summary"}
        ),
        raw=f"{RES}/raw/fig18.csv",
        curves=f"{RES}/curves/fig18.csv",
    log:
        f"logs/{SCALE}/aggregate/fig18.log",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
        tests=f"{RUNS}/test",
        runs=f"{RUNS}/train",
        per_seed=_FEWSHOT["episodes_per_seed"],
    shell:
        "vsml fewshot-aggregate --cells {input.cells} --tests {params.tests} --runs {params.runs} "
        "--episodes-per-seed {params.per_seed} --scale {params.scale} --out {output.summary} "
        "--raw {output.raw} --curves {output.curves} > {log} 2>&1"


ruleorder: fewshot_aggregate > aggregate


rule appendix_figure:
    input:
        unpack(_appendix_figure_input),
    output:
        pdf="figures/{fig}.pdf",
        png=report("figures/{fig}.png", category="Figures", labels={"figure": "{fig}"}),
    log:
        f"logs/{SCALE}/figure/{{fig}}.log",
    wildcard_constraints:
        fig="|".join(_appendix.FIGURES),
    conda:
        VSML_ENV
    params:
        scale=SCALE,  # a figure of another scale is rebuilt
        curves=lambda w, input: f"--curves {input.curves}" if "curves" in input.keys() else "",
    shell:
        "vsml appendix-figure --figure {wildcards.fig} --summary {input.summary} "
        "{params.curves} --scale {params.scale} --out {output.pdf} > {log} 2>&1"


ruleorder: appendix_figure > figure


# The App. B claims on their own (like the cloning claims): the scale's
# appendix_train.claims_figures (default all three; the others' claims say "not run").
rule appendix_claims:
    input:
        summaries=[f"{RES}/{fig}.csv" for fig in _appendix.claims_figures(PLAN)],
        diagnoses=DIAGNOSES,
    output:
        csv=f"{RES}/appendix_train/claims.csv",
        md=f"{RES}/appendix_train/claims.md",
        html=report(f"{RES}/appendix_train/claims.html", category="Claims"),
    log:
        f"logs/{SCALE}/appendix_train/claims.log",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
        figures=" ".join(_appendix.FIGURES),
    shell:
        "vsml claims --summary {input.summaries} --diagnoses {input.diagnoses} "
        "--figures {params.figures} --scale {params.scale} "
        "--out {output.csv} > {log} 2>&1"
