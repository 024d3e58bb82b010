# Learning-algorithm cloning (paper Sec. 3.2, 4.1, App. B.1, C.1): Figs. 5, 10 and 11 and
# the cloning claims.  Settings per scale: config/cloning.yaml (read here, not through
# Snakemake's config).  docs/cloning.md describes the method and the results.
#
#   clone-forward                     -> runs/<scale>/cloning/forward.npz   -> Fig. 10
#   clone-backprop --depth shallow    -> runs/<scale>/cloning/shallow.npz
#   clone-backprop --depth deep       -> runs/<scale>/cloning/deep.npz      (init: shallow)
#   clone-eval shallow clone (shallow arrangement)        -> eval_shallow{,_summary}.csv
#   clone-eval deep clone (shallow + deep arrangements)   -> eval_deep{,_summary}.csv
#   clone-table -> results/<scale>/cloning/{fig5,fig10,fig11,clones}.csv (tidy, small)
#   clone-figure -> figures/fig{5,10,11}.{pdf,png}
#   vsml claims --figures fig5 -> results/<scale>/cloning/claims.{csv,md,html}
#   target `cloning`: all of the above

import sys

import yaml

from vsml import cloning as _cloning

CLONING_CONFIG = "config/cloning.yaml"
CL_RUNS = f"{RUNS}/cloning"  # parameters and per-step curves (large, ignored by git)
CL_RES = f"{RES}/cloning"  # tidy tables and claims (published copies: published/<scale>/)
CL_LOGS = f"logs/{SCALE}/cloning"
CL_FIGURES = ("fig5", "fig10", "fig11")

with open(CLONING_CONFIG) as _f:
    _cl_config = yaml.safe_load(_f)
if SCALE in (_cl_config.get("scales") or {}):
    CL = _cloning.pipeline_settings(_cl_config, SCALE)
else:  # a pipeline scale without cloning settings: the cloning rules are left out
    CL = None
    print(
        f"{CLONING_CONFIG} has no scale {SCALE!r}: no cloning rules (figs 5, 10, 11)",
        file=sys.stderr,
    )


_CL_TABLE_INPUT = {
    "fig5": [f"{CL_RUNS}/eval_shallow_summary.csv", f"{CL_RUNS}/eval_deep_summary.csv"],
    "fig10": [f"{CL_RUNS}/forward.npz"],
    "fig11": [f"{CL_RUNS}/eval_deep_summary.csv"],
    "clones": [f"{CL_RUNS}/shallow.npz", f"{CL_RUNS}/deep.npz"],
}
_CL_FIGURE_INPUT = {
    "fig5": [f"{CL_RUNS}/eval_shallow.csv", f"{CL_RUNS}/eval_deep.csv"],
    "fig10": [f"{CL_RUNS}/forward.npz"],
    "fig11": [f"{CL_RUNS}/eval_deep.csv"],
}


if CL is not None:

    rule clone_forward:
        output:
            npz=f"{CL_RUNS}/forward.npz",
            json=f"{CL_RUNS}/forward.json",
        log:
            f"{CL_LOGS}/forward.log",
        benchmark:
            f"benchmarks/{SCALE}/cloning/forward.tsv"
        conda:
            VSML_ENV
        threads: CL["threads"]["train"]
        params:
            args=_q(["--scale", SCALE, *_cloning.pipeline_args(CL, "forward")]),
        shell:
            "vsml clone-forward {params.args} --out {output.npz} > {log} 2>&1"

    rule clone_backprop:
        input:
            unpack(_cl_backprop_input),
        output:
            npz=f"{CL_RUNS}/{{clone}}.npz",
            json=f"{CL_RUNS}/{{clone}}.json",
        log:
            f"{CL_LOGS}/{{clone}}.log",
        benchmark:
            f"benchmarks/{SCALE}/cloning/{{clone}}.tsv"
        wildcard_constraints:
            clone="shallow|deep",
        conda:
            VSML_ENV
        threads: CL["threads"]["train"]
        params:
            args=lambda w: _q(["--scale", SCALE, *_cloning.pipeline_args(CL, w.clone)]),
            init=lambda w, input: f"--init {input.init}" if "init" in input.keys() else "",
        shell:
            "vsml clone-backprop {params.args} {params.init} --out {output.npz} > {log} 2>&1"

    rule clone_eval:
        input:
            lambda w: f"{CL_RUNS}/{w.clone}.npz",
        output:
            curves=f"{CL_RUNS}/eval_{{clone}}.csv",
            summary=f"{CL_RUNS}/eval_{{clone}}_summary.csv",
        log:
            f"{CL_LOGS}/eval_{{clone}}.log",
        benchmark:
            f"benchmarks/{SCALE}/cloning/eval_{{clone}}.tsv"
        wildcard_constraints:
            clone="shallow|deep",
        conda:
            VSML_ENV
        threads: CL["threads"]["eval"]
        params:
            args=_q(["--scale", SCALE, *_cloning.pipeline_args(CL, "eval")]),
            # the deep-curriculum clone runs both arrangements (Fig. 11)
            depths=lambda w: "shallow" if w.clone == "shallow" else "shallow,deep",
        shell:
            "vsml clone-eval {params.args} --params {input} --depths {params.depths} "
            "--out {output.curves} > {log} 2>&1"

    rule clone_table:
        input:
            lambda w: _CL_TABLE_INPUT[w.table],
        output:
            report(
                f"{CL_RES}/{{table}}.csv",
                category="Cloning",
                labels={"table": "{table}"},
            ),
        log:
            f"{CL_LOGS}/table_{{table}}.log",
        wildcard_constraints:
            table="fig5|fig10|fig11|clones",
        conda:
            VSML_ENV
        shell:
            "vsml clone-table {wildcards.table} --inputs {input} --out {output} > {log} 2>&1"

    rule clone_figure:
        input:
            curves=lambda w: _CL_FIGURE_INPUT[w.fig],
            # a figure always comes with its numbers
            table=f"{CL_RES}/{{fig}}.csv",
        output:
            pdf="figures/{fig}.pdf",
            png=report("figures/{fig}.png", category="Figures", labels={"figure": "{fig}"}),
        log:
            f"{CL_LOGS}/figure_{{fig}}.log",
        wildcard_constraints:
            fig="|".join(CL_FIGURES),
        conda:
            VSML_ENV
        params:
            scale=SCALE,  # a figure of another scale is rebuilt
        shell:
            "vsml clone-figure {wildcards.fig} --inputs {input.curves} --out {output.pdf} "
            "> {log} 2>&1"

    ruleorder: clone_figure > figure

    rule clone_claims:
        input:
            summaries=f"{CL_RES}/fig5.csv",
            diagnoses=DIAGNOSES,
        output:
            csv=f"{CL_RES}/claims.csv",
            md=f"{CL_RES}/claims.md",
            html=report(f"{CL_RES}/claims.html", category="Cloning"),
        log:
            f"{CL_LOGS}/claims.log",
        conda:
            VSML_ENV
        params:
            scale=SCALE,
        shell:
            "vsml claims --summary {input.summaries} --diagnoses {input.diagnoses} "
            "--figures fig5 --scale {params.scale} --out {output.csv} "
            "> {log} 2>&1"

    rule cloning:
        input:
            expand("figures/{fig}.pdf", fig=CL_FIGURES),
            f"{CL_RES}/claims.csv",
            f"{CL_RES}/clones.csv",
