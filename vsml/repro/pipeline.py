"""The plan of the reproduction pipeline: scale config -> meta-train jobs, meta-test jobs, cells.

The ``Snakefile`` only turns this plan into rules, so it can be tested without Snakemake.

* ``resolve_scale(config)``: the selected scale of ``config/pipeline.yaml`` with the
  top-level command-line overrides merged in (mappings merge, lists/scalars replace).
* ``Plan(scale_config, scale, available)``: every job and every figure cell.  A
  ``TrainJob`` is one ``vsml meta-train`` run (method x variant x meta-training
  distribution); a ``TestJob`` one ``vsml meta-test`` call (learner x test configuration);
  a ``Cell`` one bar/curve of a figure (it names its test job).  Job ids embed a short hash
  of everything that determines the job's result, so changing one value changes exactly
  the ids (and thus the files) of the affected jobs; everything else is reused.
* Jobs whose datasets are not available locally stay in the plan with ``missing`` set: the
  rules then write a "not run: data unavailable" marker instead of running.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vsml.errors import UserError, check_choice

SCALES = ("smoke", "mini", "paper")
META_LEARNED = ("vsml", "metarnn", "hebbian", "fwmemory")
ONLINE = ("sgd-shallow", "sgd-deep", "adam-shallow", "adam-deep")
METHOD_CONFIG = {
    "vsml": "config/default.yaml",
    "metarnn": "config/metarnn.yaml",
    "hebbian": "config/hebbian.yaml",
    "fwmemory": "config/fwmemory.yaml",
}
VARIANTS = ("plain", "proj", "augment")
PROJECTION_FRACTION = 0.5  # the paper's runs with projection: half the population
# Sec. 4 / App. B figures of the grid pipeline; App. B figures with their own meta-training
# runs (vsml/repro/appendix_train.py); App. B figures of Fig. 6's MNIST-meta-trained VSML, no
# new training (vsml/repro/introspection.py)
FIGURES = ("fig6", "fig7", "fig8", "fig12", "fig13", "fig14", "fig15", "fig16",
           "fig18", "fig20", "fig21",
           "fig9", "fig17", "fig19")
# figures drawn from learning curves (the others from accuracies at one point)
CURVE_FIGURES = ("fig6", "fig12", "fig16", "fig21")
NOT_RUN_DATA = "not run: data unavailable"
SCALE_KEYS = ("image_size", "train", "seeds", "seeds_fig6", "length", "test_seed", "threads",
              "pool", "distributions", "datasets", "methods", "fig6_methods", "fig12_methods",
              "fig16_methods", "fig7", "claims_figures", *META_LEARNED, *ONLINE,
              "appendix_train", "pool_available_only", "appendix_mnist")
# keys a scale may leave out (claims_figures: every figure; pool_available_only: "all" /
# "all_but_X" meta-train on the part of the pool that exists here; appendix_train: Figs. 18,
# 20, 21; appendix_mnist: Figs. 9, 17, 19)
OPTIONAL_KEYS = ("claims_figures", *META_LEARNED, *ONLINE, "pool_available_only",
                 "appendix_train", "appendix_mnist")


def short_hash(obj: Any, n: int = 10) -> str:
    """First ``n`` hex digits of the sha256 of ``obj``'s canonical JSON."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def merge(base: Any, override: Any) -> Any:
    """Deep merge: mappings merge key by key, everything else is replaced."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def typed(value: Any) -> Any:
    """Numbers and booleans of a command-line override as numbers and booleans.

    Snakemake reads the scalars inside ``--config key={...}`` (and ``key=false``) as strings
    (YAML's BaseLoader): ``threads={train: 2}`` would give ``"2"``, and ``"false"`` is truthy.
    """
    if isinstance(value, Mapping):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, str):
        from vsml.meta.config import parse_value  # how --set reads values (imports JAX)

        parsed = parse_value(value)
        if parsed is None or isinstance(parsed, (bool, int, float)):
            return parsed
    return value


def resolve_scale(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(scale name, its settings with the top-level overrides of ``config`` merged in)."""
    scale = str(config.get("scale", "mini"))
    scales = config.get("scales") or {}
    if scale not in scales:
        check_choice("scale", scale, sorted(scales) or SCALES)
    settings = copy.deepcopy(scales[scale])
    for key, value in config.items():
        if key in ("scale", "scales", "data_dir", "jax_cache"):
            continue
        if key not in SCALE_KEYS:
            check_choice("pipeline config key", key, SCALE_KEYS)
        value = typed(value)
        settings[key] = merge(settings.get(key), value) if key in settings else value
    missing = [k for k in SCALE_KEYS if k not in settings and k not in OPTIONAL_KEYS]
    if missing:
        raise UserError(f"scale {scale!r} of the pipeline config lacks keys {missing}")
    return scale, settings


def export_environment(config: Mapping[str, Any]) -> None:
    """The config's data folder and XLA cache, for every job (they read the environment).

    ``$VSML_DATA_DIR`` set by the user wins over ``data_dir``; both are optional (datasets
    default to resources/data), so the Snakefile does not require the variable (``envvars``).
    """
    if config.get("data_dir") and "VSML_DATA_DIR" not in os.environ:
        os.environ["VSML_DATA_DIR"] = str(config["data_dir"])
    if config.get("jax_cache"):
        # XLA compilations are shared by every job (equal shapes compile once per machine)
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.abspath(config["jax_cache"]))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def load_plan(root: str | os.PathLike, scale: str | None = None,
              config_file: str | os.PathLike = "config/pipeline.yaml") -> Plan:
    """The plan of ``root``'s pipeline config (relative to ``root``) at ``scale`` (default:
    the config's), as the Snakefile builds it: the same environment, datasets and method
    config files."""
    import contextlib

    import yaml

    from vsml import data

    with contextlib.chdir(root):  # run config files, data_dir and resources/data are relative
        with open(config_file) as f:
            config = yaml.safe_load(f) or {}
        if scale is not None:
            config["scale"] = scale
        name, settings = resolve_scale(config)  # unknown scale: UserError
        export_environment(config)
        return Plan(settings, name, data.available)


