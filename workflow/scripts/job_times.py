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
dry run plans fewer jobs and the costs come out too low.  Reading the dry run and the
per-target cost live in vsml/repro/dryrun.py, shared with ``vsml plan`` (which also
extrapolates what is not measured).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import pandas as pd

from vsml.errors import UserError
from vsml.io import write_text_atomic
from vsml.repro.cost import JOB_TIME_FIELDS as FIELDS
from vsml.repro.dryrun import benchmark_job, target_costs


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
        kind, method, job = benchmark_job(path.relative_to(root))
        rows.append({
            "kind": kind, "method": method, "job": job,
            "wall_s": _number(rec.get("s", "NA")), "cpu_s": _number(rec.get("cpu_time", "NA")),
            "max_rss_mb": _number(rec.get("max_rss", "NA")),
        })
    return rows


def tidy_table(rows: list[dict]) -> pd.DataFrame:
    """The tidy CSV's table (``--out``; publish.py writes it as published/<scale>/job_times.csv)."""
    return pd.DataFrame(rows, columns=list(FIELDS))


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
    table = tidy_table(rows)
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
        try:  # the dry runs (shared with vsml plan, vsml/repro/dryrun.py)
            costs = target_costs(rows, args.root.name, args.targets, args.cores)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for t in costs:
            print(f"{t['target']:<40} {t['jobs']:>5} {t['measured']:>8} {t['cpu_min']:>8.1f} "
                  f"{t['wall_min']:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
