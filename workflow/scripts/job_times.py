"""What the pipeline's jobs cost: one row per job from Snakemake's benchmark files.

    python workflow/scripts/job_times.py benchmarks/mini --out job_times.csv
    python workflow/scripts/job_times.py benchmarks/mini --targets figures/fig6.pdf ...

The meta-training, meta-test and cloning rules write ``benchmarks/<scale>/<kind>/<job>.tsv``
(wall seconds, CPU seconds, peak memory).  This script gathers them into one tidy CSV
(kind, method, job, wall_s, cpu_s, max_rss_mb) and prints the totals per kind and method:
the core-minutes a from-scratch run spends where, to size a laptop run or a cluster job.
With ``--targets``, each target's own from-scratch cost: the jobs ``snakemake -n --forceall
TARGET`` lists (shared meta-training runs count for every target that needs them), their
CPU minutes and the wall time they need on ``--cores`` cores (CPU / cores, or the longest
job if that is longer).  Aggregation and plotting jobs (seconds each) have no benchmark
file and are not counted.  The plan depends on which datasets exist (pools, "not run"
markers), so run ``--targets`` with the pipeline run's ``VSML_DATA_DIR``: without it the
dry run plans fewer jobs and the costs come out too low.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from vsml.io import write_text_atomic

FIELDS = ("kind", "method", "job", "wall_s", "cpu_s", "max_rss_mb")


def _number(text: str) -> float:
    # Snakemake writes "NA" where it could not measure (e.g. a job shorter than its sampling)
    try:
        return float(text)
    except ValueError:
        return 0.0


def read_benchmarks(root: Path) -> list[dict]:
    """One row per ``<root>/<kind>/<job>.tsv`` (the last line: the job's latest run)."""
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as f:
            records = list(csv.DictReader(f, delimiter="\t"))
        if not records:
            continue
        rec = records[-1]
        job = path.relative_to(root).with_suffix("")
        kind = job.parts[0]
        method = job.parts[1] if kind in ("train", "test") and len(job.parts) > 2 else kind
        rows.append({
            "kind": kind, "method": method, "job": "/".join(job.parts[1:]),
            "wall_s": _number(rec.get("s", "NA")), "cpu_s": _number(rec.get("cpu_time", "NA")),
            "max_rss_mb": _number(rec.get("max_rss", "NA")),
        })
    return rows


def target_jobs(target: str, scale: str) -> list[str]:
    """Benchmark paths (relative to the repository) of every job ``target`` needs."""
    cmd = ["snakemake", "-n", "--forceall", "--nolock", target, "--config", f"scale={scale}"]
    dry = subprocess.run(cmd, capture_output=True, text=True)
    if dry.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{dry.stderr[-2000:]}")
    return re.findall(r"^\s+benchmark: (\S+)$", dry.stdout, flags=re.M)


def target_costs(rows: list[dict], root: Path, targets: list[str], cores: int) -> list[dict]:
    """Per target: jobs, jobs measured, CPU minutes, wall minutes on ``cores`` cores."""
    # the dry run names benchmarks/<scale>/<kind>/<job>.tsv; rows are keyed by <kind>/<job>
    by_job = {f"{r['kind']}/{r['job']}": r for r in rows}
    scale = root.name
    out = []
    for target in targets:
        paths = target_jobs(target, scale)
        keys = ["/".join(Path(p).with_suffix("").parts[2:]) for p in paths]
        measured = [by_job[k] for k in keys if k in by_job]
        cpu = sum(r["cpu_s"] for r in measured) / 60
        longest = max((r["wall_s"] for r in measured), default=0.0) / 60
        out.append({"target": target, "jobs": len(paths), "measured": len(measured),
                    "cpu_min": cpu, "wall_min": max(cpu / cores, longest)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="benchmarks/<scale> of a pipeline run")
    parser.add_argument("--out", type=Path, help="tidy CSV of every job (optional)")
    parser.add_argument("--targets", nargs="+", default=[],
                        help="Snakemake targets whose own from-scratch cost to print")
    parser.add_argument("--cores", type=int, default=2, help="for --targets (default 2)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"error: {args.root} is not a folder (benchmarks/<scale> after a pipeline run)",
              file=sys.stderr)
        return 2
    rows = read_benchmarks(args.root)
    if not rows:
        print(f"error: no benchmark files under {args.root}", file=sys.stderr)
        return 2
    table = pd.DataFrame(rows, columns=list(FIELDS))
    if args.out:
        write_text_atomic(args.out, table.to_csv(index=False))
    per_method = table.groupby(["kind", "method"]).agg(
        jobs=("job", "size"), wall=("wall_s", "sum"), cpu=("cpu_s", "sum"),
        longest=("wall_s", "max"))
    print(f"{'kind':<8} {'method':<14} {'jobs':>5} {'wall min':>9} {'CPU min':>8} "
          f"{'longest min':>11}")
    for (kind, method), t in per_method.iterrows():
        print(f"{kind:<8} {method:<14} {int(t.jobs):>5} {t.wall / 60:>9.1f} {t.cpu / 60:>8.1f} "
              f"{t.longest / 60:>11.1f}")
    print(f"{'all':<23} {len(table):>5} {table.wall_s.sum() / 60:>9.1f} "
          f"{table.cpu_s.sum() / 60:>8.1f}")
    if args.targets:
        print(f"\n{'target':<40} {'jobs':>5} {'measured':>8} {'CPU min':>8} "
              f"{'wall min on ' + str(args.cores):>14}")
        for t in target_costs(rows, args.root, args.targets, args.cores):
            print(f"{t['target']:<40} {t['jobs']:>5} {t['measured']:>8} {t['cpu_min']:>8.1f} "
                  f"{t['wall_min']:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
