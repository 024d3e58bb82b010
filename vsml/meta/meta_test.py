"""``vsml meta-test``: the paper's meta-test protocol, on a dataset or on the user's own data.

    vsml meta-test --checkpoint runs/x --dataset fashion_mnist --out results/x_fashion.csv
    vsml meta-test --method sgd-shallow --dataset mnist --set model.learning_rate=0.01 ...
    vsml meta-test --checkpoint runs/x --dataset my_data.npz --length 500 --out mine.csv

Protocol (shared/REFERENCE.md, "Meta testing and metrics"): ``--episodes`` independent
online episodes (default 32) of ``--length`` examples (default 2,000) drawn from the test
split, each from a fresh random learner state; episode ``i`` uses
``fold_in(key, i)``, so results do not depend on ``--chunk``.  Episodes run vmapped, in
chunks of ``--chunk``.  The prediction for x_t is made before its label is seen.

The task inherits image size, input layout and padding from the checkpoint's first
meta-training dataset (so a model meta-trained on 14x14 inputs is tested on 14x14); change
them with ``--set task.image_size=28`` etc., the model with ``--set model.KEY=VALUE``.

A user ``.npz`` must hold ``x`` ([N, H, W], [N, H, W, C] or [N, D], finite numbers) and
``y`` ([N] integer labels 0..K-1).  Its inputs are standardized by the file's own mean and
std (one scalar each, like the fixed per-dataset statistics of the built-in datasets) and
used at their own size; an episode is a random order of the examples (cycling if
``--length`` exceeds N).

Output: a tidy CSV (written atomically), one row per (episode, step): episode, step
(1-based), correct (0/1), loss (cross-entropy of that prediction), and provenance columns
method, checkpoint, dataset, seed, scale, git_commit, config_hash.  A summary of the
cumulative accuracy after 100 and after the last example (mean +- std over episodes) is
printed.  ``--probabilities`` adds label, predicted, showing and the output probabilities
p0..p{C-1} of every prediction (the introspection of Figs. 9 and 17); ``--repeat K``
shows every drawn example K times in a row (``showing`` counts 1..K) and
``--one-per-class`` draws them class-balanced (Fig. 9's stream: ``vsml/data/streams.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vsml.episode import Episode, run_episode
from vsml.errors import UserError
from vsml.learner import num_numbers
from vsml.meta import checkpoint as ckpt
from vsml.meta.config import config_hash, parse_sets
from vsml.meta.es import make_mesh, population_map
from vsml.methods import METHODS, build_config, method_config, method_module

COLUMNS = ["episode", "step", "correct", "loss", "method", "checkpoint", "dataset", "seed",
           "scale", "git_commit", "config_hash"]
TASK_INHERITED = ("image_size", "input_layout", "pad_inputs_to", "pad_classes_to",
                  "fewshot_ways", "fewshot_shots")


@dataclasses.dataclass(frozen=True)
class UserTask:
    """A user's dataset from an ``.npz`` (already standardized and laid out)."""

    name: str
    x: np.ndarray  # [N, *input_shape] float32
    y: np.ndarray  # [N] int32
    num_classes: int


