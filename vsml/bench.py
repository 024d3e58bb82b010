"""``vsml bench``: the VSML implementations timed in one run (medians of interleaved repeats).

Paths: ``reference`` (Eq. 7 vmapped over synapses), ``fast-jax`` (the structure-exploiting
pure-JAX tick) and ``fused`` (implementation ``fast`` with the C++ kernel of
``vsml.kernels``; skipped with a note where it is unavailable).  Workloads:

* ``episode``: one episode of T examples of one learner (one device);
* ``es-batch``: an ES-shaped batch, 2P population members with their own meta-parameters
  and episodes, sharded over all devices, ``chunk`` members vmapped at a time;
* ``es-step`` (``--es``): a whole ES step (noise, 2P episodes, estimate, Adam) as
  ``vsml meta-train`` runs it;
* ``meta-test`` (``--es``): 2P meta-test episodes of one learner (shared meta-parameters),
  sharded like ``vsml meta-test``;
* ``gradient-step`` (``--gradient``): a gradient meta-training step (A=196, B=10, batch 4);
* ``conv-es-batch`` (``--conv``): the ES-shaped batch for the conv VSML of
  ``config/conv.yaml`` (conv 3x3 stride 2, 8 channels, then dense to B; reverse sweep,
  feed-label, layer norm) on ``--conv-side`` square images.  Its ticks count every conv
  synapse at every output position, both sweeps (no ``% peak``: a conv synapse's matvec
  is shared by its positions).

All workloads are compiled first, then timed round-robin (one repeat of each per round),
so every ratio compares numbers taken under the same machine load; the median per workload
is reported.  The same rounds time a float32 matmul (per device, all devices at once): the
machine's measured peak.  ``% peak`` counts 2 N 4N FLOPs per sub-LSTM tick (the recurrent
matvec h W_h, 2,048 for N = 16, which every path performs; the message projections and
the ~5N transcendentals are not counted).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vsml import kernels
from vsml.episode import Episode, run_episode
from vsml.errors import UserError
from vsml.model import Config, make_learner

PATHS = ("reference", "fast-jax", "fused")
IMPLEMENTATION_OF = {"reference": "reference", "fast-jax": "fast-jax", "fused": "fast"}
WORKLOADS = ("episode", "es-batch", "es-step", "meta-test", "gradient-step",
             "conv-es-batch")


@dataclasses.dataclass
class Timed:
    """One compiled workload: ``run()`` blocks until done; ``examples`` per run."""

    path: str
    workload: str
    run: Callable[[], object]
    examples: int
    ticks_per_example: int
    info: dict
    times: list[float] = dataclasses.field(default_factory=list)
    cpu_times: list[float] = dataclasses.field(default_factory=list)


def _block(fn: Callable[[], object]) -> Callable[[], object]:
    return lambda: jax.block_until_ready(fn())


def _synthetic(members: int, length: int, inputs: int, outputs: int):
    k_x, k_y, k_p, k_s = jax.random.split(jax.random.PRNGKey(0), 4)
    xs = jax.random.normal(k_x, (members, length, inputs))
    ys = jax.random.randint(k_y, (members, length), 0, outputs)
    return Episode(xs, ys), k_p, jax.random.split(k_s, members)


def _es_batch(learner, key, episodes: Episode, keys, chunk: int, mesh) -> Callable[[], object]:
    """An ES-shaped batch: every member its own meta-parameters (``key``'s initial ones,
    perturbed) and episode."""
    from vsml.meta.es import population_map

    members = keys.shape[0]
    population = jax.tree_util.tree_map(
        lambda p: p + 0.05 * jax.random.normal(key, (members,) + p.shape),
        learner.init_meta_params(key))

    def member(i, args):
        pop, eps, ks = args
        own = jax.tree_util.tree_map(lambda a: a[i], (pop, eps, ks))
        return run_episode(learner, *own).loss.mean()

    run = jax.jit(lambda *a: population_map(member, members, chunk, a, mesh))
    return lambda: run(population, episodes, keys)


def batch_workloads(path: str, inputs: int, outputs: int, pairs: int, length: int, chunk: int,
                    micro_ticks: int, mesh, with_meta_test: bool) -> list[Timed]:
    """``episode``, ``es-batch`` (and ``meta-test``) for one path (built, not yet timed)."""
    from vsml.meta.es import population_map

    members = 2 * pairs
    learner = make_learner(Config(implementation=IMPLEMENTATION_OF[path],
                                  micro_ticks=micro_ticks), (inputs,), outputs)
    episodes, k_p, keys = _synthetic(members, length, inputs, outputs)
    params = learner.init_meta_params(k_p)
    ticks = inputs * outputs * micro_ticks

    one = jax.jit(lambda p, e, k: run_episode(learner, p, e, k).loss.mean())
    first = Episode(episodes.x[0], episodes.y[0])

    def test_episode(i, args):  # meta-test: shared meta-parameters, own episode and state
        p, eps, ks = args
        e, k = jax.tree_util.tree_map(lambda a: a[i], (eps, ks))
        return run_episode(learner, p, e, k).correct

    es_batch = _es_batch(learner, k_p, episodes, keys, chunk, mesh)
    meta_test = jax.jit(lambda *a: population_map(test_episode, members, chunk, a, mesh))
    info = {"inputs": inputs, "outputs": outputs, "pairs": pairs, "length": length,
            "chunk": chunk, "micro_ticks": micro_ticks}
    timed = [
        Timed(path, "episode", _block(lambda: one(params, first, keys[0])), length, ticks, info),
        Timed(path, "es-batch", _block(es_batch), members * length, ticks, info),
    ]
    if with_meta_test:
        timed.append(Timed(path, "meta-test", _block(lambda: meta_test(params, episodes, keys)),
                           members * length, ticks, info))
    return timed


def conv_workload(path: str, side: int, outputs: int, pairs: int, length: int, chunk: int,
                  mesh) -> Timed:
    """``conv-es-batch``: 2P members of the conv VSML, own meta-parameters and episodes."""
    members = 2 * pairs
    config = Config(implementation=IMPLEMENTATION_OF[path], conv_channels=(8,), conv_kernel=3,
                    conv_stride=2, reverse_sweep=True, feed_label=True, layer_norm=True)
    learner = make_learner(config, (side, side, 1), outputs)
    episodes, k_p, keys = _synthetic(members, length, side * side, outputs)
    episodes = episodes._replace(x=episodes.x.reshape(members, length, side, side, 1))
    conv, dense = learner.layer_shapes
    synapse_ticks = (conv.kernel**2 * conv.in_channels * conv.out_channels
                     * conv.out_hw[0] * conv.out_hw[1] + dense.inputs * dense.outputs)
    ticks = 2 * config.micro_ticks * synapse_ticks  # the reverse sweep ticks every layer again
    es_batch = _es_batch(learner, k_p, episodes, keys, chunk, mesh)
    info = {"side": side, "outputs": outputs, "pairs": pairs, "length": length, "chunk": chunk,
            "micro_ticks": config.micro_ticks}
    return Timed(path, "conv-es-batch", _block(es_batch), members * length, ticks, info)


def _trainer_workload(path: str, workload: str, trainer, ticks: int, info: dict) -> Timed:
    state = trainer.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    return Timed(path, workload, _block(lambda: trainer.step(state, key)),
                 trainer.examples_per_step, ticks, {**info, "episodes": trainer.episodes_per_step})


def es_step_workload(path: str, inputs: int, outputs: int, pairs: int, length: int,
                     chunk: int, micro_ticks: int, mesh) -> Timed:
    from vsml.meta.es import make_es, synthetic_group
    from vsml.methods import make_learner as make_method

    learner = make_method("vsml", (inputs,), outputs, {"implementation": IMPLEMENTATION_OF[path],
                                                       "micro_ticks": micro_ticks})
    trainer = make_es([synthetic_group(learner, inputs, outputs, length, pairs)],
                      chunk=chunk, length=length, mesh=mesh)
    return _trainer_workload(path, "es-step", trainer, inputs * outputs * micro_ticks,
                             {"inputs": inputs, "outputs": outputs, "pairs": pairs,
                              "length": length, "chunk": chunk})


def gradient_step_workload(path: str, mesh, inputs: int = 196, outputs: int = 10,
                           batch: int = 4, length: int = 100) -> Timed:
    from vsml.meta.es import synthetic_group
    from vsml.meta.gradient import make_gradient
    from vsml.methods import make_learner as make_method

    learner = make_method("vsml", (inputs,), outputs, {"implementation": IMPLEMENTATION_OF[path]})
    trainer = make_gradient([synthetic_group(learner, inputs, outputs, length, batch)],
                            chunk=batch, length=length, mesh=mesh)
    return _trainer_workload(path, "gradient-step", trainer, inputs * outputs * 2,
                             {"inputs": inputs, "outputs": outputs, "batch": batch,
                              "length": length})


def matmul_workload(mesh, size: int = 1024) -> Timed:
    """float32 [size, size] x [size, size] on every device at once (sharded batch of them)."""
    from jax.sharding import NamedSharding, PartitionSpec

    devices = mesh.devices.size
    sharding = NamedSharding(mesh, PartitionSpec("pop"))
    k_a, k_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.device_put(jax.random.normal(k_a, (devices, size, size)), sharding)
    b = jax.device_put(jax.random.normal(k_b, (devices, size, size)), sharding)
    matmul = jax.jit(lambda a, b: jnp.einsum("dij,djk->dik", a, b), out_shardings=sharding)
    flops = 2 * size**3 * devices
    return Timed("peak", "matmul", _block(lambda: matmul(a, b)), flops, 1,
                 {"size": size, "devices": devices})


def time_round_robin(timed: list[Timed], repeats: int) -> None:
    """Warm every workload up (compile), then time them in turns, ``repeats`` rounds."""
    for t in timed:
        t.run()
    for _ in range(repeats):
        for t in timed:
            start, cpu_start = time.perf_counter(), time.process_time()
            t.run()
            t.times.append(time.perf_counter() - start)
            t.cpu_times.append(time.process_time() - cpu_start)


def rows_of(timed: list[Timed]) -> list[dict]:
    peak = next((t for t in timed if t.workload == "matmul"), None)
    peak_flops = peak.examples / statistics.median(peak.times) if peak else None
    rows = []
    for t in timed:
        if t.workload == "matmul":
            continue
        seconds = statistics.median(t.times)
        ticks_per_s = t.examples * t.ticks_per_example / seconds
        state = t.info.get("state_size", 16)
        row = {**t.info, "implementation": t.path, "workload": t.workload, "seconds": seconds,
               "cpu_seconds": statistics.median(t.cpu_times), "repeats": len(t.times),
               "episode_examples_per_s": t.examples / seconds,
               "sub_lstm_ticks_per_s": ticks_per_s, "backend": jax.default_backend(),
               "devices": jax.device_count()}
        if peak_flops:
            row["matmul_peak_gflops"] = peak_flops / 1e9
        # a conv synapse's matvec is shared by its positions: no FLOPs per tick to count
        if peak_flops and t.workload != "conv-es-batch":
            row["peak_fraction"] = ticks_per_s * 2 * state * 4 * state / peak_flops
        rows.append(row)
    return rows


def print_rows(rows: list[dict]) -> None:
    """The table; ``x ref``: speed-up over the reference in wall time, ``x ref cpu``: in the
    CPU time of this process (all its threads; less sensitive to other processes' load)."""
    print(f"{'path':<10} {'workload':<14} {'seconds':>9} {'cpu-s':>8} {'examples/s':>11} "
          f"{'ticks/s':>9} {'% peak':>7} {'x ref':>6} {'x ref cpu':>9}")
    by = {(r["implementation"], r["workload"]): r for r in rows}
    for r in rows:
        ref = by.get(("reference", r["workload"]))
        ratio = (f"{ref['seconds'] / r['seconds']:>6.2f} "
                 f"{ref['cpu_seconds'] / max(r['cpu_seconds'], 1e-9):>9.2f}"
                 if ref else f"{'':>16}")
        frac = f"{100 * r['peak_fraction']:>6.1f}%" if "peak_fraction" in r else f"{'':>7}"
        print(f"{r['implementation']:<10} {r['workload']:<14} {r['seconds']:>9.3f} "
              f"{r['cpu_seconds']:>8.2f} {r['episode_examples_per_s']:>11,.0f} "
              f"{r['sub_lstm_ticks_per_s'] / 1e6:>8.1f}M {frac} {ratio}")


def run(args: argparse.Namespace) -> int:
    for name in ("inputs", "outputs", "pairs", "length", "chunk", "repeats", "conv_side"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    from vsml.meta.es import make_mesh

    paths = [args.implementation] if args.implementation else list(PATHS)
    if "fused" in paths and not kernels.dense_ticks_available():
        print("note: the fused kernel is unavailable here; no 'fused' rows")
        paths.remove("fused")
    mesh = make_mesh()
    load = os.getloadavg()[0]
    print(f"backend {jax.default_backend()}, {jax.device_count()} devices, "
          f"{os.environ.get('VSML_THREADS', '?')} threads, float32, load {load:.1f}")
    timed = [matmul_workload(mesh)]
    for path in paths:
        timed += batch_workloads(path, args.inputs, args.outputs, args.pairs, args.length,
                                 args.chunk, 2, mesh, args.es)
        if args.es:
            timed.append(es_step_workload(path, args.inputs, args.outputs, args.pairs,
                                          args.length, min(args.chunk, args.pairs), 2, mesh))
        if args.gradient:
            timed.append(gradient_step_workload(path, mesh))
        if args.conv:
            timed.append(conv_workload(path, args.conv_side, args.outputs, args.pairs,
                                       args.length, args.chunk, mesh))
    time_round_robin(timed, args.repeats)
    rows = rows_of(timed)
    rows.sort(key=lambda r: (WORKLOADS.index(r["workload"]), PATHS.index(r["implementation"])))
    print_rows(rows)
    if rows and "matmul_peak_gflops" in rows[0]:
        print(f"float32 matmul peak (measured, {jax.device_count()} devices at once): "
              f"{rows[0]['matmul_peak_gflops']:.1f} GFLOP/s; % peak counts 2*N*4N = "
              f"{2 * 16 * 64:,} FLOPs per sub-LSTM tick (N = 16)")
    print(f"load average: {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        from vsml.io import write_text_atomic

        write_text_atomic(args.json, json.dumps(rows, indent=2))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="time the VSML implementations (medians of "
                                            "interleaved repeats)")
    p.add_argument("--inputs", "-A", type=int, default=784)
    p.add_argument("--outputs", "-B", type=int, default=10)
    p.add_argument("--pairs", "-P", type=int, default=16, help="antithetic pairs (2P members)")
    p.add_argument("--length", "-T", type=int, default=100)
    p.add_argument("--chunk", type=int, default=2, help="members evaluated at once (vmap)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--implementation", choices=PATHS, default=None,
                   help="time only this path (default: all, and their ratios)")
    p.add_argument("--es", action="store_true",
                   help="also time whole ES steps and a meta-test batch")
    p.add_argument("--gradient", action="store_true",
                   help="also time gradient meta-training steps (A=196, B=10, batch 4, T=100)")
    p.add_argument("--conv", action="store_true",
                   help="also time an ES-shaped batch of the conv VSML (config/conv.yaml)")
    p.add_argument("--conv-side", type=int, default=14,
                   help="image side for --conv (default 14: 7x7 conv outputs)")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    p.set_defaults(func=run)
