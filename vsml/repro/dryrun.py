"""Snakemake dry runs read as data: the jobs a target needs, and what each job costs.

``vsml plan`` (vsml/repro/cost.py) and workflow/scripts/job_times.py share these: a dry run
(``snakemake -n --forceall``, in the repository root) is the authority for which jobs a
target needs, and a job's benchmark path names it in the job-times CSV.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vsml.errors import UserError, check_choice

# ----------------------------------------------------------------------------- dry run


@dataclasses.dataclass(frozen=True)
class DryJob:
    """One job of a Snakemake dry run."""

    rule: str
    wildcards: tuple[tuple[str, str], ...] = ()
    benchmark: str | None = None  # benchmarks/<scale>/<kind>/<job>.tsv
    input: tuple[str, ...] = ()

    def wildcard(self, name: str) -> str | None:
        return dict(self.wildcards).get(name)


@dataclasses.dataclass(frozen=True)
class DryRun:
    jobs: list[DryJob]
    seconds: float
    command: list[str]


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(", ") if p.strip())


def parse_dry_run(text: str) -> list[DryJob]:
    """The jobs of ``snakemake -n`` output (a ``rule X:`` line, then indented fields)."""
    jobs: list[DryJob] = []
    rule: str | None = None
    fields: dict[str, str] = {}

    def flush() -> None:
        if rule is not None:
            wildcards = tuple(tuple(p.partition("=")[::2])
                              for p in _split_list(fields.get("wildcards", "")))
            jobs.append(DryJob(rule, wildcards, fields.get("benchmark"),
                               _split_list(fields.get("input", ""))))

    for line in text.splitlines():
        head = re.match(r"^(?:local)?rule (\S+):$", line)
        if head:
            flush()
            rule, fields = head[1], {}
            continue
        field = re.match(r"^\s+(\w+): (.*)$", line) if rule is not None else None
        if field:
            fields[field[1]] = field[2].strip()
        elif rule is not None:
            flush()
            rule = None
    flush()
    totals = re.findall(r"^total\s+(\d+)$", text, flags=re.M)
    if totals and int(totals[-1]) != len(jobs):
        raise RuntimeError(f"read {len(jobs)} jobs from a dry run listing {totals[-1]}: has "
                           "Snakemake's dry-run output changed?")
    return jobs


def find_root(start: Path | None = None) -> Path:
    """The repository root: the first of ``start`` (default: cwd) and its parents with a
    Snakefile, where the dry run has to run."""
    start = Path.cwd() if start is None else Path(start)
    for folder in (start, *start.resolve().parents):
        if (folder / "Snakefile").is_file():
            return folder
    raise UserError(f"no Snakefile in {start} or its parents: run this inside the vsml-repro "
                    "repository")


def _snakemake() -> str:
    beside = Path(sys.executable).parent / "snakemake"  # the venv's, even if not on PATH
    exe = str(beside) if beside.exists() else shutil.which("snakemake")
    if exe is None:
        raise UserError("snakemake not found (install the project's environment)")
    return exe


def dry_run(targets: Sequence[str], scale: str, root: Path | None = None) -> DryRun:
    """The jobs ``targets`` (none: the default target) need from scratch at ``scale``."""
    root = find_root() if root is None else root
    cmd = [_snakemake(), "-n", "--forceall", "--nolock", *targets, "--config", f"scale={scale}"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        text = done.stdout + done.stderr
        failed = (f"{' '.join(['snakemake', *cmd[1:]])} failed in {root}: "
                  f"{_error_text(text) or f'exit code {done.returncode}'}")
        if targets and ("MissingRuleException" in text or "Missing input files" in text):
            _check_targets(targets, text, scale, root, failed)
        raise UserError(failed)
    return DryRun(parse_dry_run(done.stdout), seconds, cmd)


def default_targets(scale: str, root: Path) -> list[str]:
    """``all`` and the inputs of the Snakefile's default rule (the targets users name)."""
    jobs = dry_run([], scale, root).jobs
    inputs = [p for j in jobs if j.rule == "all" for p in j.input]
    return ["all", *inputs]


def _error_text(text: str, limit: int = 400) -> str:
    """Snakemake's error as one line: from its exception line to the end."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines)
                  if re.search(r"(Exception|Error)\b", line)), max(len(lines) - 1, 0))
    joined = " ".join(lines[first:])
    return joined if len(joined) <= limit else joined[:limit] + " ..."


def _check_targets(targets: Sequence[str], text: str, scale: str, root: Path,
                   failed: str) -> None:
    """Raise "unknown target" (with the valid ones) if a target is not one of the pipeline's;
    if the default target fails as well the workflow itself is broken: raise ``failed``."""
    try:
        choices = default_targets(scale, root)
    except UserError:
        raise UserError(failed) from None
    unknown = [t for t in targets if t not in choices]
    if unknown:
        bad = next((t for t in unknown if t in text), unknown[0])
        check_choice(f"target at scale {scale}", bad, choices)


# ----------------------------------------------------------------------------- job ids


def benchmark_job(rel: Path) -> tuple[str, str, str]:
    """(kind, method, job) of a benchmark file ``<kind>/<job>`` (relative to
    ``benchmarks/<scale>``, suffix dropped); ``method`` is the job's first part for
    meta-training and meta-test jobs (``train/vsml/plain/mnist-<hash>``), else the kind."""
    parts = Path(rel).with_suffix("").parts
    kind = parts[0]
    method = parts[1] if kind in ("train", "test") and len(parts) > 2 else kind
    return kind, method, "/".join(parts[1:])


def benchmark_key(path: str) -> str:
    """``benchmarks/<scale>/<kind>/<job>.tsv`` -> ``<kind>/<job>`` (a job-times CSV key)."""
    return "/".join(Path(path).with_suffix("").parts[2:])


def target_costs(rows: list[dict], scale: str, targets: list[str], cores: int,
                 root: Path | None = None) -> list[dict]:
    """Per target: jobs with a benchmark file, how many of them ``rows`` measured, their CPU
    minutes and the wall minutes on ``cores`` cores (shared runs count for every target)."""
    by_job = {f"{r['kind']}/{r['job']}": r for r in rows}
    out = []
    for target in targets:
        keys = [benchmark_key(j.benchmark) for j in dry_run([target], scale, root).jobs
                if j.benchmark]
        measured = [by_job[k] for k in keys if k in by_job]
        cpu = sum(r["cpu_s"] for r in measured) / 60
        longest = max((r["wall_s"] for r in measured), default=0.0) / 60
        out.append({"target": target, "jobs": len(keys), "measured": len(measured),
                    "cpu_min": cpu, "wall_min": max(cpu / cores, longest)})
    return out
