#!/usr/bin/env bash
# Snakemake runs this inside the new conda environment of workflow/envs/vsml.yaml, from the
# working directory of the run (the repository root): the locked packages, then vsml-repro.
set -euo pipefail
python -m pip install --require-hashes --no-deps -r requirements.lock
python -m pip install --no-deps -e .