def load_user_npz(path: str | Path, input_layout: str = "flat",
                  pad_inputs_to: int | None = None, pad_classes_to: int | None = None) -> UserTask:
    """Read and validate a user ``.npz`` (see the module docstring)."""
    arrays = ckpt.load_npz(path)
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise UserError(f"{path} must hold arrays 'x' and 'y'; missing {missing}, found "
                        f"{sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if x.dtype.kind not in "fiub" or x.ndim not in (2, 3, 4) or x.shape[0] < 1:
        raise UserError(f"{path}: x must be numbers of shape [N, H, W], [N, H, W, C] or "
                        f"[N, D] with N >= 1, got {x.dtype} {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise UserError(f"{path}: y must have shape [N] = [{x.shape[0]}] (one label per row of "
                        f"x), got {y.shape}")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise UserError(f"{path}: y must hold integer class labels, got {y.dtype}")
    if y.min() < 0:
        raise UserError(f"{path}: labels must be >= 0, found {int(y.min())}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise UserError(f"{path}: x holds {int(np.sum(~np.isfinite(x)))} non-finite values "
                        "(NaN or inf)")
    classes = int(y.max()) + 1
    if classes < 2:
        raise UserError(f"{path}: y needs at least two classes (labels 0..K-1), found only 0")
    std = x.std()
    if std == 0:
        raise UserError(f"{path}: x is constant; nothing to learn from")
    x = ((x - x.mean()) / std).astype(np.float32)  # standardize by the file's own statistics
    if input_layout == "image":
        if x.ndim == 2:
            raise UserError(f"{path}: input_layout 'image' needs x of shape [N, H, W(, C)], "
                            f"got {x.shape}")
        if x.ndim == 3:
            x = x[..., None]
    else:
        x = x.reshape(x.shape[0], -1)
        if pad_inputs_to is not None:
            if x.shape[1] > pad_inputs_to:
                raise UserError(f"{path}: inputs have {x.shape[1]} numbers, more than "
                                f"pad_inputs_to={pad_inputs_to} of this model")
            x = np.pad(x, ((0, 0), (0, pad_inputs_to - x.shape[1])))
    if pad_classes_to is not None:
        if classes > pad_classes_to:
            raise UserError(f"{path}: {classes} classes, more than pad_classes_to="
                            f"{pad_classes_to} of this model")
        classes = pad_classes_to
    return UserTask(Path(path).name, x, y.astype(np.int32), classes)


def _split_sets(sets: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    model, task = {}, {}
    for key, value in parse_sets(sets):
        section, _, name = key.partition(".")
        if section == "model" and name:
            model[name] = value
        elif section == "task" and name:
            task[name] = value
        else:
            raise UserError(f"meta-test --set keys are model.KEY or task.KEY (a TaskSpec field "
                            f"such as task.image_size), got {key!r}")
    return model, task


def _resolve_checkpoint(directory: Path) -> tuple[dict[str, Any], Path]:
    run = ckpt.load_json(directory / "run.json")
    for name in (ckpt.META_PARAMS, ckpt.CHECKPOINT):
        if (directory / name).exists():
            return run, directory / name
    raise UserError(f"{directory} holds no {ckpt.META_PARAMS} or {ckpt.CHECKPOINT}")


def meta_test(
    *,
    dataset: str,
    method: str | None = None,
    checkpoint: str | Path | None = None,
    episodes: int = 32,
    length: int = 2000,
    seed: int = 0,
    sets: Sequence[str] = (),
    scale: str = "adhoc",
    chunk: int = 16,
    untrained: bool = False,
    out: str | Path | None = None,
    log=print,
    repeat: int = 1,
    one_per_class: bool = False,
    probabilities: bool = False,
) -> dict[str, Any]:
    """Run the meta-test protocol; write the tidy CSV to ``out`` (if given).

    ``repeat``/``one_per_class``: the stream of ``vsml.data.streams.repeated_episode``;
    ``probabilities``: add the columns ``PROBABILITY_COLUMNS`` (label, prediction, showing,
    p0..p{C-1}) to every row.
    Returns {"correct": [E, T] bool, "loss": [E, T], "summary": {...}, "rows": DataFrame}.
    """
    import pandas as pd

    from vsml import data

    for name, value, low in (("--episodes", episodes, 1), ("--length", length, 1),
                             ("--chunk", chunk, 1), ("--seed", seed, 0)):
        if value < low:
            raise UserError(f"{name} must be >= {low}, got {value}")
    model_sets, task_sets = _split_sets(sets)
    run, params_path, train_task = None, None, {}
    if checkpoint is not None:
        run, params_path = _resolve_checkpoint(Path(checkpoint))
        if method is not None and method != run["method"]:
            raise UserError(f"--method {method} does not match the checkpoint's method "
                            f"{run['method']!r}; leave --method out")
        method = run["method"]
        train_task = (run["config"].get("tasks", {}).get("datasets") or [{}])[0]
    if method is None:
        raise UserError(f"give --method (one of {', '.join(METHODS)}) or --checkpoint DIR")
    model_cfg = method_config(method, {**(run["config"]["model"] if run else {}), **model_sets})
    task_defaults = {k: train_task[k] for k in TASK_INHERITED if train_task.get(k) is not None}

    user = dataset.endswith(".npz") or Path(dataset).is_file()
    if user:
        bad = set(task_sets) - {"input_layout", "pad_inputs_to", "pad_classes_to"}
        if bad:
            raise UserError(f"--set task.{min(bad)} does not apply to a user .npz (only "
                            "task.input_layout, task.pad_inputs_to, task.pad_classes_to)")
        opts = {**task_defaults, **task_sets}
        task = load_user_npz(dataset, opts.get("input_layout", "flat"),
                             opts.get("pad_inputs_to"), opts.get("pad_classes_to"))
        shape, classes, dataset_name = task.x.shape[1:], task.num_classes, task.name
        task_data = {"x": jnp.asarray(task.x), "y": jnp.asarray(task.y)}
        n = task.x.shape[0]

        if repeat != 1 or one_per_class:
            raise UserError("--repeat and --one-per-class need a dataset name, not a user .npz")

        def sample(key, d):
            order = jax.random.permutation(key, n)
            idx = order[jnp.arange(length) % n]
            return Episode(d["x"][idx], d["y"][idx])
    else:
        spec = build_config(data.TaskSpec, {**task_defaults, "split": "test", **task_sets,
                                            "dataset": dataset}, where="task")
        shape, classes, dataset_name = data.input_shape(spec), data.num_classes(spec), dataset
        task_data = data.prepare(spec)

        from vsml.data.streams import check_repeat, repeated_episode

        check_repeat(length, repeat, one_per_class, spec)

        def sample(key, d):
            return repeated_episode(key, d, length, spec, repeat, one_per_class)

    learner = method_module(method).make_learner(model_cfg, tuple(shape), int(classes))
    key = jax.random.PRNGKey(seed)
    k_episode, k_init, k_params = jax.random.split(key, 3)
    template = jax.eval_shape(learner.init_meta_params, k_params)
    if params_path is not None:
        meta_params = ckpt.load_meta_params(params_path, template)
    elif num_numbers(template) > 0 and not untrained:
        raise UserError(f"method {method!r} has meta-parameters: pass --checkpoint DIR (a "
                        "meta-train run), or --untrained to test a random initialisation")
    else:
        meta_params = learner.init_meta_params(k_params)

    chunk = min(chunk, episodes)

    @jax.jit
    def evaluate(meta_params, task_data):
        def one(i):
            episode = sample(jax.random.fold_in(k_episode, i), task_data)
            result = run_episode(learner, meta_params, episode, jax.random.fold_in(k_init, i))
            probs = jax.nn.softmax(result.logits) if probabilities else None
            return result.loss, result.correct, probs, episode.y

        # the episodes sharded over all devices (one per CPU core: vsml.cpu), chunk at a time
        return population_map(lambda i, _: one(i), episodes, chunk, None, make_mesh())

    loss, correct, probs, labels = jax.device_get(evaluate(meta_params, task_data))
    loss, correct = np.asarray(loss, np.float32), np.asarray(correct, bool)

    if run is not None and not model_sets:
        chash = run["config_hash"]
    else:
        chash = config_hash({"method": method, "model": dataclasses.asdict(model_cfg),
                             "trained": run["config_hash"] if run else None})
    frame = pd.DataFrame({
        "episode": np.repeat(np.arange(episodes), length),
        "step": np.tile(np.arange(1, length + 1), episodes),
        "correct": correct.reshape(-1).astype(np.int8),
        "loss": loss.reshape(-1),
        "method": method,
        "checkpoint": "" if checkpoint is None else str(checkpoint),
        "dataset": dataset_name,
        "seed": seed,
        "scale": scale,
        "git_commit": ckpt.git_commit(),
        "config_hash": chash,
    })[COLUMNS]
    if probabilities:
        frame = pd.concat([frame, probability_columns(probs, labels, repeat)], axis=1)
    summary = summarize(correct)
    if out is not None:
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        with ckpt.atomic_write(out, "w") as f:
            f.write(buf.getvalue())
    log(format_summary(summary, method, dataset_name, episodes))
    return {"correct": correct, "loss": loss, "summary": summary, "rows": frame}


PROBABILITY_COLUMNS = ["label", "predicted", "showing"]  # then p0..p{C-1}


def probability_columns(probs: np.ndarray, labels: np.ndarray, repeat: int):
    """Per-step true label, predicted label (argmax), showing (1..repeat) and p0..p{C-1}.

    ``probs``: [E, T, C] softmax of each prediction (made before that step's label)."""
    import pandas as pd

    probs = np.asarray(probs, np.float32)
    episodes, length, classes = probs.shape
    flat = probs.reshape(-1, classes)
    columns = {"label": np.asarray(labels).reshape(-1), "predicted": flat.argmax(axis=1),
               "showing": np.tile(np.arange(length) % repeat + 1, episodes)}
    columns.update({f"p{c}": flat[:, c] for c in range(classes)})
    return pd.DataFrame(columns)


def summarize(correct: np.ndarray) -> dict[str, Any]:
    """Cumulative accuracy after 100 and after the last example: mean, std over episodes."""
    correct = np.asarray(correct, np.float64)
    out = {}
    for t in sorted({min(100, correct.shape[1]), correct.shape[1]}):
        acc = correct[:, :t].mean(axis=1)
        out[t] = {"mean": float(acc.mean()), "std": float(acc.std())}
    return out


def format_summary(summary: dict[int, dict[str, float]], method: str, dataset: str,
                   episodes: int) -> str:
    parts = [f"after {t}: {100 * s['mean']:.1f} ± {100 * s['std']:.1f} %"
             for t, s in summary.items()]
    return f"{method} on {dataset} ({episodes} episodes), cumulative accuracy " + ", ".join(parts)


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default=None, help="learner (default: the checkpoint's)")
    parser.add_argument("--checkpoint", default=None, metavar="DIR",
                        help="a meta-train run directory (needed for meta-learned methods)")
    parser.add_argument("--dataset", required=True, metavar="NAME|FILE.npz",
                        help="a dataset name (its test split) or an .npz with x and y")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--length", type=int, default=2000, help="examples per episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="model.KEY=VALUE or task.KEY=VALUE (repeatable)")
    parser.add_argument("--scale", default="adhoc", help="label for the provenance column")
    parser.add_argument("--chunk", type=int, default=16, help="episodes vmapped together")
    parser.add_argument("--untrained", action="store_true",
                        help="test a meta-learned method at its random initialisation")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="show every drawn example K times in a row (Fig. 9: 2); "
                        "--length counts steps")
    parser.add_argument("--one-per-class", action="store_true",
                        help="draw the distinct examples in shuffled blocks holding one "
                        "example of every class (Fig. 9)")
    parser.add_argument("--probabilities", action="store_true",
                        help="also record label, predicted, showing and the output "
                        "probabilities p0..p{C-1} of every step (Figs. 9, 17)")
    parser.add_argument("--out", required=True, metavar="FILE.csv")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="also draw the cumulative-accuracy curve (.png, .pdf or .svg)")


