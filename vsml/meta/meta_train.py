"""``vsml meta-train``: run ES or gradient meta-training with checkpoints and exact resume.

    vsml meta-train --method vsml --config config/default.yaml --set es.pairs=32 --out runs/x

Files in ``--out DIR``:

* ``run.json``: resolved config, config hash, git commit, versions, status;
* ``checkpoint.npz``: the whole training state (meta-params, Adam state, step, PRNG key,
  elapsed time, config hash), replaced atomically every ``meta_train.checkpoint_every``
  steps and at the end;
* ``metrics.csv``: one row per step (step, meta_loss, grad_norm, wall_time, step_s,
  episodes_per_s, examples_per_s, and per-task losses when there are several tasks);
* ``meta_params.npz``: the final meta-parameters (also in run.json's ``files``).

Rerunning the same command on the same DIR resumes from the checkpoint; the step-``s`` key is
``fold_in(loop_key, s)``, so a resumed run ends with meta-params bit-identical to an
uninterrupted one (same devices and chunking).  ``metrics.csv`` is cut back to the
checkpoint's step on resume.  A different config on an existing DIR is refused (exit 2),
except ``meta_train.steps`` and ``meta_train.checkpoint_every``, which do not change the
trajectory (so a finished run can be extended).  A non-finite meta-loss stops the run with
exit code 1 and leaves the last good checkpoint in place; Ctrl-C / SIGTERM save a checkpoint
of the last completed step first.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import math
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from vsml.errors import UserError
from vsml.learner import num_numbers
from vsml.meta import checkpoint as ckpt
from vsml.meta.config import (
    RunConfig,
    config_hash,
    differences,
    load_config,
    to_dict,
    trajectory_dict,
    trajectory_hash,
)
from vsml.meta.es import TaskGroup, Trainer, make_es, make_mesh, split_counts

RUN_JSON = "run.json"
METRICS = "metrics.csv"
BASE_COLUMNS = ["step", "meta_loss", "grad_norm", "wall_time", "step_s", "episodes_per_s",
                "examples_per_s"]


class Diverged(RuntimeError):
    """The meta-loss (or the gradient estimate) became NaN or infinite."""


# --------------------------------------------------------------------------- tasks -> groups


def task_variants(config: RunConfig) -> list[tuple[Any, float]]:
    """(TaskSpec, population share) of every task group of the meta-training distribution.

    Datasets share the population evenly; with ``augment`` each dataset is split evenly over
    the grid class-subset size x image size; ``random_projection_fraction`` of each of those
    sees randomly projected inputs.
    """
    tasks = config.tasks
    out = []
    for i, spec in enumerate(tasks.datasets):
        variants = [spec]
        if tasks.augment.enabled:
            try:
                variants = [
                    dataclasses.replace(spec, num_classes=k, image_size=s)
                    for k in tasks.augment.num_classes
                    for s in tasks.augment.image_sizes
                ]
            except UserError as err:
                raise UserError(f"tasks.augment does not fit tasks.datasets.{i}: {err}") from None
        share = 1.0 / len(tasks.datasets) / len(variants)
        fraction = tasks.random_projection_fraction
        for v in variants:
            if fraction == 0.0:
                out.append((v, share))
                continue
            if fraction < 1.0:
                plain = dataclasses.replace(v, random_projection=False)
                out.append((plain, share * (1 - fraction)))
            out.append((dataclasses.replace(v, random_projection=True), share * fraction))
    return out


def group_name(spec: Any) -> str:
    parts = [spec.dataset]
    if spec.num_classes is not None:
        parts.append(f"{spec.num_classes}cls")
    if spec.image_size is not None:
        parts.append(f"{spec.image_size}px")
    if spec.shuffle_pixels:
        parts.append("shuffled")
    if spec.random_projection:
        parts.append("proj")
    return "-".join(parts)


def build_learner(config: RunConfig, spec: Any):
    from vsml import data
    from vsml.methods import method_module

    module = method_module(config.method)
    return module.make_learner(config.model, tuple(data.input_shape(spec)), data.num_classes(spec))


def build_groups(config: RunConfig) -> list[TaskGroup]:
    """The task groups of ``config`` with their learners, samplers and prepared data."""
    from vsml import data

    variants = task_variants(config)
    total = config.es.pairs if config.meta_train.algorithm == "es" else config.gradient.batch
    what = "es.pairs" if config.meta_train.algorithm == "es" else "gradient.batch"
    if total < len(variants):
        raise UserError(
            f"{what}={total} is smaller than the {len(variants)} task groups of this config "
            f"(datasets x augment grid x random projection); raise {what}"
        )
    counts = split_counts(total, [w for _, w in variants])
    length = config.meta_train.length
    groups = []
    for (spec, _), count in zip(variants, counts, strict=True):
        learner = build_learner(config, spec)

        def sample(key, task_data, spec=spec):
            return data.sample_episode(key, task_data, length, spec)

        groups.append(TaskGroup(group_name(spec), learner, sample, data.prepare(spec), count))
    names = [g.name for g in groups]
    if len(set(names)) != len(names):  # the same task listed twice: keep columns apart
        groups = [dataclasses.replace(g, name=f"{g.name}#{i}") for i, g in enumerate(groups)]
    return groups


def build_trainer(config: RunConfig, groups: Sequence[TaskGroup], mesh=None) -> Trainer:
    mt = config.meta_train
    if mt.algorithm == "es":
        es = config.es
        return make_es(groups, noise_std=es.noise_std, learning_rate=es.learning_rate, b1=es.b1,
                       b2=es.b2, loss=mt.loss, chunk=mt.chunk, length=mt.length, mesh=mesh)
    from vsml.meta.gradient import make_gradient

    g = config.gradient
    return make_gradient(groups, learning_rate=g.learning_rate, b1=g.b1, b2=g.b2,
                         clip_norm=g.clip_norm, remat_steps=g.remat, loss=mt.loss,
                         chunk=mt.chunk, length=mt.length, mesh=mesh)


def run_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(init_key, loop_key) of a run; the key of step s is fold_in(loop_key, s)."""
    base = jax.random.PRNGKey(seed)
    return jax.random.fold_in(base, 0), jax.random.fold_in(base, 1)


