# Two entry points (see README):  `make run`  and  `make test`.
# Both create .venv with everything needed (Python >= 3.11 and pip, no conda).
# `make run` builds Fig. 6 at the default (mini) scale; `make run SCALE=smoke` in minutes.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SCALE  ?= mini

.PHONY: run test test-slurm setup lint bench publish

$(BIN)/vsml: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,cluster]"
	touch $(BIN)/vsml

setup: $(BIN)/vsml

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores all --config scale=$(SCALE) -- figures/fig6.pdf

test: setup
	$(BIN)/ruff check vsml baselines tests
	$(BIN)/python -m pytest -q

# The SLURM path on a local single-node cluster (docs/cluster.md): the smoke Fig. 6 through
# sbatch and `srun -n 2 vsml meta-train --distributed`; the cluster is stopped afterwards.
test-slurm: setup
	bash workflow/scripts/local_slurm.sh start
	VSML_TEST_SLURM=1 $(BIN)/python -m pytest -q -s tests/test_slurm.py; \
	  rc=$$?; bash workflow/scripts/local_slurm.sh stop; exit $$rc

bench: setup
	$(BIN)/vsml bench

# Copy a finished run's tables, claims and Figs. 6 + 8 to published/$(SCALE)/ (kept in git;
# the pipeline never reads them, so a run always rebuilds its own results/ and figures/)
publish:
	mkdir -p published/$(SCALE)/figures
	cp -r results/$(SCALE)/fig6.csv results/$(SCALE)/fig8.csv results/$(SCALE)/raw \
	  results/$(SCALE)/curves results/$(SCALE)/claims.csv results/$(SCALE)/claims.md \
	  results/$(SCALE)/claims.html published/$(SCALE)/
	cp figures/fig6.pdf figures/fig6.png figures/fig8.pdf figures/fig8.png published/$(SCALE)/figures/
	# Figs. 7 and 12-16 when built (their rows in raw/ and curves/ came with the folders above)
	-for f in fig7 fig12 fig13 fig14 fig15 fig16; do test -f results/$(SCALE)/$$f.csv \
	  && cp results/$(SCALE)/$$f.csv published/$(SCALE)/ \
	  && cp figures/$$f.pdf figures/$$f.png published/$(SCALE)/figures/; done
	# the cloning figures and tables too, when `snakemake cloning` was built ('-': optional)
	-cp -r results/$(SCALE)/cloning published/$(SCALE)/
	-cp figures/fig5.pdf figures/fig5.png figures/fig10.pdf figures/fig10.png \
	  figures/fig11.pdf figures/fig11.png published/$(SCALE)/figures/
	# App. B Figs. 9, 17, 19 (introspection, short-horizon bias; `snakemake appendix_mnist`)
	-mkdir -p published/$(SCALE)/appendix_mnist/introspection \
	  published/$(SCALE)/appendix_mnist/curves
	-for f in fig9 fig17 fig19; do cp results/$(SCALE)/$$f.csv published/$(SCALE)/appendix_mnist/ \
	  && cp figures/$$f.pdf figures/$$f.png published/$(SCALE)/figures/; done
	-cp results/$(SCALE)/introspection/fig9.csv results/$(SCALE)/introspection/fig17.csv \
	  published/$(SCALE)/appendix_mnist/introspection/
	-cp results/$(SCALE)/curves/fig19.csv published/$(SCALE)/appendix_mnist/curves/
	-cp results/$(SCALE)/appendix_mnist/claims.csv results/$(SCALE)/appendix_mnist/claims.md \
	  results/$(SCALE)/appendix_mnist/claims.html published/$(SCALE)/appendix_mnist/
	# App. B Figs. 18, 20, 21 (Omniglot, conv VSML, CIFAR-10) when built; their claims table
	-mkdir -p published/$(SCALE)/appendix_train/raw published/$(SCALE)/appendix_train/curves
	-for f in fig18 fig20 fig21; do cp results/$(SCALE)/$$f.csv published/$(SCALE)/appendix_train/ \
	  && cp results/$(SCALE)/raw/$$f.csv published/$(SCALE)/appendix_train/raw/ \
	  && cp figures/$$f.pdf figures/$$f.png published/$(SCALE)/figures/; \
	  cp results/$(SCALE)/curves/$$f.csv published/$(SCALE)/appendix_train/curves/ 2>/dev/null; done
	-cp results/$(SCALE)/appendix_train/claims.csv results/$(SCALE)/appendix_train/claims.md \
	  results/$(SCALE)/appendix_train/claims.html published/$(SCALE)/appendix_train/
	# the meta-trained VSML learners (checkpoints/) and the conv run's meta-loss (Fig. 20)
	-$(BIN)/python workflow/scripts/publish_checkpoints.py --scale $(SCALE)
	# what every job cost (wall/CPU seconds, memory) when the run recorded its benchmarks
	-test -d benchmarks/$(SCALE) && $(BIN)/python workflow/scripts/job_times.py \
	  benchmarks/$(SCALE) --out published/$(SCALE)/job_times.csv
