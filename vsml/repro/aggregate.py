"""``vsml aggregate``: per-step meta-test CSVs of one figure -> tidy raw and summary tables.

    vsml aggregate --cells results/mini/cells/fig8.json --tests runs/mini/test \\
        --scale mini --out results/mini/fig8.csv [--raw results/mini/raw/fig8.csv] \\
        [--curves results/mini/fig6_curves.csv]

``--cells`` lists the figure's cells (written by the Snakefile from ``vsml.repro.pipeline.Plan``);
each names the meta-test CSV ``<tests>/<test_job>.csv`` holding its per-(episode, step)
results, or a "not run" marker (a CSV with columns ``status,reason``).

Outputs (all tidy, written atomically; every row carries ``scale``, ``config_hash``,
``git_commit`` and ``versions``):

* summary (``--out``), one row per cell: ``SUMMARY_COLUMNS``.  ``acc100_*`` is the
  cumulative accuracy after ``at_100 = min(100, length)`` examples, ``acc2000_*`` after
  ``at_2000 = min(2000, length)``; mean and std over the ``seeds`` meta-test episodes
  (every episode has its own seed).  Cells that could not run have ``status`` "not run"
  and the ``reason`` (e.g. "not run: data unavailable (kmnist)") and empty numbers.
* raw (``--raw``), one row per (cell, episode): ``RAW_COLUMNS``.
* curves (``--curves``), one row per (cell, step): cumulative accuracy mean and std (every
  step up to 100, then every 10th step and the last, which keeps the files small).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import io
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vsml.errors import UserError
from vsml.io import write_text_atomic
from vsml.lock import lock_status

CELL_COLUMNS = ["figure", "row", "panel", "method", "train", "variant", "test", "dataset",
                "seen"]
PROVENANCE_COLUMNS = ["scale", "config_hash", "git_commit", "versions"]
SUMMARY_COLUMNS = [*CELL_COLUMNS, "status", "reason", "seeds", "length", "at_100", "at_2000",
                   "acc100_mean", "acc100_std", "acc2000_mean", "acc2000_std",
                   *PROVENANCE_COLUMNS]
RAW_COLUMNS = [*CELL_COLUMNS, "episode", "seed", "at_100", "at_2000", "acc100", "acc2000",
               *PROVENANCE_COLUMNS]
CURVE_COLUMNS = [*CELL_COLUMNS, "step", "acc_mean", "acc_std", "seeds", *PROVENANCE_COLUMNS]
NOT_RUN = "not run"


def versions() -> str:
    """Package versions as one provenance string ("python=3.11.9;jax=0.10.2;...;lock=...")."""
    out = [f"python={platform.python_version()}"]
    for pkg in ("vsml-repro", "jax", "jaxlib", "optax", "numpy", "pandas", "matplotlib"):
        try:
            out.append(f"{pkg}={md.version(pkg)}")
        except md.PackageNotFoundError:
            out.append(f"{pkg}=missing")
    out.append(f"lock={lock_status()}")  # requirements.lock and whether it is what runs
    return ";".join(out)


def not_run_csv(reason: str) -> str:
    """The marker a pipeline job writes instead of results when it cannot run."""
    quoted = '"' + reason.replace('"', '""') + '"'  # reasons hold commas
    return f"status,reason\n{NOT_RUN},{quoted}\n"


def read_test(path: Path) -> tuple[pd.DataFrame | None, str]:
    """(per-step frame or None, reason when the job did not run)."""
    if not path.exists():
        raise UserError(f"meta-test result {path} does not exist; run the pipeline rule "
                        "that makes it (snakemake ... <that file>)")
    frame = pd.read_csv(path)
    if "status" in frame.columns:
        return None, str(frame["reason"].iloc[0]) if len(frame) else NOT_RUN
    needed = {"episode", "step", "correct"}
    if not needed <= set(frame.columns):
        raise UserError(f"{path} lacks columns {sorted(needed - set(frame.columns))}")
    return frame, ""


def cumulative(frame: pd.DataFrame) -> np.ndarray:
    """[episodes, steps] cumulative accuracy from a per-(episode, step) frame."""
    wide = frame.pivot(index="episode", columns="step", values="correct").sort_index(axis=1)
    correct = wide.to_numpy(np.float64)
    return np.cumsum(correct, axis=1) / np.arange(1, correct.shape[1] + 1)


def curve_steps(steps: int) -> list[int]:
    """0-based steps kept in curve tables: every step up to 100, then every 10th, the last."""
    keep = set(range(min(steps, 100))) | set(range(109, steps, 10)) | {steps - 1}
    return sorted(keep)


def aggregate(cells: list[dict[str, Any]], tests_dir: str | Path, scale: str,
              curves: bool = False) -> dict[str, pd.DataFrame]:
    """Summary, raw and (optionally) curve tables of ``cells``."""
    tests_dir = Path(tests_dir)
    vers = versions()
    from vsml.meta.checkpoint import git_commit

    here = git_commit()
    summary, raw, curve_rows = [], [], []
    cache: dict[str, tuple[pd.DataFrame | None, str]] = {}
    for cell in cells:
        key = cell["test_job"]
        if key not in cache:
            cache[key] = read_test(tests_dir / f"{key}.csv")
        frame, reason = cache[key]
        base = {c: cell.get(c, "") for c in CELL_COLUMNS}
        if frame is None:
            summary.append({**base, "status": NOT_RUN, "reason": reason,
                            "seeds": 0, "length": cell.get("length", ""),
                            "scale": scale, "config_hash": cell.get("train_config_hash", ""),
                            "git_commit": here, "versions": vers})
            continue
        acc = cumulative(frame)
        steps = acc.shape[1]
        at100, at2000 = min(100, steps), min(2000, steps)
        prov = {"scale": scale, "config_hash": str(frame["config_hash"].iloc[0])
                if "config_hash" in frame else "", "git_commit":
                str(frame["git_commit"].iloc[0]) if "git_commit" in frame else here,
                "versions": vers}
        a100, a2000 = acc[:, at100 - 1], acc[:, at2000 - 1]
        summary.append({**base, "status": "ok", "reason": "", "seeds": acc.shape[0],
                        "length": steps, "at_100": at100, "at_2000": at2000,
                        "acc100_mean": a100.mean(), "acc100_std": a100.std(),
                        "acc2000_mean": a2000.mean(), "acc2000_std": a2000.std(), **prov})
        seed = int(frame["seed"].iloc[0]) if "seed" in frame else 0
        for e in range(acc.shape[0]):
            raw.append({**base, "episode": e, "seed": seed, "at_100": at100,
                        "at_2000": at2000, "acc100": a100[e], "acc2000": a2000[e], **prov})
        if curves:
            mean, std = acc.mean(axis=0), acc.std(axis=0)
            for t in curve_steps(steps):
                curve_rows.append({**base, "step": t + 1, "acc_mean": mean[t],
                                   "acc_std": std[t], "seeds": acc.shape[0], **prov})
    return {"summary": pd.DataFrame(summary, columns=SUMMARY_COLUMNS),
            "raw": pd.DataFrame(raw, columns=RAW_COLUMNS),
            "curves": pd.DataFrame(curve_rows, columns=CURVE_COLUMNS)}


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g")
    write_text_atomic(path, buf.getvalue())


def load_cells(path: str | Path) -> list[dict[str, Any]]:
    try:
        cells = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"cells file not found: {path}") from None
    if not isinstance(cells, list):
        raise UserError(f"{path} must hold a JSON list of cells")
    return cells


def run_cli(args: argparse.Namespace) -> int:
    cells = load_cells(args.cells)
    tables = aggregate(cells, args.tests, args.scale, curves=args.curves is not None)
    write_csv(tables["summary"], args.out)
    if args.raw:
        write_csv(tables["raw"], args.raw)
    if args.curves:
        write_csv(tables["curves"], args.curves)
    s = tables["summary"]
    print(f"{len(s)} cells ({int((s.status == 'ok').sum())} ok, "
          f"{int((s.status != 'ok').sum())} not run) -> {args.out}")
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "aggregate", help="meta-test CSVs of a figure -> tidy summary/raw/curve tables",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", required=True, help="cells JSON of one figure")
    parser.add_argument("--tests", required=True, help="folder of the meta-test CSVs")
    parser.add_argument("--scale", default="adhoc", help="label for the provenance column")
    parser.add_argument("--out", required=True, help="summary CSV (one row per cell)")
    parser.add_argument("--raw", default=None, help="raw CSV (one row per cell and episode)")
    parser.add_argument("--curves", default=None, help="curves CSV (one row per cell and step)")
    parser.set_defaults(func=run_cli)
    return parser
