"""Copy a finished pipeline run's meta-trained VSML learners to published/<scale>/checkpoints/.

    python workflow/scripts/publish_checkpoints.py --scale mini

Only these (and the conv VSML run's meta-loss curve, Fig. 20): `make publish` runs
workflow/scripts/publish.py, which publishes them with everything else and holds the logic
(which runs, which files); this entry point is kept for publishing the learners alone.  The
four dense VSML runs of the plan go to ``vsml-mnist``, ``vsml-mnist-proj``,
``vsml-fashion-mnist`` and ``vsml-fashion-mnist-proj``: ``meta_params.npz`` (no pickle),
``run.json`` and ``metrics.csv`` each.  Exit 1 when one of the runs is not finished (the
others are still copied).  Every copy is atomic.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsml.io import write_bytes_atomic
from vsml.repro import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from publish import CHECKPOINTS, run_extras  # noqa: E402, F401


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--config", default="config/pipeline.yaml")
    parser.add_argument("--runs", default="runs", help="the pipeline's runs/ folder")
    parser.add_argument("--out", default="published", help="published/ folder")
    args = parser.parse_args(argv)
    plan = pipeline.load_plan(".", args.scale, args.config)
    out = Path(args.out) / plan.scale
    skipped = []
    for extra in run_extras(plan, Path("."), Path(args.runs) / plan.scale / "train"):
        if extra.reason is not None:
            skipped.append(f"{extra.label}: {extra.reason}")
            continue
        for dst, src in extra.files.items():
            write_bytes_atomic(out / dst, src.read_bytes())
        print(f"{extra.label} -> {out}")
    if skipped:
        print("not copied:\n  " + "\n  ".join(skipped), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
