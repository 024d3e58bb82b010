# Two entry points (see README):  `make run`  and  `make test`.
# Both create .venv with everything needed (Python 3.11 and pip, no conda), installed from
# requirements.lock: the exact versions (and hashes) behind published/.
# `make run` builds Fig. 6 at the default (mini) scale; `make run SCALE=smoke` in minutes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SCALE  ?= mini

.PHONY: run test test-slurm setup lint lock bench publish

# the lock pins every package (--no-deps: nothing unlocked comes in), then the project itself
$(BIN)/vsml: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(BIN)/vsml

setup: $(BIN)/vsml

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all --config scale=$(SCALE) -- figures/fig6.pdf

test: setup lint
	$(BIN)/python -m pytest -q

# Python (ruff), the workflow's format (snakefmt) and Snakemake's own linter
lint: setup
	$(BIN)/ruff check vsml baselines tests workflow/scripts
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(BIN)/snakemake --lint --config scale=smoke

# Refresh requirements.lock to the newest versions pyproject.toml allows (docs/pipeline.md,
# "The locked environment"); then `rm -r .venv && make test`, and publish a new run
lock: setup
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra cluster --generate-hashes \
	  --python-version 3.11 --upgrade --quiet -o requirements.lock

# The SLURM path on a local single-node cluster (docs/cluster.md): the smoke Fig. 6 through
# sbatch and `srun -n 2 vsml meta-train --distributed`; the cluster is stopped afterwards.
test-slurm: setup
	bash workflow/scripts/local_slurm.sh start
	VSML_TEST_SLURM=1 $(BIN)/python -m pytest -q -s tests/test_slurm.py; \
	  rc=$$?; bash workflow/scripts/local_slurm.sh stop; exit $$rc

bench: setup
	$(BIN)/vsml bench

# Copy a finished run's figures, tables, claims tables, checkpoints and job costs to
# published/$(SCALE)/ (kept in git; the pipeline never reads them, so a run always rebuilds
# its own results/ and figures/). Fails, publishing nothing, when a required output is
# missing; FIGURES="fig6 fig8" publishes only those (docs/pipeline.md)
publish:
	$(BIN)/python workflow/scripts/publish.py --scale $(SCALE) $(if $(FIGURES),--figures $(FIGURES))
