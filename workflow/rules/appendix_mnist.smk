# App. B Figs. 9, 17 (introspection) and 19 (short-horizon bias): meta-tests of Fig. 6's
# MNIST-meta-trained VSML (the same run, nothing trains twice) and of online SGD/Adam,
# planned in vsml/repro/introspection.py (settings: appendix_mnist in config/pipeline.yaml).
#
#   meta_test (test.smk)  -> runs/<scale>/test/...csv   (--probabilities [--repeat 2 --one-per-class])
#   introspect_table      -> results/<scale>/fig{9,17}.csv + introspection/fig{9,17}.csv
#   horizon_table         -> results/<scale>/fig19.csv + curves/fig19.csv
#   introspect_figure, horizon_figure -> figures/fig{9,17,19}.{pdf,png}


rule introspect_table:
    input:
        cells=lambda w: CELLS[w.fig],
        tests=_figure_tests,
    output:
        summary=report(
            f"{RES}/{{fig}}.csv", category="Tables", labels={"figure": "{fig}", "table": "summary"}
        ),
        steps=f"{RES}/introspection/{{fig}}.csv",
    log:
        f"logs/{SCALE}/aggregate/{{fig}}.log",
    wildcard_constraints:
        fig="fig9|fig17",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
        tests=f"{RUNS}/test",
    shell:
        "vsml introspect-table --cells {input.cells} --tests {params.tests} --scale {params.scale} "
        "--out {output.summary} --steps {output.steps} > {log} 2>&1"


rule horizon_table:
    input:
        cells=lambda w: CELLS[w.fig],
        tests=_figure_tests,
    output:
        summary=report(
            f"{RES}/{{fig}}.csv", category="Tables", labels={"figure": "{fig}", "table": "summary"}
        ),
        curves=f"{RES}/curves/{{fig}}.csv",
    log:
        f"logs/{SCALE}/aggregate/{{fig}}.log",
    wildcard_constraints:
        fig="fig19",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
        tests=f"{RUNS}/test",
    shell:
        "vsml horizon-table --cells {input.cells} --tests {params.tests} --scale {params.scale} "
        "--out {output.summary} --curves {output.curves} > {log} 2>&1"


rule introspect_figure:
    input:
        summary=f"{RES}/{{fig}}.csv",
        steps=f"{RES}/introspection/{{fig}}.csv",
    output:
        pdf="figures/{fig}.pdf",
        png=report("figures/{fig}.png", category="Figures", labels={"figure": "{fig}"}),
    log:
        f"logs/{SCALE}/figure/{{fig}}.log",
    wildcard_constraints:
        fig="fig9|fig17",
    conda:
        VSML_ENV
    params:
        scale=SCALE,  # a figure of another scale is rebuilt
    shell:
        "vsml introspect-figure --figure {wildcards.fig} --summary {input.summary} "
        "--steps {input.steps} --scale {params.scale} --out {output.pdf} > {log} 2>&1"


rule horizon_figure:
    input:
        summary=f"{RES}/{{fig}}.csv",
        curves=f"{RES}/curves/{{fig}}.csv",
    output:
        pdf="figures/{fig}.pdf",
        png=report("figures/{fig}.png", category="Figures", labels={"figure": "{fig}"}),
    log:
        f"logs/{SCALE}/figure/{{fig}}.log",
    wildcard_constraints:
        fig="fig19",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
    shell:
        "vsml horizon-figure --summary {input.summary} --curves {input.curves} "
        "--scale {params.scale} --out {output.pdf} > {log} 2>&1"


# the generic aggregate/figure rules (figures.smk) match these figures too: ours win
ruleorder: introspect_table > aggregate
ruleorder: horizon_table > aggregate
ruleorder: introspect_figure > figure
ruleorder: horizon_figure > figure


# Their claims on their own (like the cloning and appendix_train claims); the scale's
# claims_figures decides whether the main claims table judges them too.
rule appendix_mnist_claims:
    input:
        summaries=[f"{RES}/{fig}.csv" for fig in ("fig9", "fig17", "fig19")],
        diagnoses=DIAGNOSES,
    output:
        csv=f"{RES}/appendix_mnist/claims.csv",
        md=f"{RES}/appendix_mnist/claims.md",
        html=report(f"{RES}/appendix_mnist/claims.html", category="Claims"),
    log:
        f"logs/{SCALE}/appendix_mnist/claims.log",
    conda:
        VSML_ENV
    params:
        scale=SCALE,
    shell:
        "vsml claims --summary {input.summaries} --diagnoses {input.diagnoses} "
        "--figures fig9 fig17 fig19 --scale {params.scale} "
        "--out {output.csv} > {log} 2>&1"


rule appendix_mnist:
    input:
        expand("figures/{fig}.pdf", fig=("fig9", "fig17", "fig19")),
        f"{RES}/appendix_mnist/claims.csv",