# --------------------------------------------------------------------------- metrics.csv


def _read_rows(path: Path, upto: int) -> tuple[list[str] | None, list[list[str]]]:
    """Header and the well-formed rows with step <= upto (a torn last line is dropped)."""
    if not path.exists():
        return None, []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return None, []
    header, kept = rows[0], []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        try:
            step = int(row[0])
        except ValueError:
            continue
        if step <= upto:
            kept.append(row)
    kept.sort(key=lambda r: int(r[0]))
    # one row per step: a step logged twice (e.g. by an older crashed attempt) keeps the last
    dedup = {int(r[0]): r for r in kept}
    return header, [dedup[k] for k in sorted(dedup)]


def _reset_metrics(path: Path, header: list[str], upto: int) -> None:
    old_header, rows = _read_rows(path, upto)
    if old_header is not None and old_header != header:
        rows = []  # another column set cannot be continued; the config check guards this
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    with ckpt.atomic_write(path, "w") as f:
        f.write(buf.getvalue())


def _logged_meta_loss(path: Path, step: int) -> float:
    """The meta-loss metrics.csv holds for ``step`` (NaN if none: a fresh run)."""
    header, rows = _read_rows(path, step)
    if step < 1 or not rows or "meta_loss" not in header or int(rows[-1][0]) != step:
        return math.nan
    return float(rows[-1][header.index("meta_loss")])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