def distribution(name: str, pool: Sequence[str]) -> tuple[str, ...]:
    """Datasets of a meta-training distribution: a dataset, ``all`` or ``all_but_X``."""
    if name == "all":
        return tuple(pool)
    if name.startswith("all_but_"):
        left = name[len("all_but_"):]
        check_choice("dataset after all_but_", left, pool)
        return tuple(d for d in pool if d != left)
    from vsml.data import DATASETS

    check_choice("meta-training distribution", name, [*DATASETS, "all", "all_but_<dataset>"])
    return (name,)


def _sets(values: Mapping[str, Any] | None) -> list[str]:
    """``{"es.pairs": 8}`` -> ``["es.pairs=8"]`` (values as JSON, which YAML parses)."""
    out = []
    for key, value in (values or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(f"{key}={text}")
    return out


@dataclasses.dataclass(frozen=True)
class TrainJob:
    id: str  # method/variant/distribution-hash (a folder under runs/<scale>/train/)
    method: str
    variant: str
    distribution: str
    datasets: tuple[str, ...]
    config_file: str
    sets: tuple[str, ...]
    config_hash: str  # vsml.meta.config.config_hash of the resolved run config
    missing: tuple[str, ...]  # datasets not available here (non-empty: not run)


@dataclasses.dataclass(frozen=True)
class TestJob:
    id: str  # <train id or method>/<test label>-hash (a CSV under runs/<scale>/test/)
    method: str
    train: str | None  # TrainJob id (None: SGD/Adam, no meta-training)
    dataset: str
    label: str
    episodes: int
    length: int
    seed: int
    sets: tuple[str, ...]
    missing: tuple[str, ...]  # unavailable datasets of this test or of its training run
    # further vsml meta-test flags (--probabilities, --repeat 2); part of the id's hash.  Not
    # in the repr, which the rules hash as a rerun trigger: older jobs keep their fingerprint
    options: tuple[str, ...] = dataclasses.field(default=(), repr=False)


@dataclasses.dataclass(frozen=True)
class Cell:
    figure: str
    panel: str  # test dataset label (and row for the grids)
    method: str
    train: str  # meta-training distribution ("none" for SGD/Adam)
    variant: str  # plain | proj | augment | none
    test: str  # test configuration label (Fig. 7) or the dataset
    dataset: str
    seen: str  # seen | unseen | n/a (not meta-trained)
    test_job: str
    row: str = ""  # grid row (the meta-training distribution of Figs. 8, 13-15)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text.lower()).strip("_")


class Plan:
    """All jobs and cells of one scale.  ``available(name) -> bool`` tells dataset presence."""

    # for figure modules that plan their own runs (vsml/repro/appendix_train.py), which do
    # not import this module (no import cycle)
    meta_learned, online, projection_fraction = META_LEARNED, ONLINE, PROJECTION_FRACTION

    def __init__(self, settings: Mapping[str, Any], scale: str,
                 available: Callable[[str], bool], resolve: bool = True) -> None:
        self.s = dict(settings)
        self.scale = scale
        self.available = available
        self.resolve = resolve  # validate configs with vsml.meta.config (False: hash raw args)
        self.train: dict[str, TrainJob] = {}
        self.test: dict[str, TestJob] = {}
        self.cells: dict[str, list[Cell]] = {}
        self._avail: dict[str, bool] = {}
        self._train_memo: dict[tuple[str, str, str], TrainJob] = {}
        for fig in FIGURES:
            self.cells[fig] = getattr(self, f"_{fig}")()
        self.claims_figures = self._claims_figures()

    def _claims_figures(self) -> tuple[str, ...]:
        """Figures whose tables the claims table is judged on (claims of others: not run)."""
        figs = self.s.get("claims_figures") or FIGURES
        for fig in figs:
            check_choice("claims_figures entry", fig, FIGURES)
        return tuple(figs)

    # ----------------------------------------------------------------- jobs

    def _missing(self, datasets: Sequence[str]) -> tuple[str, ...]:
        for d in datasets:
            if d not in self._avail:
                self._avail[d] = bool(self.available(d))
        return tuple(sorted({d for d in datasets if not self._avail[d]}))

    def _method_sets(self, method: str, variant: str | None = None) -> dict[str, Any]:
        """The scale's ``--set`` values of ``method``; its optional ``variants`` mapping adds
        values for one variant only (e.g. a lower ES lr for a baseline with projections)."""
        sets = dict(self.s.get(method) or {})
        per_variant = sets.pop("variants", None) or {}
        for name in per_variant:
            check_choice(f"{method}.variants entry", name, VARIANTS)
        if variant is not None:
            sets.update(per_variant.get(variant) or {})
        return sets

    def train_job(self, method: str, variant: str, dist: str) -> TrainJob:
        key = (method, variant, dist)
        if key not in self._train_memo:  # figures share runs; resolve each config once
            self._train_memo[key] = self._make_train_job(method, variant, dist)
        return self._train_memo[key]

    def _make_train_job(self, method: str, variant: str, dist: str) -> TrainJob:
        check_choice("meta-learned method", method, META_LEARNED)
        check_choice("variant", variant, VARIANTS)
        datasets = distribution(dist, self.s["pool"])
        label, id_dist = self.distribution_label(dist), dist
        if label != dist:  # restricted to the available datasets: rows share equal trainings
            datasets = self._available_part(datasets)
            id_dist = "_".join(["available", *datasets])
        size = self.s.get("image_size")
        specs = [{"dataset": d, **({"image_size": size} if size else {})} for d in datasets]
        values: dict[str, Any] = {"tasks.datasets": specs}
        values.update(self.s.get("train") or {})
        if variant == "plain":
            values["tasks.random_projection_fraction"] = 0.0
        else:
            values["tasks.random_projection_fraction"] = PROJECTION_FRACTION
        if variant == "augment":
            fig7 = self.s.get("fig7") or {}
            values["tasks.augment.enabled"] = True
            for key, value in (fig7.get("augment") or {}).items():
                values[f"tasks.augment.{key}"] = value
            values.update(fig7.get("train") or {})
        values.update(self._method_sets(method, variant))
        sets = tuple(_sets(values))
        cfg_file = METHOD_CONFIG[method]
        chash = self._config_hash(method, cfg_file, sets)
        job_id = f"{method}/{variant}/{id_dist}-{chash[:10]}"
        job = TrainJob(job_id, method, variant, label, datasets, cfg_file, sets, chash,
                       self._missing(datasets))
        self.train.setdefault(job_id, job)
        return job

    def _available_part(self, datasets: Sequence[str]) -> tuple[str, ...]:
        return tuple(d for d in datasets if not self._missing([d]))

    def distribution_label(self, dist: str) -> str:
        """``dist``, or "all (available: a, b)" where ``pool_available_only`` restricts an
        "all" / "all_but_X" distribution to the datasets this machine has (the label goes
        into the figures and CSVs so a restricted row is never mistaken for the full one)."""
        if not self.s.get("pool_available_only") or not (
                dist == "all" or dist.startswith("all_but_")):
            return dist
        datasets = distribution(dist, self.s["pool"])
        present = self._available_part(datasets)
        if not present or len(present) == len(datasets):
            return dist  # nothing to run on, or nothing missing: the distribution as named
        return f"{dist} (available: {', '.join(present)})"

    def _config_hash(self, method: str, cfg_file: str, sets: Sequence[str]) -> str:
        if not self.resolve:
            return short_hash([method, cfg_file, list(sets)], 64)
        from vsml.meta.config import load_config, trajectory_hash

        # The trajectory hash leaves out meta_train.steps/checkpoint_every, so more steps
        # extend the same run directory (vsml meta-train resumes) instead of starting over.
        try:
            return trajectory_hash(load_config(cfg_file, sets, method))
        except UserError as err:
            raise UserError(f"pipeline run {method} ({' '.join(sets)}): {err}") from None

    def test_job(self, method: str, dataset: str, *, train: TrainJob | None = None,
                 label: str | None = None, extra: Mapping[str, Any] | None = None,
                 episodes: int | None = None, length: int | None = None,
                 options: Sequence[str] = ()) -> TestJob:
        label = label or dataset
        values: dict[str, Any] = {}
        if method in ONLINE:
            size = self.s.get("image_size")
            if size:
                values["task.image_size"] = size
            values.update(self._method_sets(method))
        elif train is None:
            raise UserError(f"method {method} needs a meta-training run")
        values.update(extra or {})
        sets = tuple(_sets(values))
        episodes = int(episodes or self.s["seeds"])
        length, seed = int(length or self.s["length"]), int(self.s["test_seed"])
        owner = train.id if train is not None else method
        key = [owner, dataset, episodes, length, seed, list(sets)]
        # flags extend the key only when given: the ids of the other tests stay as they were
        h = short_hash(key + [list(options)] if options else key)
        job_id = f"{owner}/{_slug(label)}-{h}"
        missing = self._missing([dataset]) + (train.missing if train else ())
        job = TestJob(job_id, method, train.id if train else None, dataset, label, episodes,
                      length, seed, sets, tuple(sorted(set(missing))), tuple(options))
        self.test.setdefault(job_id, job)
        return job

    def _cell(self, fig: str, method: str, dataset: str, *, dist: str | None = None,
              variant: str | None = None, panel: str | None = None, label: str | None = None,
              extra: Mapping[str, Any] | None = None, episodes: int | None = None,
              length: int | None = None, options: Sequence[str] = ()) -> Cell:
        test = {"label": label, "extra": extra, "episodes": episodes, "length": length,
                "options": options}
        if method in ONLINE:
            job = self.test_job(method, dataset, **test)
            return Cell(fig, panel or dataset, method, "none", "none", label or dataset,
                        dataset, "n/a", job.id)
        train = self.train_job(method, variant or "plain", dist or "mnist")
        job = self.test_job(method, dataset, train=train, **test)
        seen = "seen" if dataset in train.datasets else "unseen"
        return Cell(fig, panel or dataset, method, train.distribution, train.variant,
                    label or dataset, dataset, seen, job.id)

    # ----------------------------------------------------------------- figures

    def _fig6(self) -> list[Cell]:
        n = self.s["seeds_fig6"]
        return [self._cell("fig6", m, d, dist="mnist", variant="plain", episodes=n)
                for d in ("mnist", "fashion_mnist") for m in self.s["fig6_methods"]]

    def _fig7(self) -> list[Cell]:
        cells = []
        for d in ("mnist", "fashion_mnist"):
            cells.append(self._cell("fig7", "vsml", d, dist="mnist", variant="plain",
                                    label="Reference"))
            for test in (self.s.get("fig7") or {}).get("tests", []):
                label = f"{test['label']} (unseen)"
                cells.append(self._cell("fig7", "vsml", d, dist="mnist", variant="augment",
                                        label=label, extra=test.get("set") or {}))
        return cells

    def _grid(self, fig: str, variant_of: Callable[[str], str]) -> list[Cell]:
        cells = []
        for dist in self.s["distributions"]:
            for d in self.s["datasets"]:
                for m in self.s["methods"]:
                    cell = self._cell(fig, m, d, dist=dist, variant=variant_of(m), panel=d)
                    # SGD/Adam are not meta-trained: the same cell repeats in every row
                    cells.append(dataclasses.replace(cell, row=self.distribution_label(dist)))
        return cells

    def _fig8(self) -> list[Cell]:
        # Sec. 4.4: random projections for VSML only ("the baselines did not benefit")
        return self._grid("fig8", lambda m: "proj" if m == "vsml" else "plain")

    def _fig13(self) -> list[Cell]:
        return [dataclasses.replace(c, figure="fig13") for c in self._fig8()]

    def _fig14(self) -> list[Cell]:
        return self._grid("fig14", lambda m: "plain")

    def _fig15(self) -> list[Cell]:
        return self._grid("fig15", lambda m: "proj")

    def _fig12(self) -> list[Cell]:
        cells = []
        pool = self.s["pool"]
        for d in self.s["datasets"]:
            dist = f"all_but_{d}" if d in pool else "all"
            for m in self.s["fig12_methods"]:
                variant = "proj" if m == "vsml" else "plain"
                cells.append(self._cell("fig12", m, d, dist=dist, variant=variant))
        return cells

    def _fig16(self) -> list[Cell]:
        return [self._cell("fig16", m, d, dist="mnist", variant=v)
                for d in ("mnist", "fashion_mnist") for m in self.s["fig16_methods"]
                for v in ("plain", "proj")]

    # Figs. 18, 20, 21: their runs and cells are planned in vsml/repro/appendix_train.py
    def _fig18(self) -> list[Cell]:
        from vsml.repro import appendix_train

        return appendix_train.fig18_cells(self)

    def _fig20(self) -> list[Cell]:
        from vsml.repro import appendix_train

        return appendix_train.fig20_cells(self)

    def _fig21(self) -> list[Cell]:
        from vsml.repro import appendix_train

        return appendix_train.fig21_cells(self)

    def custom_train_job(self, method: str, variant: str, dist: str,
                         specs: Sequence[Mapping[str, Any]], values: Mapping[str, Any],
                         config_file: str | None = None) -> TrainJob:
        """A meta-training job from explicit task specs and ``--set`` values (Figs. 18-21)."""
        check_choice("meta-learned method", method, META_LEARNED)
        config_file = config_file or METHOD_CONFIG[method]
        sets = tuple(_sets({"tasks.datasets": [dict(s) for s in specs], **values}))
        chash = self._config_hash(method, config_file, sets)
        datasets = tuple(dict.fromkeys(str(s["dataset"]) for s in specs))
        job = TrainJob(f"{method}/{variant}/{dist}-{chash[:10]}", method, variant, dist,
                       datasets, config_file, sets, chash, self._missing(datasets))
        return self.train.setdefault(job.id, job)

    def custom_cell(self, fig: str, method: str, job: TestJob, train: TrainJob | None,
                    row: str = "", seen: str | None = None) -> Cell:
        """The cell of test ``job`` (``method`` may be a label such as vsml-conv)."""
        if seen is None:
            seen = "n/a" if train is None else ("seen" if job.dataset in train.datasets
                                                else "unseen")
        return Cell(fig, job.dataset, method, train.distribution if train else "none",
                    train.variant if train else "none", job.label, job.dataset, seen, job.id,
                    row)

    def distribution_datasets(self, dist: str) -> tuple[str, ...]:
        """Datasets of meta-training distribution ``dist`` over the scale's pool."""
        return distribution(dist, self.s["pool"])

    # Figs. 9, 17, 19: meta-tests of Fig. 6's MNIST VSML run (the same TrainJob) and of
    # SGD/Adam on MNIST, as vsml/repro/introspection.py specifies them (appendix_mnist)
    def _appendix_mnist(self, fig: str) -> list[Cell]:
        from vsml.repro import introspection

        return [self._cell(fig, method, "mnist", dist="mnist", variant="plain", **test)
                for method, test in introspection.test_specs(self.s, fig)]

    def _fig9(self) -> list[Cell]:
        return self._appendix_mnist("fig9")

    def _fig17(self) -> list[Cell]:
        return self._appendix_mnist("fig17")

    def _fig19(self) -> list[Cell]:
        return self._appendix_mnist("fig19")

    # ----------------------------------------------------------------- helpers

    def figure_tests(self, fig: str) -> list[str]:
        """Test job ids of a figure (unique, in cell order)."""
        return list(dict.fromkeys(c.test_job for c in self.cells[fig]))

    def cell_records(self, fig: str) -> list[dict[str, Any]]:
        """The cells of ``fig`` as JSON-ready dicts (with their test job's details)."""
        out = []
        for c in self.cells[fig]:
            job = self.test[c.test_job]
            train = self.train.get(job.train) if job.train else None
            out.append({**dataclasses.asdict(c), "episodes": job.episodes,
                        "length": job.length, "missing": list(job.missing),
                        "train_config_hash": train.config_hash if train else ""})
        return out

    def summary(self) -> dict[str, int]:
        return {"train_jobs": len(self.train), "test_jobs": len(self.test),
                "not_run_train": sum(bool(j.missing) for j in self.train.values()),
                "not_run_test": sum(bool(j.missing) for j in self.test.values())}
