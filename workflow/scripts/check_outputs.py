"""CI check: the figures exist and the tidy CSVs have the documented columns.

    python workflow/scripts/check_outputs.py --scale smoke fig6 fig8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from vsml.repro import aggregate, appendix_train, introspection, pipeline


def _tables(res: Path, fig: str) -> list[tuple[Path, list[str]]]:
    """(table, its columns) of a figure."""
    if fig in introspection.INTROSPECTION_FIGURES:  # MNIST: probabilities p0..p9 per step
        steps = [*introspection.STEP_COLUMNS, *(f"p{c}" for c in range(10)),
                 *aggregate.PROVENANCE_COLUMNS]
        return [(res / f"{fig}.csv", introspection.INTRO_SUMMARY_COLUMNS),
                (res / "introspection" / f"{fig}.csv", steps)]
    if fig == "fig18":  # few-shot: query accuracy per block, meta-training curves
        return [(res / f"{fig}.csv", appendix_train.FEWSHOT_SUMMARY_COLUMNS),
                (res / "raw" / f"{fig}.csv", appendix_train.FEWSHOT_RAW_COLUMNS),
                (res / "curves" / f"{fig}.csv", appendix_train.TRAIN_CURVE_COLUMNS)]
    if fig == "fig19":
        return [(res / f"{fig}.csv", introspection.HORIZON_SUMMARY_COLUMNS),
                (res / "curves" / f"{fig}.csv", aggregate.CURVE_COLUMNS)]
    tables = [(res / f"{fig}.csv", aggregate.SUMMARY_COLUMNS),
              (res / "raw" / f"{fig}.csv", aggregate.RAW_COLUMNS)]
    if fig in pipeline.CURVE_FIGURES:
        tables.append((res / "curves" / f"{fig}.csv", aggregate.CURVE_COLUMNS))
    return tables


def check(scale: str, figs: list[str]) -> list[str]:
    problems = []
    res = Path("results") / scale
    for fig in figs:
        for path in (Path(f"figures/{fig}.pdf"), Path(f"figures/{fig}.png")):
            if not path.is_file() or path.stat().st_size < 1000:
                problems.append(f"{path} missing or empty")
        for path, columns in _tables(res, fig):
            if not path.is_file():
                problems.append(f"{path} missing")
                continue
            frame = pd.read_csv(path, keep_default_na=False)
            if list(frame.columns) != columns:
                problems.append(f"{path}: columns {list(frame.columns)} != {columns}")
            elif path.parent == res:
                if not len(frame) or not (frame.status == "ok").any():
                    problems.append(f"{path}: no cell ran")
                if (frame.scale != scale).any():
                    problems.append(f"{path}: scale column is not {scale}")
                bad = frame[(frame.status != "ok") & (frame.reason == "")]
                if len(bad):
                    problems.append(f"{path}: {len(bad)} not-run cells without a reason")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("figures", nargs="+")
    args = parser.parse_args()
    problems = check(args.scale, args.figures)
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    if not problems:
        print(f"outputs of {', '.join(args.figures)} at scale {args.scale}: OK")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
