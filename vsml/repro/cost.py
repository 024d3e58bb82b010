"""``vsml plan``: the bill before the run (jobs, meta-training runs, estimated cost).

    vsml plan [--scale S] [--cores N] [--job-times CSV] [--csv FILE] [TARGET ...]

A Snakemake dry run (``snakemake -n --forceall TARGET``, in the repository root) is the
authority for which jobs a target needs; the pipeline's plan (vsml/repro/pipeline.py)
tells which of them are "not run" markers (datasets missing here) and resolves each
meta-training run's config (ES steps, pairs, episode length T, input size).  The cost of
every job is measured, extrapolated or unmeasured, and the printout says which:

* ``smoke``/``mini`` (any scale with ``--job-times``): CPU seconds from a job-times CSV
  (``published/<scale>/job_times.csv``, columns of workflow/scripts/job_times.py).  A job
  whose id is in it is measured; a meta-training run otherwise is extrapolated from the
  same method's (and architecture's) measured CPU seconds per ES step x pair x T x input
  size, a meta-test from the same method's median; anything else is unmeasured.
* ``paper``: GPU seconds of the dense VSML runs, extrapolated from the ES step measured on
  one H200 (``docs/bench_h200.json``, the fast implementation's ``es-step`` record) and
  scaled by pairs, T and sub-LSTM ticks.  Baselines, conv VSML and meta-tests have no GPU
  measurement: their step counts are printed, no number is invented.

The plan depends on which datasets exist ("not run" markers, the "available" rows of
``mini``): run it with the pipeline run's ``VSML_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from vsml.errors import UserError
from vsml.repro import pipeline
from vsml.repro.dryrun import (
    DryJob,
    DryRun,
    benchmark_job,
    benchmark_key,
    dry_run,
    find_root,
)

JOB_TIME_FIELDS = ("kind", "method", "job", "wall_s", "cpu_s", "max_rss_mb")
CSV_FIELDS = ("rule", "kind", "method", "job", "status", "cpu_s", "gpu_s", "basis")
STATUSES = ("measured", "extrapolated", "unmeasured", "not-run")
GPU_BENCH = "docs/bench_h200.json"
PAPER_GPU_SCALES = ("paper",)  # scales costed in GPU time (the others: CPU job times)
UNTIMED = "no benchmark file (seconds)"  # aggregation and plotting: not costed


def read_job_times(path: Path) -> dict[str, dict[str, Any]]:
    """``<kind>/<job>`` -> row of a job-times CSV (workflow/scripts/job_times.py --out)."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            lacking = [c for c in JOB_TIME_FIELDS if c not in (reader.fieldnames or [])]
            if lacking:
                raise UserError(f"job-times CSV {path} lacks columns {lacking} (expected "
                                f"{', '.join(JOB_TIME_FIELDS)})")
            rows = list(reader)
    except FileNotFoundError:
        raise UserError(f"job-times CSV not found: {path}") from None
    out = {}
    for r in rows:
        try:
            out[f"{r['kind']}/{r['job']}"] = {**r, "wall_s": float(r["wall_s"] or 0),
                                              "cpu_s": float(r["cpu_s"] or 0)}
        except ValueError:
            raise UserError(f"job-times CSV {path}: non-numeric time in row {r}") from None
    return out


# ----------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class RunShape:
    """What a meta-training run computes: ES steps x pairs x T x network size."""

    steps: int
    pairs: int  # ES antithetic pairs (gradient meta-training: the batch)
    length: int  # T
    inputs: tuple[int, ...]  # input sizes of its task groups
    outputs: tuple[int, ...]
    mean_inputs: float  # population-weighted
    arch: str  # dense | conv
    ticks: float | None  # VSML dense: weighted sub-LSTMs x micro ticks x sweeps; else None
    algorithm: str = "es"


