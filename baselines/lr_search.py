"""Learning-rate grid search for the online SGD/Adam baselines (paper Appendix C.2).

For every candidate rate the online learner runs ``episodes`` independent
episodes of ``length`` examples (fresh initial weights per episode) and we record
the mean and standard deviation over episodes of the cumulative accuracy after
all ``length`` examples.  The best rate is the one with the highest mean (the paper's
criterion).  The table also lists the mean cumulative accuracy after the first 100 examples
(``mean_at_100``), so a baseline tuned for early learning can be read off the same search.

The paper's search on MNIST gave 1e-2 for SGD and 1e-3 for Adam.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from vsml import methods
from vsml.episode import Episode, cumulative_accuracy, run_episodes
from vsml.errors import UserError, check_choice
from vsml.io import atomic_write

DEFAULT_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
EARLY = 100  # examples: the early-learning point of Fig. 6
COLUMNS = ["method", "dataset", "rate", "mean", "std", "mean_at_100", "episodes", "length", "best"]


def searchable_methods() -> list[str]:
    """Registered methods built by ``baselines.online`` (the ones with a learning rate)."""
    return [name for name, (module, _) in methods.METHODS.items() if module == "baselines.online"]


def _check_method(method: str) -> None:
    check_choice("method", method, searchable_methods())


def evaluate_rates(
    method: str,
    episodes: Episode,
    num_outputs: int,
    rates: Sequence[float],
    seed: int = 0,
    dataset: str = "",
) -> pd.DataFrame:
    """Cumulative accuracy of ``method`` for each learning rate on a fixed episode batch.

    ``episodes`` is a batch ``Episode(x [B, T, ...], y [B, T])``; every rate sees the
    same episodes and the same initial weights (keys from ``seed``).
    """
    _check_method(method)
    if len(rates) == 0:
        raise UserError("no learning rates given; pass at least one, e.g. --rates 1e-3,1e-2")
    num_episodes, length = int(episodes.y.shape[0]), int(episodes.y.shape[1])
    keys = jax.random.split(jax.random.PRNGKey(seed), num_episodes)
    rows = []
    for rate in rates:
        if not rate > 0:
            raise UserError(f"learning rates must be > 0, got {rate!r}")
        learner = methods.make_learner(
            method, tuple(episodes.x.shape[2:]), num_outputs, {"learning_rate": float(rate)}
        )
        run = jax.jit(lambda e, k, learner=learner: run_episodes(learner, {}, e, k).correct)
        curve = np.asarray(cumulative_accuracy(run(episodes, keys)))
        final = curve[:, -1]
        rows.append(
            {
                "method": method,
                "dataset": dataset,
                "rate": float(rate),
                "mean": float(final.mean()),
                "std": float(final.std()),
                "mean_at_100": float(curve[:, min(EARLY, length) - 1].mean()),
                "episodes": num_episodes,
                "length": length,
            }
        )
    frame = pd.DataFrame(rows)
    frame["best"] = frame["mean"] == frame["mean"].max()
    return frame[COLUMNS]


def best_rate(frame: pd.DataFrame) -> float:
    """The learning rate with the highest mean cumulative accuracy."""
    return float(frame.loc[frame["mean"].idxmax(), "rate"])


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    with atomic_write(path, "w", newline="") as handle:
        frame.to_csv(handle, index=False)
    return path


def _num_classes(data: typing.Any, spec: typing.Any, episodes: Episode) -> int:
    """Number of classes of a prepared task (falls back to the labels seen)."""
    for obj in (data, spec):
        for attr in ("num_classes", "num_outputs"):
            value = getattr(obj, attr, None)
            if isinstance(value, (int, np.integer)) and value > 0:
                return int(value)
    return int(jnp.max(episodes.y)) + 1


def lr_grid_search(
    method: str,
    spec: typing.Any,
    rates: Sequence[float] = DEFAULT_RATES,
    episodes: int = 32,
    length: int = 2000,
    seed: int = 0,
    out: str | Path | None = None,
) -> pd.DataFrame:
    """Grid-search the learning rate of ``method`` on the task ``spec`` (a ``vsml.data.TaskSpec``).

    Samples ``episodes`` episodes of ``length`` examples with ``seed``, evaluates
    every rate on them (``evaluate_rates``) and, when ``out`` is given, writes the
    table (rate, mean and std of the final cumulative accuracy, best flag) as CSV.
    """
    from vsml import data as vdata  # imported lazily: only this entry point needs datasets

    _check_method(method)
    if episodes < 1 or length < 1:
        raise UserError(f"episodes and length must be >= 1, got {episodes} and {length}")
    task = vdata.prepare(spec)
    batch = vdata.sample_episodes(jax.random.PRNGKey(seed), task, length, spec, episodes)
    frame = evaluate_rates(
        method,
        batch,
        _num_classes(task, spec, batch),
        rates,
        seed=seed + 1,
        dataset=str(getattr(spec, "dataset", "")),
    )
    if out is not None:
        write_csv(frame, out)
    return frame


def parse_rates(text: str) -> tuple[float, ...]:
    """Parse ``"1e-3,3e-3,1e-2"`` into floats (a UserError names a bad entry)."""
    rates = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            rates.append(float(item))
        except ValueError:
            raise UserError(f"--rates: {item!r} is not a number (use e.g. 1e-3,1e-2)") from None
    if not rates:
        raise UserError("--rates is empty (use e.g. 1e-3,1e-2)")
    return tuple(rates)


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of the ``lr-search`` sub-command; prints the table and the best rate."""
    from vsml import data as vdata

    spec = vdata.TaskSpec(dataset=args.dataset, split=args.split, image_size=args.image_size)
    frame = lr_grid_search(
        args.method, spec, parse_rates(args.rates), args.episodes, args.length, args.seed, args.out
    )
    print(frame.to_string(index=False))
    print(f"best learning rate for {args.method} on {args.dataset}: {best_rate(frame):g}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``lr-search`` sub-command (its handler is ``args.func(args) -> exit code``)."""
    parser = subparsers.add_parser(
        "lr-search",
        help="grid-search the learning rate of an online SGD/Adam baseline",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--method", default="adam-shallow",
                        help=f"one of: {', '.join(searchable_methods())} (default adam-shallow)")
    parser.add_argument("--dataset", default="mnist", help="dataset name (default mnist)")
    parser.add_argument("--split", default="train", help="dataset split (default train)")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES),
                        help="comma-separated learning rates")
    parser.add_argument("--image-size", type=int, default=None,
                        help="resize images to SIZE x SIZE (as the pipeline's mini scale does)")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per rate")
    parser.add_argument("--length", type=int, default=2000, help="examples per episode")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default=None, help="CSV file to write the table to")
    parser.set_defaults(func=run_cli)
    return parser