def run_cli(args: argparse.Namespace) -> int:
    if args.plot is not None:
        check_plot_path(args.plot)  # before the run, not after it
    result = meta_test(dataset=args.dataset, method=args.method, checkpoint=args.checkpoint,
                       episodes=args.episodes, length=args.length, seed=args.seed,
                       sets=args.sets, scale=args.scale, chunk=args.chunk,
                       untrained=args.untrained, out=args.out, repeat=args.repeat,
                       one_per_class=args.one_per_class, probabilities=args.probabilities)
    if args.plot is not None:
        rows = result["rows"]
        plot_cumulative_accuracy(result["correct"], args.plot,
                                 f"{rows['method'].iloc[0]} on {rows['dataset'].iloc[0]}")
    return 0


PLOT_FORMATS = (".png", ".pdf", ".svg")


def check_plot_path(path: str | Path) -> None:
    if Path(path).suffix.lower() not in PLOT_FORMATS:
        raise UserError(f"--plot {path}: the file must end in one of {', '.join(PLOT_FORMATS)}")


def plot_cumulative_accuracy(correct: np.ndarray, path: str | Path, title: str) -> Path:
    """Cumulative accuracy over the episode (mean, band of +-1 std over episodes), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vsml.io import write_bytes_atomic

    check_plot_path(path)
    correct = np.asarray(correct, np.float64)
    steps = np.arange(1, correct.shape[1] + 1)
    cumulative = np.cumsum(correct, axis=1) / steps
    mean, std = cumulative.mean(axis=0), cumulative.std(axis=0)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, 100 * mean, color="C0", lw=1.5)
    ax.fill_between(steps, 100 * (mean - std), 100 * (mean + std), color="C0", alpha=0.25, lw=0)
    ax.set(xlabel="examples seen", ylabel="cumulative accuracy (%)", ylim=(0, 100),
           xlim=(1, steps[-1]), title=f"{title} ({correct.shape[0]} episodes, mean ± std)")
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lower()[1:], dpi=150, bbox_inches="tight")
    plt.close(fig)
    return write_bytes_atomic(path, buf.getvalue())


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``meta-test`` sub-command (its ``func`` is ``run_cli``)."""
    parser = subparsers.add_parser(
        "meta-test", help="meta-test a learner (paper protocol) and write a tidy CSV",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run_cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (tests): ``vsml meta-test ARGV``, returning the exit code."""
    from vsml.cli import run_command

    return run_command("meta-test", argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
