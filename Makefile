# Two entry points (see README):  `make run`  and  `make test`.
# Both create .venv with everything needed (Python >= 3.11 and pip, no conda).
# `make run` builds Fig. 6 at the default (mini) scale; `make run SCALE=smoke` in minutes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SCALE  ?= mini

.PHONY: run test setup lint bench

$(BIN)/vsml: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/vsml

setup: $(BIN)/vsml

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all --config scale=$(SCALE) -- figures/fig6.pdf

test: setup
	$(BIN)/ruff check vsml baselines tests
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/vsml bench
