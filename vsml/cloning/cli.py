"""The ``vsml clone-*`` commands (thin: parse, call the library, write files)."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from vsml.errors import UserError, check_choice
from vsml.io import write_text_atomic

if TYPE_CHECKING:

    pass

from vsml.cloning.backprop import clone_errors, curriculum, train_backprop
from vsml.cloning.evaluate import (
    accuracy_table,
    clones_table,
    evaluate,
    forward_table,
    read_eval_summaries,
)
from vsml.cloning.forward import forward_predict, forward_target, train_forward
from vsml.cloning.params import config_from_meta, load_params, provenance, save_params, write_csv
from vsml.cloning.presets import SCALES, UNSET, image_size_arg, preset_from_args
from vsml.cloning.rule import CloneConfig, TrainSettings
from vsml.cloning.shadow import dataset_arrays, shadow_table


def log_line(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- commands


def cmd_forward(args) -> int:
    pr = preset_from_args(args, "forward")
    cc = CloneConfig(micro_ticks=args.micro_ticks)
    ts = TrainSettings(pr.forward_steps, pr.forward_batch, seed=args.seed)
    t0 = time.time()
    params, history = train_forward(cc, ts, log=log_line)
    seconds = time.time() - t0
    x = jnp.linspace(-3, 3, 61)
    w = jnp.linspace(-cc.w_max, cc.w_max, 41)
    gx, gw = jnp.meshgrid(x, w)
    err = np.asarray(forward_predict(params, cc, gx, gw) - forward_target(gx, gw))
    summary = {"mae": float(np.abs(err).mean()), "max_abs_error": float(np.abs(err).max()),
               "target_abs_mean": float(np.abs(np.asarray(forward_target(gx, gw))).mean())}
    meta = {"kind": "forward", "clone_config": dataclasses.asdict(cc),
            "train": dataclasses.asdict(ts), "cpu_seconds": round(seconds, 1),
            "history": history, "grid_error": summary, **provenance(args.scale)}
    save_params(args.out, params, meta)
    log_line(f"clone-forward: grid MAE {summary['mae']:.4f} (max {summary['max_abs_error']:.3f}, "
         f"mean |target| {summary['target_abs_mean']:.3f}) in {seconds:.0f}s -> {args.out}")
    return 0


def cmd_backprop(args) -> int:
    pr = preset_from_args(args, "backprop")
    cc = CloneConfig(micro_ticks=args.micro_ticks, gain=args.gain, alpha=args.alpha,
                     retain_wb_only=not args.carry_state)
    steps = pr.backprop_steps
    inputs = (pr.image_size or 28) ** 2
    stages = curriculum(args.depth, steps, hidden=pr.hidden, inputs=inputs)
    ts = TrainSettings(steps, pr.clone_batch, seed=args.seed)
    init = None
    if args.init:
        init, init_meta = load_params(args.init)
        if config_from_meta(init_meta).retain_wb_only != cc.retain_wb_only:
            mode = {True: "App. C.1's (w, b)-only state (the default)",
                    False: "the whole state carried (--carry-state)"}
            raise UserError(f"--init {args.init} was cloned with "
                            f"{mode[not cc.retain_wb_only]}, this run uses "
                            f"{mode[cc.retain_wb_only]}; give both the same state handling")
    t0 = time.time()
    params, history = train_backprop(cc, ts, stages, image_size=pr.image_size,
                                     shadow_steps=pr.shadow_steps, params=init, log=log_line)
    seconds = time.time() - t0
    x_all, y_all = dataset_arrays(pr.image_size)
    rows = shadow_table(cc, (inputs, 10), x_all, y_all, jax.random.PRNGKey(12345), 200)
    quality = {k: float(v) for k, v in clone_errors(params, cc, rows,
                                                     jax.random.PRNGKey(7)).items()}
    meta = {"kind": "backprop", "depth": args.depth, "clone_config": dataclasses.asdict(cc),
            "train": dataclasses.asdict(ts), "image_size": pr.image_size,
            "shadow_steps": pr.shadow_steps, "hidden": pr.hidden,
            "stages": [dataclasses.asdict(s) for s in stages], "cpu_seconds": round(seconds, 1),
            "history": history, "mnist_tick_quality": quality, **provenance(args.scale)}
    save_params(args.out, params, meta)
    log_line(f"clone-backprop ({args.depth}) {seconds:.0f}s -> {args.out}; one-tick quality on "
         "MNIST shadow tuples: " + ", ".join(f"{k}={v:.3f}" for k, v in quality.items()))
    return 0


def cmd_eval(args) -> int:
    pr = preset_from_args(args, "eval")
    params, meta = load_params(args.params)
    cc = config_from_meta(meta)
    if meta.get("kind") != "backprop":
        raise UserError(f"{args.params} holds a {meta.get('kind', 'unknown')!r} clone; "
                        "clone-eval needs one from clone-backprop")
    depths = tuple(args.depths.split(","))
    for d in depths:
        check_choice("depth", d, ("shallow", "deep"))
    datasets = tuple(args.datasets.split(","))
    for d in datasets:
        check_choice("dataset", d, ("mnist", "fashion_mnist"))
    prov = {**provenance(args.scale), "params": str(args.params),
            "clone_depth": meta.get("depth", "")}
    curves, summary = evaluate(params, cc, pr, datasets, depths, pr.seeds, pr.eval_steps, prov,
                               hidden=pr.hidden, log=log_line, progress=not args.no_progress)
    write_csv(args.out, curves)
    write_csv(Path(args.out).with_name(Path(args.out).stem + "_summary.csv"), summary)
    log_line(f"clone-eval -> {args.out}")
    return 0


def cmd_table(args) -> int:
    if args.table == "fig10":
        if len(args.inputs) != 1:
            raise UserError("the fig10 table takes exactly one input: the clone-forward .npz")
        table = forward_table(args.inputs[0])
    elif args.table == "clones":
        table = clones_table(args.inputs)
    else:
        table = accuracy_table(args.table, read_eval_summaries(args.inputs))
    write_text_atomic(args.out, table.to_csv(index=False, float_format="%.6g"))
    log_line(f"clone-table {args.table}: {len(table)} rows -> {args.out}")
    return 0


def cmd_figure(args) -> int:
    from vsml.cloning import figures as fc

    outs = fc.make_figure(args.figure, args.inputs, args.out)
    log_line("clone-figure -> " + ", ".join(str(o) for o in outs))
    return 0


def register(subparsers) -> None:
    """Add ``clone-forward``, ``clone-backprop``, ``clone-eval``, ``clone-table`` and
    ``clone-figure``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--scale", default="mini", choices=SCALES,
                        help="size preset: smoke (~1 min), mini (tens of minutes), paper")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--steps", type=int, default=0, help="override the preset's steps")
    common.add_argument("--micro-ticks", type=int, default=2)

    def batch(p, what):
        p.add_argument("--batch", type=int, default=UNSET, help=f"override the preset's {what}")

    def image_size(p):
        p.add_argument("--image-size", type=image_size_arg, default=UNSET,
                       help="inputs resized to s x s, or 'native' (28 x 28); default: preset")

    def hidden(p):
        p.add_argument("--hidden", type=int, default=UNSET,
                       help="hidden units of the deep arrangement (default 32, App. B.1)")

    p = subparsers.add_parser("clone-forward", parents=[common],
                              help="clone y = tanh(x) w into a VSML sub-LSTM (Fig. 10)")
    batch(p, "batch of (x, w) samples")
    p.add_argument("--out", required=True, help="parameters .npz (+ .json beside it)")
    p.set_defaults(func=cmd_forward)

    p = subparsers.add_parser("clone-backprop", parents=[common],
                              help="clone backprop into the VSML RNN (Figs. 5, 11)")
    p.add_argument("--depth", default="shallow", choices=("shallow", "deep"),
                   help="deep = the App. B.1 curriculum for one hidden layer of 32")
    p.add_argument("--gain", type=float, default=CloneConfig.gain)
    p.add_argument("--alpha", type=float, default=CloneConfig.alpha)
    p.add_argument("--init", default="", help="start from these cloned parameters (.npz)")
    p.add_argument("--carry-state", action="store_true",
                   help="ablation: carry the whole LSTM state between ticks instead of App. "
                        "C.1's frozen forward sweep and (w, b)-only backward state")
    batch(p, "batch of synapse samples")
    image_size(p)
    p.add_argument("--shadow-steps", type=int, default=UNSET,
                   help="steps of each shadow network whose tuples feed a curriculum stage")
    hidden(p)
    p.add_argument("--out", required=True, help="parameters .npz (+ .json beside it)")
    p.set_defaults(func=cmd_backprop)

    p = subparsers.add_parser("clone-eval", parents=[common],
                              help="learn by unrolling the cloned VSML RNN vs regular SGD")
    p.add_argument("--params", required=True, help=".npz from clone-backprop")
    p.add_argument("--datasets", default="mnist,fashion_mnist")
    p.add_argument("--depths", default="shallow", help="comma list of shallow,deep")
    p.add_argument("--seeds", type=int, default=0, help="override the preset's seeds")
    batch(p, "meta-test batch (states merged over it; the paper: 64)")
    image_size(p)
    p.add_argument("--test-examples", type=int, default=UNSET,
                   help="test images per accuracy (0: the whole test split)")
    p.add_argument("--curve-every", type=int, default=UNSET,
                   help="one curve row per this many steps (mean over them)")
    hidden(p)
    p.add_argument("--out", required=True, help="curves CSV (summary: <out>_summary.csv)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser(
        "clone-table", help="tidy result table of Fig. 5, 10 or 11, or of the backprop clones",
        description="fig5 / fig11: test accuracy and final training loss per (arrangement, "
        "dataset, method), mean and std over seeds, from clone-eval summaries (fig5 takes "
        "each arrangement from the clone cloned for it); fig10: the forward clone's grid "
        "error; clones: budget and one-tick quality of clone-backprop outputs.")
    p.add_argument("table", choices=("fig5", "fig10", "fig11", "clones"))
    p.add_argument("--inputs", nargs="+", required=True,
                   help="fig5/fig11: clone-eval *_summary.csv; fig10: forward .npz; "
                   "clones: backprop .npz files")
    p.add_argument("--out", required=True, help="CSV")
    p.set_defaults(func=cmd_table)

    p = subparsers.add_parser("clone-figure", help="draw Fig. 5, 10 or 11 (PDF + PNG)")
    p.add_argument("figure", choices=("fig5", "fig10", "fig11"))
    p.add_argument("--inputs", nargs="+", required=True,
                   help="fig10: forward .npz; fig5/fig11: clone-eval curve CSVs")
    p.add_argument("--out", required=True, help="figure path (.pdf; a .png is written beside)")
    p.set_defaults(func=cmd_figure)


def main(argv=None) -> int:
    """Stand-alone entry: ``python -m vsml.cloning clone-forward --scale smoke --out x.npz``."""
    import sys

    parser = argparse.ArgumentParser(prog="vsml")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"vsml {args.command}: error: {err}", file=sys.stderr)
        return 2
