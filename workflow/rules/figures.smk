# Figures: cells (written by the Snakefile) -> aggregate (tidy tables) -> figure (PDF + PNG).


rule aggregate:
    input:
        cells=lambda w: CELLS[w.fig],
        tests=_figure_tests,
    output:
        summary=report(
            f"{RES}/{{fig}}.csv", category="Tables", labels={"figure": "{fig}", "table": "summary"}
        ),
        raw=f"{RES}/raw/{{fig}}.csv",
    log:
        f"logs/{SCALE}/aggregate/{{fig}}.log",
    wildcard_constraints:
        fig="|".join(f for f in FIGURES if f not in CURVE_FIGURES),
    conda:
        VSML_ENV
    params:
        scale=SCALE,
        tests=f"{RUNS}/test",
    shell:
        "vsml aggregate --cells {input.cells} --tests {params.tests} --scale {params.scale} "
        "--out {output.summary} --raw {output.raw} > {log} 2>&1"


rule aggregate_curves:
    input:
        cells=lambda w: CELLS[w.fig],
        tests=_figure_tests,
    output:
        summary=report(
            f"{RES}/{{fig}}.csv", category="Tables", labels={"figure": "{fig}", "table": "summary"}
        ),
        raw=f"{RES}/raw/{{fig}}.csv",
        curves=f"{RES}/curves/{{fig}}.csv",
    log:
        f"logs/{SCALE}/aggregate/{{fig}}.log",
    wildcard_constraints:
        fig="|".join(CURVE_FIGURES),
    conda:
        VSML_ENV
    params:
        scale=SCALE,
        tests=f"{RUNS}/test",
    shell:
        "vsml aggregate --cells {input.cells} --tests {params.tests} --scale {params.scale} "
        "--out {output.summary} --raw {output.raw} --curves {output.curves} > {log} 2>&1"


rule figure:
    input:
        unpack(_figure_input),
    output:
        pdf="figures/{fig}.pdf",
        png=report(
            "figures/{fig}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{fig}"},
        ),
    log:
        f"logs/{SCALE}/figure/{{fig}}.log",
    conda:
        VSML_ENV
    params:
        scale=SCALE,  # a figure of another scale is rebuilt
        curves=lambda w, input: f"--curves {input.curves}" if "curves" in input.keys() else "",
    shell:
        "vsml figure --figure {wildcards.fig} --summary {input.summary} {params.curves} "
        "--scale {params.scale} --out {output.pdf} > {log} 2>&1"
