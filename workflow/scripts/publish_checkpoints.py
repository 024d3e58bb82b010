"""Copy a finished pipeline run's meta-trained VSML learners to published/<scale>/checkpoints/.

    python workflow/scripts/publish_checkpoints.py --scale mini

The four dense VSML runs of the plan (meta-trained on MNIST and on Fashion-MNIST, without
and with random projections) go to ``vsml-mnist``, ``vsml-mnist-proj``, ``vsml-fashion-mnist``
and ``vsml-fashion-mnist-proj``: ``meta_params.npz`` (no pickle), ``run.json`` and
``metrics.csv`` each; the ES optimizer state (``checkpoint.npz``) stays behind.  The run
folders are the ones the current config plans (their names carry the config hash), so a
working copy with older runs beside them publishes the right ones.  Also copies the conv
VSML run's meta-loss curve (Fig. 20) next to the appendix tables.  Every copy is atomic.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from vsml import data
from vsml.io import write_bytes_atomic
from vsml.repro import appendix_train, pipeline

CHECKPOINTS = {
    "vsml-mnist": ("plain", "mnist"),
    "vsml-mnist-proj": ("proj", "mnist"),
    "vsml-fashion-mnist": ("plain", "fashion_mnist"),
    "vsml-fashion-mnist-proj": ("proj", "fashion_mnist"),
}
FILES = ("meta_params.npz", "run.json", "metrics.csv")


def _copy(src: Path, dst: Path) -> None:
    write_bytes_atomic(dst, src.read_bytes())


def _finished(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / "run.json").read_text()).get("status") == "done"
    except (OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--config", default="config/pipeline.yaml")
    parser.add_argument("--runs", default="runs", help="the pipeline's runs/ folder")
    parser.add_argument("--out", default="published", help="published/ folder")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        config = yaml.safe_load(f)
    scale, settings = pipeline.resolve_scale({**config, "scale": args.scale})
    plan = pipeline.Plan(settings, scale, data.available)
    runs = Path(args.runs) / scale / "train"
    missing = []
    for name, (variant, dist) in CHECKPOINTS.items():
        run_dir = runs / plan.train_job("vsml", variant, dist).id
        if not _finished(run_dir):
            missing.append(str(run_dir))
            continue
        dst = Path(args.out) / scale / "checkpoints" / name
        dst.mkdir(parents=True, exist_ok=True)
        for file in FILES:
            _copy(run_dir / file, dst / file)
        print(f"{run_dir} -> {dst}")
    fig20 = appendix_train.settings(plan, "fig20")
    for dist in fig20["distributions"][:1]:  # the MNIST row (the only one mini runs)
        conv = appendix_train.conv_train_job(plan, dist, fig20["variant"])
        run_dir = runs / conv.id
        if _finished(run_dir):
            dst = Path(args.out) / scale / "appendix_train" / "fig20-conv-meta-training.csv"
            dst.parent.mkdir(parents=True, exist_ok=True)
            _copy(run_dir / "metrics.csv", dst)
            print(f"{run_dir}/metrics.csv -> {dst}")
        else:
            missing.append(str(run_dir))
    if missing:
        print("not finished (nothing copied from them): " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