def run_shape(job: Any, root: Path) -> RunShape:
    """The resolved run config of a ``TrainJob`` (its ``config_file`` + ``sets``)."""
    from vsml import data
    from vsml.meta.config import load_config
    from vsml.meta.meta_train import task_variants
    from vsml.methods import method_module

    config = load_config(root / job.config_file, job.sets, job.method)
    variants = task_variants(config)
    total = sum(share for _, share in variants)
    sizes = [(_prod(data.input_shape(s)), data.num_classes(s), share) for s, share in variants]
    mean_inputs = sum(d * share for d, _, share in sizes) / total
    model = config.model
    conv = bool(getattr(model, "conv_channels", ()))
    ticks = None
    if config.method == "vsml" and not conv:
        sweeps = 2 if model.reverse_sweep else 1
        ticks = 0.0
        for spec, share in variants:
            learner = method_module("vsml").make_learner(
                model, tuple(data.input_shape(spec)), data.num_classes(spec))
            synapses = sum(s.inputs * s.outputs for s in learner.layer_shapes)
            ticks += share / total * synapses * model.micro_ticks * sweeps
    mt = config.meta_train
    pairs = config.es.pairs if mt.algorithm == "es" else config.gradient.batch
    return RunShape(mt.steps, pairs, mt.length, tuple(sorted({d for d, _, _ in sizes})),
                    tuple(sorted({k for _, k, _ in sizes})), mean_inputs,
                    "conv" if conv else "dense", ticks, mt.algorithm)