# --------------------------------------------------------------------------- the driver


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Turn SIGTERM (cluster preemption) into KeyboardInterrupt while training."""
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_existing(out: Path, cfg_dict: dict[str, Any]) -> dict[str, Any] | None:
    path = out / RUN_JSON
    if not path.exists():
        if (out / ckpt.CHECKPOINT).exists():
            raise UserError(f"{out} holds a checkpoint but no {RUN_JSON}; refusing to guess "
                            "its config (use another --out)")
        return None
    old = ckpt.load_json(path)
    diff = differences(trajectory_dict(old.get("config", {})), trajectory_dict(cfg_dict))
    if diff:
        raise UserError(
            f"{out} holds a run with a different config (differs in: {', '.join(diff)}); "
            "rerun with the same config to resume, or choose another --out"
        )
    return old


def train(
    config: RunConfig,
    out: str | Path,
    *,
    stop_after: int | None = None,
    progress: bool = True,
    devices: Sequence[Any] | None = None,
    log=print,
) -> dict[str, Any]:
    """Meta-train ``config`` into directory ``out`` (resuming what is there).

    ``stop_after``: stop (with a checkpoint) once this many steps are done in total.
    Returns a summary dict (final step, meta-loss, wall time, paths).  Raises ``Diverged``
    on a non-finite meta-loss and ``UserError`` for config problems.
    """
    out = Path(out)
    writer = jax.process_index() == 0
    cfg_dict = to_dict(config)
    full_hash, traj_hash = config_hash(cfg_dict), trajectory_hash(cfg_dict)
    mt = config.meta_train
    if stop_after is not None and stop_after < 1:
        raise UserError(f"--stop-after must be >= 1, got {stop_after}")
    out.mkdir(parents=True, exist_ok=True)
    previous = _check_existing(out, cfg_dict)

    mesh = make_mesh(devices)
    groups = build_groups(config)
    trainer = build_trainer(config, groups, mesh)
    init_key, loop_key = run_keys(mt.seed)
    state = trainer.init(init_key)
    if num_numbers(state.meta_params) == 0:
        raise UserError(f"method {config.method!r} has no meta-parameters: there is nothing to "
                        "meta-train (meta-test it directly)")

    start, wall_before = 0, 0.0
    if (out / ckpt.CHECKPOINT).exists():
        state, info = ckpt.load_checkpoint(out, state)
        if info["config_hash"] != traj_hash:
            raise UserError(f"{out / ckpt.CHECKPOINT} was written by another config; choose "
                            "another --out")
        if not np.array_equal(np.asarray(info["key"]), np.asarray(loop_key)):
            raise UserError(f"{out / ckpt.CHECKPOINT} holds another PRNG key than this seed")
        state = jax.device_put(state, jax.sharding.NamedSharding(mesh,
                                                                 jax.sharding.PartitionSpec()))
        start, wall_before = info["step"], info["wall_time"]
        if start > mt.steps:
            raise UserError(f"{out} already holds {start} steps, more than "
                            f"meta_train.steps={mt.steps}")
        log(f"resuming {out} from step {start}")
    group_columns = [f"loss/{g.name}" for g in groups] if len(groups) > 1 else []
    header = BASE_COLUMNS + group_columns

    run_info = {
        "method": config.method,
        "config": cfg_dict,
        "config_hash": full_hash,
        "trajectory_hash": traj_hash,
        **ckpt.provenance(),
        "devices": int(mesh.devices.size),
        "groups": [{"name": g.name, "members": g.count} for g in groups],
        "num_meta_params": num_numbers(state.meta_params),
        "created": (previous or {}).get("created", time.strftime("%Y-%m-%dT%H:%M:%S")),
    }
    if previous and previous.get("devices") not in (None, run_info["devices"]):
        log(f"warning: this run used {previous['devices']} devices before and "
            f"{run_info['devices']} now; the result is no longer bit-identical to an "
            "uninterrupted run (summation order)")
    if writer:
        ckpt.save_json(out / RUN_JSON, {**run_info, "status": "running", "step": start})
        _reset_metrics(out / METRICS, header, start)

    end = mt.steps if stop_after is None else min(mt.steps, stop_after)
    committed, committed_step = state, start
    last_saved = start
    session_start = time.perf_counter()
    last_loss = _logged_meta_loss(out / METRICS, start)  # a resume with no step left to do

    def save(step_state, step) -> None:
        nonlocal last_saved
        if writer:
            ckpt.save_checkpoint(out, step_state, loop_key,
                                 wall_time=wall_before + time.perf_counter() - session_start,
                                 config_hash=traj_hash)
        last_saved = step

    from tqdm import tqdm

    bar = tqdm(total=mt.steps, initial=start, disable=not progress, desc="meta-train",
               unit="step", dynamic_ncols=True, file=sys.stderr)
    metrics_file = open(out / METRICS, "a", newline="") if writer else None  # noqa: SIM115
    try:
        with _sigterm_as_interrupt():
            csv_writer = csv.writer(metrics_file, lineterminator="\n") if writer else None
            for step in range(start, end):
                t0 = time.perf_counter()
                new_state, metrics = trainer.step(committed, jax.random.fold_in(loop_key, step))
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                dt = time.perf_counter() - t0
                row = {
                    "step": step + 1,
                    "meta_loss": metrics["meta_loss"],
                    "grad_norm": metrics["grad_norm"],
                    "wall_time": wall_before + time.perf_counter() - session_start,
                    "step_s": dt,
                    "episodes_per_s": trainer.episodes_per_step / dt,
                    "examples_per_s": trainer.examples_per_step / dt,
                    **{c: metrics[c] for c in group_columns},
                }
                if writer:
                    csv_writer.writerow([_fmt(row[c]) for c in header])
                    metrics_file.flush()
                if not (math.isfinite(metrics["meta_loss"]) and
                        math.isfinite(metrics["grad_norm"])):
                    raise Diverged(
                        f"meta-loss became {metrics['meta_loss']} (gradient norm "
                        f"{metrics['grad_norm']}) at step {step + 1}; stopped. The last good "
                        f"checkpoint (step {last_saved}) in {out} is kept. Try a lower learning "
                        "rate or, for gradient meta-training, a smaller gradient.clip_norm."
                    )
                committed, committed_step = new_state, step + 1
                last_loss = metrics["meta_loss"]
                bar.update(1)
                bar.set_postfix(meta_loss=f"{last_loss:.4f}")
                if committed_step % mt.checkpoint_every == 0 or committed_step == end:
                    if writer:
                        ckpt.fsync_file(metrics_file)
                    save(committed, committed_step)
    except KeyboardInterrupt:
        if committed_step > last_saved:
            if writer:
                ckpt.fsync_file(metrics_file)
            save(committed, committed_step)
        if writer:
            ckpt.save_json(out / RUN_JSON, {**run_info, "status": "interrupted",
                                            "step": committed_step})
        raise
    except Diverged:
        if writer:
            ckpt.save_json(out / RUN_JSON, {**run_info, "status": "diverged",
                                            "step": last_saved})
        raise
    finally:
        bar.close()
        if metrics_file is not None:
            metrics_file.close()

    wall = wall_before + time.perf_counter() - session_start
    done = committed_step >= mt.steps
    if committed_step > last_saved:  # e.g. a run that was already complete
        save(committed, committed_step)
    summary = {
        "step": committed_step,
        "steps": mt.steps,
        "meta_loss": last_loss,
        "wall_time": wall,
        "out": str(out),
        "status": "done" if done else "stopped",
    }
    if writer:
        files = {"checkpoint": ckpt.CHECKPOINT, "metrics": METRICS}
        if done:
            ckpt.save_meta_params(out / ckpt.META_PARAMS, committed.meta_params)
            files["meta_params"] = ckpt.META_PARAMS
        ckpt.save_json(out / RUN_JSON, {**run_info, "status": summary["status"],
                                        "step": committed_step, "wall_time": wall,
                                        "final_meta_loss": last_loss, "files": files})
    log(f"{summary['status']}: step {committed_step}/{mt.steps}, meta-loss {last_loss:.4f}, "
        f"{wall:.1f}s -> {out}")
    return summary


# --------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default=None,
                        help="learner (default: the config's method, else vsml)")
    parser.add_argument("--config", default=None, help="run config YAML (default: built-in "
                        "paper values = config/default.yaml)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set es.pairs=32 (repeatable)")
    parser.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="STEPS",
                        help="stop with a checkpoint once this many steps are done in total")
    parser.add_argument("--devices", type=int, default=None,
                        help="use only the first N devices (default: all)")
    parser.add_argument("--distributed", action="store_true",
                        help="call jax.distributed.initialize() first (one process per host "
                        "or GPU; under SLURM/Open MPI the three options below are detected; "
                        "see docs/cluster.md)")
    parser.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                        help="with --distributed: process 0's address (default: detected, "
                        "or $JAX_COORDINATOR_ADDRESS)")
    parser.add_argument("--num-processes", type=int, default=None, metavar="N",
                        help="with --distributed: how many processes take part")
    parser.add_argument("--process-id", type=int, default=None, metavar="I",
                        help="with --distributed: this process's rank, 0..N-1 (0 writes files)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def initialize_distributed(coordinator: str | None, num_processes: int | None,
                           process_id: int | None) -> None:
    """``jax.distributed.initialize``; what is None is detected (SLURM, Open MPI, env)."""
    if num_processes is not None and num_processes < 1:
        raise UserError(f"--num-processes must be >= 1, got {num_processes}")
    if process_id is not None and not 0 <= process_id < (num_processes or process_id + 1):
        raise UserError(f"--process-id must be in 0..{num_processes - 1}, got {process_id}")
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    except ValueError as err:  # nothing detected and not given
        raise UserError(f"--distributed: {err} Outside SLURM / Open MPI pass --coordinator "
                        "HOST:PORT --num-processes N --process-id I (docs/cluster.md)") from None


def run_cli(args: argparse.Namespace) -> int:
    process_options = {"--coordinator": args.coordinator, "--num-processes": args.num_processes,
                       "--process-id": args.process_id}
    if args.distributed:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    elif any(v is not None for v in process_options.values()):
        given = [k for k, v in process_options.items() if v is not None]
        raise UserError(f"{', '.join(given)}: only used with --distributed")
    config = load_config(args.config, args.sets, args.method)
    devices = None
    if args.devices is not None:
        if not 1 <= args.devices <= jax.device_count():
            raise UserError(f"--devices must be in 1..{jax.device_count()}, got {args.devices}")
        devices = jax.devices()[: args.devices]
    try:
        train(config, args.out, stop_after=args.stop_after, progress=not args.no_progress,
              devices=devices)
    except Diverged as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("interrupted; checkpoint saved, rerun the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``meta-train`` sub-command (its ``func`` is ``run_cli``)."""
    parser = subparsers.add_parser(
        "meta-train", help="meta-train a learner with ES or gradients (resumable)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run_cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (tests): ``vsml meta-train ARGV``, returning the exit code."""
    from vsml.cli import run_command

    return run_command("meta-train", argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
