# The reproduction pipeline:  snakemake --cores all [--config scale=smoke|mini|paper] TARGET
#   figures/fig6.pdf ... figures/fig16.pdf     one figure (PDF + PNG)
#   results/<scale>/claims.csv                 the claims table (needs every figure)
#   all (default)                              every figure (5-21) and every claims table
# then  snakemake --config scale=<scale> --report report.html
# See docs/pipeline.md.  The plan (jobs, cells, hashes) comes from vsml/repro/pipeline.py.

import json
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vsml import data
from vsml.errors import UserError
from vsml.repro import config_schema, pipeline
from vsml.repro.aggregate import not_run_csv


configfile: "config/pipeline.yaml"


# A bad value stops here, before anything is planned, with one line: key, value, what is
# allowed (workflow/schemas/config.schema.yaml; --config values typed first).
CONFIG_SCHEMA = "workflow/schemas/config.schema.yaml"
config.update(config_schema.typed_overrides(config))
try:
    validate(config, CONFIG_SCHEMA)
    SCALE, S = pipeline.resolve_scale(config)
    pipeline.export_environment(config)
    PLAN = pipeline.Plan(S, SCALE, data.available)
except WorkflowError as err:
    sys.exit(config_schema.one_line(err, f"{workflow.basedir}/{CONFIG_SCHEMA}"))
except UserError as err:
    sys.exit(f"{config_schema.PREFIX}: {err}")

RES = f"results/{SCALE}"  # tidy tables, claims (small, kept in git)
RUNS = f"runs/{SCALE}"  # checkpoints, per-step meta-test CSVs (large, ignored by git)
FIGURES = pipeline.FIGURES
CURVE_FIGURES = pipeline.CURVE_FIGURES
# the software of every rule for --sdm conda (docs/pipeline.md): workflow/envs/vsml.yaml,
# named relative to workflow/rules/, where every rule with a command is
VSML_ENV = "../envs/vsml.yaml"
# why a claim is not reproduced (the claims tables' diagnosis column; docs/diagnosis.md)
DIAGNOSES = "config/diagnoses.yaml"


report: "workflow/report/workflow.rst"


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
