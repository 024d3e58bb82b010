"""``vsml describe``: meta-parameter and learned-state counts of a method on a dataset shape."""

from __future__ import annotations

import argparse

import jax

from vsml.learner import num_numbers
from vsml.methods import METHODS, make_learner


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> dict (values stay strings; the config coerces them)."""
    from vsml.errors import UserError

    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def counts(method: str, input_shape: tuple[int, ...], num_outputs: int, overrides=None):
    """(number of meta-parameters, number of learned-state numbers) without allocating."""
    learner = make_learner(method, input_shape, num_outputs, overrides)
    key = jax.random.PRNGKey(0)
    params = jax.eval_shape(learner.init_meta_params, key)
    state = jax.eval_shape(learner.init_state, params, key)
    # a step counter is bookkeeping, not learned state
    state_numbers = num_numbers([leaf for leaf in jax.tree_util.tree_leaves(state)
                                 if leaf.ndim > 0])
    return num_numbers(params), state_numbers


def run(args: argparse.Namespace) -> int:
    from vsml import data

    spec = data.TaskSpec(dataset=args.dataset, image_size=args.image_size,
                         input_layout=args.input_layout)
    shape = data.input_shape(spec)
    outputs = data.num_classes(spec)
    methods = list(METHODS) if args.method == "all" else [args.method]
    overrides = parse_overrides(args.set)
    print(f"dataset {args.dataset}: input shape {shape}, {outputs} outputs")
    print(f"{'method':<14} {'meta-parameters |VM|':>22} {'learned state |VL|':>20}")
    for method in methods:
        meta, state = counts(method, shape, outputs, overrides if method == args.method else None)
        print(f"{method:<14} {meta:>22,d} {state:>20,d}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("describe", help="count meta-parameters and learned state")
    p.add_argument("--method", default="vsml", help="a method name, or 'all'")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--input-layout", default="flat", choices=["flat", "image"])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config value, e.g. --set hidden_sizes=160")
    p.set_defaults(func=run)
