# The reproduction pipeline:  snakemake --cores all [--config scale=smoke|mini|paper] TARGET
#   figures/fig6.pdf ... figures/fig16.pdf     one figure (PDF + PNG)
#   results/<scale>/claims.csv                 the claims table (needs every figure)
#   all (default)                              every figure (5-21) and every claims table
# then  snakemake --config scale=<scale> --report report.html
# See docs/pipeline.md.  The plan (jobs, cells, hashes) comes from vsml/repro/pipeline.py.

import json
import os
import shlex

from vsml import data
from vsml.repro import pipeline
from vsml.repro.aggregate import not_run_csv


configfile: "config/pipeline.yaml"


# $VSML_DATA_DIR (the environment) wins over the config's data_dir
if config.get("data_dir") and "VSML_DATA_DIR" not in os.environ:
    os.environ["VSML_DATA_DIR"] = str(config["data_dir"])
if config.get("jax_cache"):
    # XLA compilations are shared by every job (equal shapes compile once per machine)
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.abspath(config["jax_cache"]))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

SCALE, S = pipeline.resolve_scale(config)
PLAN = pipeline.Plan(S, SCALE, data.available)
RES = f"results/{SCALE}"  # tidy tables, claims (small, kept in git)
RUNS = f"runs/{SCALE}"  # checkpoints and per-step meta-test CSVs (large, ignored by git)
FIGURES = pipeline.FIGURES
CURVE_FIGURES = pipeline.CURVE_FIGURES

report: "workflow/report/workflow.rst"


def write_cells():
    """results/<scale>/cells/<fig>-<hash>.json: what every bar/curve of a figure is.

    Written while the Snakefile is read (a rule would cost a Snakefile re-parse per
    figure); the name carries the hash of the content, so a changed figure plan is a new
    input of its aggregation (which then reruns) and switching back reuses the old file.
    """
    from pathlib import Path

    from vsml.io import write_text_atomic

    out = {}
    for fig in FIGURES:
        records = PLAN.cell_records(fig)
        path = Path(f"{RES}/cells/{fig}-{pipeline.short_hash(records)}.json")
        if not path.exists():
            write_text_atomic(path, json.dumps(records, indent=1, sort_keys=True) + "\n")
        out[fig] = str(path)
    return out


CELLS = write_cells()


wildcard_constraints:
    fig="fig[0-9]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/test.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/cloning.smk"
include: "workflow/rules/appendix_mnist.smk"
include: "workflow/rules/appendix_train.smk"


# every figure (5-21) and every claims table: the main one, and those of the cloning
# figures and of the appendix figures on their own
rule all:
    default_target: True
    input:
        expand("figures/{fig}.pdf", fig=FIGURES),
        f"{RES}/claims.csv",
        f"{RES}/appendix_train/claims.csv",
        f"{RES}/appendix_mnist/claims.csv",
        rules.cloning.input if CL is not None else [],
