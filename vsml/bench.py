"""``vsml bench``: fast vs reference VSML, timed in one run (medians of repeats).

(a) one episode of one learner; (b) an ES-shaped batch: 2P population members, each with
its own meta-parameters (vmap), each running its own episode of T examples.  Members are
processed ``chunk`` at a time (``lax.map`` over chunks of a ``vmap``) so memory stays
bounded for any population size.  ``--es`` / ``--gradient`` time whole meta-training steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import jax

from vsml.episode import Episode, run_episode
from vsml.errors import UserError
from vsml.model import IMPLEMENTATIONS, Config, make_learner


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def population_losses(learner, population, episodes: Episode, keys, chunk: int):
    """Mean episode loss of every member (own params, own episode), ``chunk`` at a time."""
    members = keys.shape[0]
    if members % chunk:
        raise UserError(f"chunk ({chunk}) must divide the population size ({members})")

    def member_loss(params, episode, key):
        return run_episode(learner, params, episode, key).loss.mean()

    def by_chunk(tree):
        return jax.tree_util.tree_map(lambda a: a.reshape((-1, chunk) + a.shape[1:]), tree)

    losses = jax.lax.map(lambda args: jax.vmap(member_loss)(*args),
                         by_chunk((population, episodes, keys)))
    return losses.reshape(-1)


def _time_learner(learner, params, population, episodes: Episode, keys, chunk: int,
                  repeats: int) -> tuple[float, float]:
    """Median seconds of (one episode, the whole population's episodes)."""
    one = jax.jit(lambda p, e, k: run_episode(learner, p, e, k).loss.mean())
    first = Episode(episodes.x[0], episodes.y[0])
    t_one = _median_seconds(lambda: one(params, first, keys[0]), repeats)
    batch = jax.jit(lambda pop, e, k: population_losses(learner, pop, e, k, chunk))
    t_batch = _median_seconds(lambda: batch(population, episodes, keys), repeats)
    return t_one, t_batch


def bench_vsml(inputs: int = 784, outputs: int = 10, pairs: int = 16, length: int = 100,
               chunk: int = 2, repeats: int = 3, implementations=IMPLEMENTATIONS,
               micro_ticks: int = 2) -> list[dict]:
    """Time one episode and an ES-shaped batch for each implementation; list of result rows."""
    rows = []
    members = 2 * pairs
    key = jax.random.PRNGKey(0)
    k_x, k_y, k_p, k_s = jax.random.split(key, 4)
    xs = jax.random.normal(k_x, (members, length, inputs))
    ys = jax.random.randint(k_y, (members, length), 0, outputs)
    state_keys = jax.random.split(k_s, members)
    for impl in implementations:
        learner = make_learner(Config(implementation=impl, micro_ticks=micro_ticks), (inputs,),
                               outputs)
        params = learner.init_meta_params(k_p)
        population = jax.tree_util.tree_map(
            lambda p: p + 0.05 * jax.random.normal(k_p, (members,) + p.shape), params)
        ticks_per_example = inputs * outputs * micro_ticks
        t_one, t_batch = _time_learner(learner, params, population, Episode(xs, ys),
                                       state_keys, chunk, repeats)
        for name, seconds, examples in (("episode", t_one, length),
                                        ("es-batch", t_batch, members * length)):
            rows.append({
                "implementation": impl, "workload": name, "seconds": seconds,
                "episode_examples_per_s": examples / seconds,
                "sub_lstm_ticks_per_s": examples * ticks_per_example / seconds,
                "inputs": inputs, "outputs": outputs, "pairs": pairs, "length": length,
                "chunk": chunk, "backend": jax.default_backend(),
            })
    return rows


def _whole_step_row(impl: str, workload: str, result: dict, ticks_per_example: int) -> dict:
    """A row for a timed ES / gradient step (result of es.bench_es / gradient.bench_gradient)."""
    return {**result, "implementation": impl, "workload": workload,
            "seconds": result["step_s"], "episode_examples_per_s": result["examples_per_s"],
            "sub_lstm_ticks_per_s": result["examples_per_s"] * ticks_per_example}


def _print_rows(rows: list[dict]) -> None:
    print(f"{'impl':<10} {'workload':<10} {'seconds':>9} {'examples/s':>12} {'ticks/s':>10}")
    for r in rows:
        print(f"{r['implementation']:<10} {r['workload']:<10} {r['seconds']:>9.3f} "
              f"{r['episode_examples_per_s']:>12,.0f} {r['sub_lstm_ticks_per_s'] / 1e6:>9.1f}M")
    by = {(r["implementation"], r["workload"]): r for r in rows}
    for workload in ("episode", "es-batch", "es-step", "gradient-step"):
        if (("fast", workload) in by) and (("reference", workload) in by):
            ratio = (by["fast", workload]["episode_examples_per_s"]
                     / by["reference", workload]["episode_examples_per_s"])
            print(f"fast/reference ({workload}): {ratio:.2f}x")


def run(args: argparse.Namespace) -> int:
    for name in ("inputs", "outputs", "pairs", "length", "chunk", "repeats"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be >= 1, got {getattr(args, name)}")
    implementations = [args.implementation] if args.implementation else list(IMPLEMENTATIONS)
    print(f"backend {jax.default_backend()}, devices {jax.device_count()}, float32")
    rows = bench_vsml(args.inputs, args.outputs, args.pairs, args.length, args.chunk,
                      args.repeats, implementations)
    if args.es:
        from vsml.meta import es

        for impl in implementations:
            result = es.bench_es(inputs=args.inputs, outputs=args.outputs, pairs=args.pairs,
                                 length=args.length, chunk=min(args.chunk, args.pairs),
                                 implementation=impl, repeats=args.repeats)
            rows.append(_whole_step_row(impl, "es-step", result, args.inputs * args.outputs * 2))
    if args.gradient:
        from vsml.meta import gradient

        for impl in implementations:
            result = gradient.bench_gradient(implementation=impl, repeats=args.repeats)
            rows.append(_whole_step_row(impl, "gradient-step", result, 196 * 10 * 2))
    _print_rows(rows)
    if args.json:
        from vsml.io import write_text_atomic

        write_text_atomic(args.json, json.dumps(rows, indent=2))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="time fast vs reference VSML (medians of repeats)")
    p.add_argument("--inputs", "-A", type=int, default=784)
    p.add_argument("--outputs", "-B", type=int, default=10)
    p.add_argument("--pairs", "-P", type=int, default=16, help="antithetic pairs (2P members)")
    p.add_argument("--length", "-T", type=int, default=100)
    p.add_argument("--chunk", type=int, default=2, help="members evaluated at once (vmap)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--implementation", choices=IMPLEMENTATIONS, default=None,
                   help="time only this one (default: both, and their ratio)")
    p.add_argument("--es", action="store_true", help="also time whole ES steps (Adam included)")
    p.add_argument("--gradient", action="store_true",
                   help="also time gradient meta-training steps (A=196, B=10, batch 4, T=100)")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    p.set_defaults(func=run)