def _prod(shape: Iterable[int]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out


def cpu_work(shape: RunShape) -> float:
    """What CPU time of a meta-training run scales with: steps x pairs x T x input size."""
    return shape.steps * shape.pairs * shape.length * shape.mean_inputs


# ----------------------------------------------------------------------------- GPU step


@dataclasses.dataclass(frozen=True)
class GpuStep:
    """A measured ES step of the dense VSML on one GPU."""

    seconds: float
    pairs: int
    length: int
    inputs: int
    outputs: int
    micro_ticks: int
    source: str
    device: str = "H200"  # what the record was measured on (the default file's GPU)

    @property
    def ticks(self) -> float:
        return self.inputs * self.outputs * self.micro_ticks

    @property
    def shape_text(self) -> str:
        return f"{self.inputs}x{self.outputs}, {self.pairs:,} pairs, T={self.length}"


def read_gpu_step(path: Path, device: str = "H200") -> tuple[GpuStep, list[str]]:
    """The fast implementation's ``es-step`` record of a ``vsml bench --json`` file, and
    the workloads the file has (to say what is not measured)."""
    try:
        records = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"GPU benchmark file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise UserError(f"GPU benchmark file {path} is not JSON: {err}") from None
    steps = [r for r in records if r.get("workload") == "es-step"
             and r.get("implementation") == "fast" and r.get("backend", "gpu") == "gpu"]
    if not steps:
        raise UserError(f"{path} has no es-step record of the fast implementation")
    r = steps[0]
    ticks = r.get("micro_ticks")
    if ticks is None:  # older records: ticks/s = examples/s x A x B x micro ticks
        ticks = round(r["sub_lstm_ticks_per_s"] / r["episode_examples_per_s"]
                      / (r["inputs"] * r["outputs"]))
    step = GpuStep(float(r.get("step_s", r["seconds"])), int(r["pairs"]), int(r["length"]),
                   int(r["inputs"]), int(r["outputs"]), int(ticks), str(path), device)
    return step, sorted({str(r.get("workload")) for r in records})


def gpu_seconds(shape: RunShape, step: GpuStep) -> float:
    """GPU seconds of a dense VSML run: the measured step scaled by pairs, T and ticks."""
    if shape.ticks is None:
        raise ValueError("no GPU extrapolation for this run (not a dense VSML)")
    return (shape.steps * step.seconds * shape.pairs / step.pairs * shape.length / step.length
            * shape.ticks / step.ticks)


# ----------------------------------------------------------------------------- job costs


@dataclasses.dataclass(frozen=True)
class JobCost:
    rule: str
    kind: str  # train | test | cloning (benchmark folders), else the rule
    method: str
    job: str  # the job-times CSV's id (benchmark path after the kind), else the rule's
    status: str  # STATUSES
    cpu_s: float | None = None
    wall_s: float | None = None
    gpu_s: float | None = None
    basis: str = ""
    if_run_s: float | None = None  # not-run meta-training: its cost with the data present
    train: str | None = None  # TrainJob id of a meta-training job


class Described(NamedTuple):
    """A dry-run job with what the plan says of it."""

    job: DryJob
    kind: str
    method: str
    key: str  # the job-times CSV's job id
    not_run: bool
    train: str | None  # TrainJob id of a meta-training job


def describe_job(job: DryJob, plan: Any) -> Described:
    """The kind, method, job id, marker status and TrainJob id of a dry-run job."""
    run, test = job.wildcard("run"), job.wildcard("test")
    missing = ((job.rule == "meta_train" and run in plan.train and plan.train[run].missing)
               or (job.rule == "meta_test" and test in plan.test and plan.test[test].missing))
    train = run if job.rule == "meta_train" else None
    if job.benchmark:
        rel = Path(benchmark_key(job.benchmark))
        return Described(job, *benchmark_job(rel), bool(missing), train)
    label = ",".join(v for _, v in job.wildcards) or job.rule
    return Described(job, job.rule, "-", label, bool(missing), train)


class CpuModel:
    """CPU cost of jobs from a job-times CSV, extrapolated where a job is not in it."""

    def __init__(self, times: Mapping[str, dict[str, Any]], plan: Any, root: Path,
                 shapes: dict[str, RunShape]) -> None:
        self.times, self.plan, self.root, self.shapes = times, plan, root, shapes
        self.rates: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for run_id, job in plan.train.items():
            row = times.get(f"train/{run_id}")
            if job.missing or row is None or row["cpu_s"] <= 0:
                continue
            shape = self.shape(run_id)
            work = cpu_work(shape)
            self.rates.setdefault((job.method, shape.arch), []).append(
                (row["cpu_s"] / work, row["wall_s"] / work))
        self.tests: dict[str, list[tuple[float, float]]] = {}
        for test_id, job in plan.test.items():
            row = times.get(f"test/{test_id}")
            if not job.missing and row is not None and row["cpu_s"] > 0:
                method = test_id.split("/")[0]
                self.tests.setdefault(method, []).append((row["cpu_s"], row["wall_s"]))

    def shape(self, run_id: str) -> RunShape:
        if run_id not in self.shapes:
            self.shapes[run_id] = run_shape(self.plan.train[run_id], self.root)
        return self.shapes[run_id]

    def train_estimate(self, run_id: str) -> tuple[float, float, str] | None:
        job, shape = self.plan.train[run_id], self.shape(run_id)
        rates = self.rates.get((job.method, shape.arch))
        if not rates:
            return None
        cpu = statistics.median(r[0] for r in rates) * cpu_work(shape)
        wall = statistics.median(r[1] for r in rates) * cpu_work(shape)
        return cpu, wall, (f"{job.method} ({shape.arch}): median CPU s per ES step x pair x T "
                           f"x input of {len(rates)} measured runs")

    def cost(self, job: DryJob, kind: str, method: str, key: str, not_run: bool,
             train: str | None) -> JobCost:
        base = JobCost(job.rule, kind, method, key, "unmeasured", train=train)
        row = self.times.get(f"{kind}/{key}") if job.benchmark else None
        if not_run:
            if_run = self.train_estimate(train) if train in self.plan.train else None
            return dataclasses.replace(
                base, status="not-run", cpu_s=row["cpu_s"] if row else 0.0,
                wall_s=row["wall_s"] if row else 0.0, basis="datasets missing here",
                if_run_s=if_run[0] if if_run else None)
        if not job.benchmark:
            return dataclasses.replace(base, basis=UNTIMED)
        if row is not None:
            return dataclasses.replace(base, status="measured", cpu_s=row["cpu_s"],
                                       wall_s=row["wall_s"], basis="job times")
        estimate = None
        if job.rule == "meta_train" and train in self.plan.train:
            estimate = self.train_estimate(train)
        elif job.rule == "meta_test" and self.tests.get(method):
            pool = self.tests[method]
            estimate = (statistics.median(p[0] for p in pool),
                        statistics.median(p[1] for p in pool),
                        f"{method}: median of {len(pool)} measured meta-tests")
        if estimate is None:
            return dataclasses.replace(base, basis="nothing measured to extrapolate from")
        return dataclasses.replace(base, status="extrapolated", cpu_s=estimate[0],
                                   wall_s=estimate[1], basis=estimate[2])


def gpu_cost(job: DryJob, kind: str, method: str, key: str, not_run: bool,
             train: str | None, shape: RunShape | None, step: GpuStep) -> JobCost:
    """GPU cost of one job at ``paper``: only dense VSML meta-training is extrapolated."""
    base = JobCost(job.rule, kind, method, key, "unmeasured", train=train)
    gpu = gpu_seconds(shape, step) if shape is not None and shape.ticks is not None else None
    if not_run:
        return dataclasses.replace(base, status="not-run", gpu_s=0.0,
                                   basis="datasets missing here", if_run_s=gpu)
    if gpu is not None:
        return dataclasses.replace(base, status="extrapolated", gpu_s=gpu,
                                   basis=f"{step.device} ES step at {step.shape_text}")
    if job.rule == "meta_train":
        conv = shape is not None and shape.arch == "conv"
        return dataclasses.replace(
            base, basis="no GPU measurement" + (" (conv VSML)" if conv else ""))
    if not job.benchmark:
        return dataclasses.replace(base, basis=UNTIMED)
    what = "meta-tests" if job.rule == "meta_test" else kind
    return dataclasses.replace(base, basis=f"no GPU measurement of {what}")


# ----------------------------------------------------------------------------- printing


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], indent: str = "  ") -> str:
    """A fixed-width table: the first column left-aligned, text left, numbers right."""
    text_rows = [[_cell(v) for v in row] for row in rows]
    cols = list(zip(header, *text_rows, strict=False)) if text_rows else [(h,) for h in header]
    widths = [max(len(v) for v in col) for col in cols]
    numeric = [all(_is_number(r[i]) for r in text_rows) and bool(text_rows)
               for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        cells = [v.rjust(w) if num and i else v.ljust(w)
                 for i, (v, w, num) in enumerate(zip(values, widths, numeric, strict=True))]
        return (indent + "  ".join(cells)).rstrip()

    return "\n".join([line(list(header)), *(line(r) for r in text_rows)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _fmt_hours(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _fmt_hours(hours: float) -> str:
    """Hours with enough digits for minutes-long jobs and for week-long totals."""
    if hours >= 100:
        return f"{hours:,.0f}"
    return f"{hours:.1f}" if hours >= 10 else f"{hours:.2f}" if hours >= 1 else f"{hours:.3f}"


def _is_number(text: str) -> bool:
    return text == "-" or bool(re.fullmatch(r"[\d,.]+(-[\d,.]+)?", text))


def _range(values: Iterable[float], fmt: str = "{:,.0f}") -> str:
    values = sorted(set(values))
    if not values:
        return "-"
    low, high = fmt.format(values[0]), fmt.format(values[-1])
    return low if low == high else f"{low}-{high}"


def _hours(seconds: float) -> float:
    return seconds / 3600


_RULE_ORDER = ("meta_train", "meta_test")


def _rule_key(rule: str, benchmarked: bool) -> tuple:
    if rule in _RULE_ORDER:
        return (0, _RULE_ORDER.index(rule), rule)
    return (1 if benchmarked else 2 if rule != "all" else 3, 0, rule)


def _method_key(method: str) -> tuple:
    order = (*pipeline.META_LEARNED, *pipeline.ONLINE)
    return (order.index(method), method) if method in order else (len(order), method)


def _variant_key(variant: str) -> tuple:
    variants = pipeline.VARIANTS
    return (variants.index(variant), variant) if variant in variants else (len(variants),
                                                                           variant)


def _ordered_groups(costs: Iterable[JobCost], keep=lambda c: True) -> dict:
    """(rule, method) -> jobs, in the order rule (training, tests, timed, the rest), method."""
    groups: dict[tuple[str, str], list[JobCost]] = {}
    for c in costs:
        if keep(c):
            groups.setdefault((c.rule, c.method), []).append(c)
    benchmarked = {r for (r, _), cs in groups.items() if any(c.basis != UNTIMED for c in cs)}
    return dict(sorted(groups.items(), key=lambda item: (
        _rule_key(item[0][0], item[0][0] in benchmarked), _method_key(item[0][1]))))


def job_counts(costs: Sequence[JobCost]) -> list[tuple[str, str, int, int]]:
    """(rule, method, jobs, of them not run) per rule and method."""
    return [(rule, method, len(cs), sum(c.status == "not-run" for c in cs))
            for (rule, method), cs in _ordered_groups(costs).items()]


def _basis(members: Sequence[JobCost]) -> str:
    """How the hours of some jobs came about, e.g. "6 measured + 1 extrapolated"."""
    parts = []
    for status in ("measured", "extrapolated"):
        n = sum(c.status == status for c in members)
        if n:
            parts.append(f"{n} {status}")
    reasons: dict[str, int] = {}
    for c in members:
        if c.status == "unmeasured":
            reasons[c.basis] = reasons.get(c.basis, 0) + 1
    parts += [f"{n} {reason}" for reason, n in reasons.items()]
    return " + ".join(parts) or "-"


def runs_table(costs: Sequence[JobCost], shapes: Mapping[str, RunShape], plan: Any,
               unit: str | None) -> str:
    """Meta-training runs per method and variant: how many, their shapes, their cost."""
    groups: dict[tuple[str, str], list[JobCost]] = {}
    for c in costs:
        if c.rule == "meta_train" and c.train in plan.train:
            job = plan.train[c.train]
            groups.setdefault((job.method, job.variant), []).append(c)
    rows = []
    for (method, variant), members in sorted(
            groups.items(), key=lambda i: (_method_key(i[0][0]), _variant_key(i[0][1]))):
        s = [shapes[c.train] for c in members]
        ticks = [x.ticks for x in s if x.ticks is not None]
        ran = [c for c in members if c.status != "not-run"]
        row = [method, variant, len(members), len(members) - len(ran),
               _range(x.steps for x in s), _range(x.pairs for x in s),
               _range(x.length for x in s), _range(d for x in s for d in x.inputs),
               _range(k for x in s for k in x.outputs), _range(ticks) if ticks else "-"]
        if unit is not None:
            known = [_seconds(c, unit) for c in ran if c.status in ("measured", "extrapolated")]
            if_run = [c.if_run_s for c in members if c.status == "not-run"]
            complete = len(known) == len(ran) and None not in if_run  # a number for each
            row += [_hours(sum(known)) if known else None, _basis(ran) if ran else "-",
                    _hours(sum(known) + sum(if_run)) if complete else None]
        rows.append(row)
    header = ["method", "variant", "runs", "not run", "ES steps", "pairs", "T", "inputs",
              "outputs", "sub-LSTM ticks"]
    if unit is not None:
        header += [f"{unit}-h", "basis", f"{unit}-h if all ran"]
    return table(header, rows)


def cost_table(costs: Sequence[JobCost], unit: str) -> str:
    """Per rule and method: jobs by status and their hours (rules with benchmark files)."""
    statuses = STATUSES if unit == "CPU" else tuple(s for s in STATUSES if s != "measured")
    kinds = [s for s in ("measured", "extrapolated") if s in statuses]
    rows = []
    for (rule, method), members in _ordered_groups(costs, lambda c: c.basis != UNTIMED).items():
        counts = [sum(c.status == s for c in members) for s in statuses]
        hours = [_hours(sum(_seconds(c, unit) or 0.0 for c in members if c.status == s))
                 if any(c.status == s for c in members) else None for s in kinds]
        rows.append([rule, method, len(members), *counts, *hours])
    return table(["rule", "method", "jobs", *statuses, *(f"{unit}-h {s}" for s in kinds)],
                 rows)


def _seconds(c: JobCost, unit: str) -> float | None:
    return c.gpu_s if unit == "GPU" else c.cpu_s


def summarize(costs: Sequence[JobCost], unit: str, cores: int) -> list[str]:
    """Total lines: hours measured + extrapolated, wall time, what is not counted."""
    measured = sum(_seconds(c, unit) or 0.0 for c in costs if c.status == "measured")
    extrap = sum(_seconds(c, unit) or 0.0 for c in costs if c.status == "extrapolated")
    marker = sum(_seconds(c, unit) or 0.0 for c in costs if c.status == "not-run")
    total = measured + extrap + marker
    parts = [f"{_fmt_hours(_hours(measured))} measured"] if unit == "CPU" else []
    parts.append(f"{_fmt_hours(_hours(extrap))} extrapolated")
    if marker >= 0.5:
        parts.append(f"{_fmt_hours(_hours(marker))} in not-run markers")
    lines = [f"total: {_fmt_hours(_hours(total))} {unit}-h ({' + '.join(parts)})"]
    if unit == "CPU":
        longest = max((c.wall_s or 0.0 for c in costs), default=0.0)
        wall = max(total / cores, longest)
        why = f"CPU-h / {cores}" if total / cores >= longest else "its longest job"
        lines.append(f"wall time on {cores} cores: {_fmt_hours(_hours(wall))} h = "
                     f"{wall / 60:,.0f} min ({why}; the longest job takes {longest / 60:,.1f} "
                     "min)")
    else:
        longest = max((c.gpu_s or 0.0 for c in costs), default=0.0)
        lines.append(f"wall time: {_fmt_hours(_hours(total))} h on one GPU, one run after "
                     f"another; {_fmt_hours(_hours(longest))} h (the longest run) with a GPU "
                     "per run")
    if_run = [c.if_run_s for c in costs if c.status == "not-run" and c.if_run_s is not None]
    if if_run:
        lines.append(f"with their datasets present, {len(if_run)} not-run meta-training runs "
                     f"would add {_fmt_hours(_hours(sum(if_run)))} {unit}-h (extrapolated)")
    untimed = [c for c in costs if c.basis == UNTIMED]
    if untimed:
        rules = ", ".join(sorted(dict.fromkeys(c.rule for c in untimed)))
        lines.append(f"not counted: {len(untimed)} jobs without a benchmark file (aggregation "
                     f"and plotting, seconds each): {rules}")
    return lines


def unmeasured_lines(costs: Sequence[JobCost], limit: int = 6) -> list[str]:
    """The benchmarked jobs without a number: each (few) or per rule and reason."""
    jobs = [c for c in costs if c.status == "unmeasured" and c.basis != UNTIMED]
    if len(jobs) <= limit:
        return [f"{c.rule} {c.kind}/{c.job}: {c.basis}" for c in jobs]
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for c in sorted(jobs, key=lambda c: _method_key(c.method)):
        methods = groups.setdefault((c.rule, c.basis), {})
        methods[c.method] = methods.get(c.method, 0) + 1
    return [f"{rule}: {sum(m.values())} jobs ({', '.join(f'{k} {n}' for k, n in m.items())})"
            f", {basis}" for (rule, basis), m in groups.items()] + ["(every job: --csv FILE)"]


def to_csv(costs: Sequence[JobCost]) -> str:
    """The tidy per-job table (``CSV_FIELDS``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for c in costs:
        writer.writerow([c.rule, c.kind, c.method, c.job, c.status,
                         "" if c.cpu_s is None else round(c.cpu_s, 3),
                         "" if c.gpu_s is None else round(c.gpu_s, 3), c.basis])
    return buf.getvalue()


# ----------------------------------------------------------------------------- the command


@dataclasses.dataclass
class Bill:
    """Everything ``vsml plan`` prints."""

    scale: str
    targets: list[str]
    dry: DryRun
    costs: list[JobCost]
    shapes: dict[str, RunShape]
    plan: Any
    unit: str | None  # CPU | GPU | None (no job times: counts only)
    sources: list[str]
    notes: list[str]


def make_bill(targets: Sequence[str], scale: str | None = None,
              job_times: Path | None = None, gpu_bench: Path | None = None,
              root: Path | None = None) -> Bill:
    """Dry-run ``targets`` at ``scale`` and cost every job (see the module docstring)."""
    root = find_root() if root is None else root
    plan = pipeline.load_plan(root, scale)  # a bad scale fails here, before the dry run
    scale = plan.scale
    dry = dry_run(targets, scale, root)
    described = [describe_job(j, plan) for j in dry.jobs]
    shapes = {d.train: run_shape(plan.train[d.train], root) for d in described
              if d.train in plan.train}
    missing = ", ".join(missing_datasets(plan, dry.jobs)) or "none"
    sources = [f"jobs: {' '.join(['snakemake', *dry.command[1:]])} (in {root}, "
               f"{dry.seconds:.1f} s)",
               "not-run markers, run configs: vsml/repro/pipeline.py Plan with "
               f"config/pipeline.yaml (scale {scale}) and "
               + ", ".join(sorted({plan.train[t].config_file for t in shapes})),
               f"datasets: {os.environ.get('VSML_DATA_DIR') or 'resources/data'} "
               f"(VSML_DATA_DIR; missing here: {missing})"]
    notes: list[str] = []
    times_path = job_times
    if times_path is None and scale not in PAPER_GPU_SCALES:
        times_path = root / "published" / scale / "job_times.csv"
        if not times_path.exists():
            notes.append(f"no job times for scale {scale} ({_rel(times_path, root)} does not "
                         "exist; --job-times FILE gives one): job counts only")
            times_path = None
    if times_path is not None:
        model = CpuModel(read_job_times(times_path), plan, root, shapes)
        costs = [model.cost(*d) for d in described]
        sources.append(f"job times: {_rel(times_path, root)} (CPU s of each job; "
                       "workflow/scripts/job_times.py)")
        unit = "CPU"
    elif scale in PAPER_GPU_SCALES:
        path = gpu_bench or root / GPU_BENCH
        step, workloads = read_gpu_step(path, "H200" if gpu_bench is None else "GPU")
        costs = [gpu_cost(*d, shapes.get(d.train), step) for d in described]
        sources.append(f"GPU: {_rel(Path(path), root)}, the fast implementation's es-step "
                       f"record: {step.seconds:.2f} s per ES step at {step.inputs}x"
                       f"{step.outputs}, {step.pairs:,} pairs, T={step.length}, "
                       f"{step.micro_ticks} micro ticks")
        notes.append(f"GPU-hours extrapolated from the measured {step.device} ES step at "
                     f"{step.shape_text} "
                     f"({step.seconds:.2f} s), scaled linearly by pairs, T and sub-LSTM ticks "
                     "(inputs x outputs summed over layers x micro ticks x sweeps); far from "
                     "that shape (small T) fixed per-step costs make them low")
        if "meta-test" not in workloads:
            notes.append(f"meta-tests: not measured on a GPU ({_rel(Path(path), root)} has "
                         f"{', '.join(workloads)} workloads only)")
        unit = "GPU"
    else:
        costs = [JobCost(d.job.rule, d.kind, d.method, d.key,
                         "not-run" if d.not_run else "unmeasured", train=d.train,
                         basis="no job times") for d in described]
        unit = None
    return Bill(scale, list(targets), dry, costs, shapes, plan, unit, sources, notes)


def missing_datasets(plan: Any, jobs: Iterable[DryJob]) -> list[str]:
    """Datasets missing here for ``jobs`` (the cause of their "not run" markers)."""
    out: set[str] = set()
    for j in jobs:
        job = plan.train.get(j.wildcard("run")) or plan.test.get(j.wildcard("test"))
        out.update(job.missing if job is not None else ())
    return sorted(out)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def render(bill: Bill, cores: int) -> str:
    """The printout: jobs, meta-training runs, cost, sources."""
    what = " ".join(bill.targets) or "the default target (rule all: the whole paper)"
    not_run = sum(c.status == "not-run" for c in bill.costs)
    out = [f"vsml plan: {what} at scale {bill.scale}: {len(bill.costs)} jobs, {not_run} of "
           "them \"not run\" markers (datasets missing here)", ""]
    out += ["Jobs (by rule and method; \"not run\": markers, counted apart)",
            table(["rule", "method", "jobs", "not run"], job_counts(bill.costs)), ""]
    if bill.shapes:
        out += ["Meta-training runs (resolved run configs; inputs/outputs: sizes of the task "
                "groups)", runs_table(bill.costs, bill.shapes, bill.plan, bill.unit), ""]
    if bill.unit is not None:
        where = ("one GPU, extrapolated from a measured ES step" if bill.unit == "GPU"
                 else "CPU, from measured job times where a job's id is in them")
        out += [f"Estimated cost ({bill.unit}-hours on {where})",
                table_or_none(bill.costs, bill.unit)]
        out += ["  " + line for line in summarize(bill.costs, bill.unit, cores)]
        missing = unmeasured_lines(bill.costs)
        if missing:
            out += ["  unmeasured (not in the totals):", *["    " + m for m in missing]]
        out.append("")
    out += [n for n in bill.notes]
    if bill.notes:
        out.append("")
    out += ["Sources", *["  " + s for s in bill.sources]]
    return "\n".join(out) + "\n"


def table_or_none(costs: Sequence[JobCost], unit: str) -> str:
    if all(c.basis == UNTIMED for c in costs):
        return "  (no job with a benchmark file)"
    return cost_table(costs, unit)


def run_cli(args: argparse.Namespace) -> int:
    if args.cores < 1:
        raise UserError(f"--cores must be >= 1, got {args.cores}")
    csv_path = Path(args.csv).resolve() if args.csv else None  # before anything changes cwd
    bill = make_bill(args.targets, args.scale, args.job_times, args.gpu_bench)
    print(render(bill, args.cores), end="")
    if csv_path is not None:
        from vsml.io import write_text_atomic

        write_text_atomic(csv_path, to_csv(bill.costs))
        print(f"wrote {csv_path}")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plan", help="the jobs, meta-training runs and estimated cost of pipeline targets",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help="Snakemake targets, e.g. figures/fig6.pdf (default: the "
                             "Snakefile's default target, the whole paper)")
    parser.add_argument("--scale", default=None,
                        help="a scale of config/pipeline.yaml (default: its scale, mini)")
    parser.add_argument("--cores", type=int, default=2,
                        help="cores for the wall time of CPU scales (default 2)")
    parser.add_argument("--job-times", type=Path, default=None,
                        help="job-times CSV to cost from (default: published/<scale>/"
                             "job_times.csv; at paper: the GPU extrapolation)")
    parser.add_argument("--gpu-bench", type=Path, default=None,
                        help=f"vsml bench --json file of a GPU (default: {GPU_BENCH})")
    parser.add_argument("--csv", type=Path, default=None,
                        help="write the per-job table (kind, method, job, status, cpu_s, "
                             "gpu_s) here")
    parser.set_defaults(func=run_cli)
    return parser
