"""Meta-loss curves of several meta-training runs in one plot (PDF + PNG), for lab notebooks.

    python workflow/scripts/plot_meta_loss.py --out docs/figures/mini_meta_loss.png \\
        "T = 100:runs/exp/t100" "T = 200:runs/mini/train/vsml/plain/mnist-44c28e6f08"

Each argument is LABEL:RUN_DIR (a `vsml meta-train` folder with metrics.csv).  The x axis is
the ES step; a second panel shows the same curves over wall-clock minutes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vsml.io import atomic_write  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL:RUN_DIR")
    parser.add_argument("--out", required=True, help="PNG path (a PDF is written beside it)")
    parser.add_argument("--title", default="ES meta-training")
    args = parser.parse_args()
    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for item in args.runs:
        label, _, run = item.partition(":")
        metrics = pd.read_csv(Path(run) / "metrics.csv")
        smooth = metrics.meta_loss.rolling(20, min_periods=1).mean()
        by_step.plot(metrics.step, smooth, label=label)
        by_time.plot(metrics.step_s.cumsum() / 60, smooth, label=label)
    by_step.set_xlabel("ES step")
    by_time.set_xlabel("wall-clock minutes (as measured, on a shared 2-core CPU)")
    by_step.set_ylabel("meta-loss (cross-entropy, mean over T)")
    for ax in (by_step, by_time):
        ax.axhline(2.3026, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    by_step.legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in (out, out.with_suffix(".pdf")):
        with atomic_write(path) as handle:
            fig.savefig(handle, format=path.suffix[1:], dpi=120)
    print(f"wrote {out} and {out.with_suffix('.pdf')}")


if __name__ == "__main__":
    main()
