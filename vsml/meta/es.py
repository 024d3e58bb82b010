"""OpenAI-ES meta-training: one jitted, sharded step over a population of antithetic pairs.

The estimator is exactly the authors' (see shared/REFERENCE.md, "Meta training"):

    g = mean over pairs i of (L(theta + s*eps_i) - L(theta - s*eps_i)) / (2 s^2) * (s * eps_i)

with a fixed noise std ``s``, no fitness shaping, and ``g`` applied with Adam (optax).  Both
members of a pair see the same episode and the same initial-state key, so their loss
difference measures the perturbation, not the luck of the episode.

Layout of the population (everything static, decided at trace time):

* the population is split into *task groups* (datasets, augmentations, random projection);
  each group has its own learner (input/output sizes may differ; VSML's meta-parameters
  do not depend on them) and its own episode sampler;
* every member (a pair for ES, an episode for gradient meta-training) has a global index;
  its noise, episode and initial state are drawn with ``fold_in(key, index)``, so results
  do not depend on how members are chunked or distributed over devices;
* a group's members are padded to ``devices * chunks * chunk`` (padding is masked out),
  sharded over the mesh axis ``"pop"`` with ``jax.shard_map``, and each device walks its
  share chunk by chunk (``lax.scan`` over ``vmap``-ed chunks) so memory stays bounded by
  one chunk; per-device sums are combined with ``psum``.

Multi-host: call ``jax.distributed.initialize()`` (``vsml meta-train --distributed``) in
every process before anything else touches JAX; ``jax.devices()`` then lists the devices of
all hosts, ``make_mesh()`` spans them and the same program runs in every process (only
process 0 writes files).  See docs/cluster.md.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vsml.episode import Episode, run_episode
from vsml.errors import UserError
from vsml.learner import Learner, PyTree

AXIS = "pop"
LOSS_KINDS = ("mean", "last")


# --------------------------------------------------------------------------- task groups


@dataclasses.dataclass(frozen=True, eq=False)
class TaskGroup:
    """A slice of the population that shares a learner and an episode distribution.

    sample(key, data) -> Episode must be jittable; ``data`` (a pytree of arrays, e.g. the
    dataset) is passed to the jitted step as an argument instead of being baked into the
    compiled program as a constant.
    """

    name: str
    learner: Learner
    sample: Callable[[jax.Array, PyTree], Episode]
    data: PyTree
    count: int  # pairs (ES) or episodes (gradient) of this group


def split_counts(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` members over groups in proportion to ``weights`` (largest remainder)."""
    weights = np.asarray(weights, np.float64)
    if total < 1 or len(weights) == 0 or np.any(weights < 0) or weights.sum() <= 0:
        raise UserError(f"cannot split a population of {total} over weights {list(weights)}")
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    # ties broken by group order, so the split is deterministic
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def episode_loss(
    learner: Learner, meta_params: PyTree, episode: Episode, key: jax.Array, kind: str = "mean"
) -> jax.Array:
    """Meta-loss of one episode: mean cross-entropy over all T predictions, or the last one."""
    loss = run_episode(learner, meta_params, episode, key).loss
    return jnp.mean(loss) if kind == "mean" else loss[-1]


def check_shared_meta_params(groups: Sequence[TaskGroup], key: jax.Array) -> None:
    """All groups must use meta-parameters of one shape (they are one vector)."""
    shapes = [jax.eval_shape(g.learner.init_meta_params, key) for g in groups]
    for group, shape in zip(groups[1:], shapes[1:], strict=True):
        if jax.tree_util.tree_structure(shape) != jax.tree_util.tree_structure(shapes[0]) or any(
            a.shape != b.shape
            for a, b in zip(jax.tree_util.tree_leaves(shape), jax.tree_util.tree_leaves(shapes[0]))
        ):
            raise UserError(
                f"task {group.name!r} needs meta-parameters of another shape than "
                f"{groups[0].name!r}: this method's meta-parameters depend on the input/output "
                "sizes, so pad all tasks to one size (pad_inputs_to / pad_classes_to)"
            )


# --------------------------------------------------------------------------- population layout


def make_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A 1-D mesh named ``"pop"`` over ``devices`` (default: all devices of all processes)."""
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.array(devices), (AXIS,))


@dataclasses.dataclass(frozen=True)
class Layout:
    """How ``count`` members (starting at global index ``offset``) are laid out."""

    offset: int
    count: int
    devices: int
    chunks: int  # chunks per device
    chunk: int  # members per chunk (one vmap)

    @property
    def padded(self) -> int:
        return self.devices * self.chunks * self.chunk


def make_layout(offset: int, count: int, devices: int, chunk: int) -> Layout:
    """Spread ``count`` members over ``devices`` in chunks of at most ``chunk``, padding least."""
    per_device = math.ceil(count / devices)
    chunks = math.ceil(per_device / chunk)
    return Layout(offset, count, devices, chunks, math.ceil(per_device / chunks))


def layouts_for(counts: Sequence[int], devices: int, chunk: int) -> list[Layout]:
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
    return [
        make_layout(int(o), int(c), devices, chunk) for o, c in zip(offsets, counts, strict=True)
    ]


def _member_ids(layout: Layout) -> tuple[jax.Array, jax.Array]:
    local = jnp.arange(layout.padded, dtype=jnp.int32)
    mask = local < layout.count
    # padding re-uses a real member (finite numbers); it is masked out of every sum
    ids = layout.offset + jnp.where(mask, local, 0)
    return ids, mask


def population_sums(
    member_fns: Sequence[Callable[[jax.Array, Any], PyTree]],
    layouts: Sequence[Layout],
    shared: Sequence[Any],
    mesh: Mesh,
) -> list[PyTree]:
    """Per group g: sum over its members i of ``member_fns[g](i, shared[g])`` (a pytree).

    Must be called inside ``jit``.  Members are sharded over the mesh, each device scans
    over its chunks of ``vmap``-ed members; the per-device sums are ``psum``-ed.
    """
    ids_masks = [_member_ids(layout) for layout in layouts]

    def local(ids_masks, shared):
        sums = []
        for fn, layout, (ids, mask), args in zip(member_fns, layouts, ids_masks, shared,
                                                strict=True):
            ids = ids.reshape(layout.chunks, layout.chunk)
            mask = mask.reshape(layout.chunks, layout.chunk)

            def body(acc, xs, fn=fn, args=args):
                chunk_ids, chunk_mask = xs
                out = jax.vmap(lambda i: fn(i, args))(chunk_ids)
                out = jax.tree_util.tree_map(
                    lambda o: jnp.sum(
                        jnp.where(chunk_mask.reshape((-1,) + (1,) * (o.ndim - 1)), o, 0), axis=0
                    ),
                    out,
                )
                return jax.tree_util.tree_map(jnp.add, acc, out), None

            shape = jax.eval_shape(lambda i, fn=fn, args=args: fn(i, args), ids[0, 0])
            zero = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
            total, _ = jax.lax.scan(body, zero, (ids, mask))
            sums.append(jax.lax.psum(total, AXIS))
        return sums

    spec = PartitionSpec(AXIS)
    return jax.shard_map(
        local,
        mesh=mesh,
        in_specs=([(spec, spec) for _ in layouts], PartitionSpec()),
        out_specs=PartitionSpec(),
        # learners build their episode carries from replicated values; the "varying"
        # type checks of shard_map would force every learner to know about the mesh
        check_vma=False,
    )(ids_masks, list(shared))


def population_map(
    member_fn: Callable[[jax.Array, Any], PyTree], count: int, chunk: int, shared: Any,
    mesh: Mesh,
) -> PyTree:
    """``member_fn(i, shared)`` for members i = 0..count-1, stacked on a leading axis.

    Must be called inside ``jit``.  Like ``population_sums``: members sharded over the mesh,
    each device maps over its chunks of ``vmap``-ed members (memory bounded by one chunk).
    """
    layout = make_layout(0, count, mesh.devices.size, chunk)
    ids, _ = _member_ids(layout)  # padding (at the end) re-uses member 0; cut off below

    def local(ids, shared):
        out = jax.lax.map(jax.vmap(lambda i: member_fn(i, shared)),
                          ids.reshape(layout.chunks, layout.chunk))
        return jax.tree_util.tree_map(lambda o: o.reshape((-1,) + o.shape[2:]), out)

    out = jax.shard_map(local, mesh=mesh, in_specs=(PartitionSpec(AXIS), PartitionSpec()),
                        out_specs=PartitionSpec(AXIS), check_vma=False)(ids, shared)
    return jax.tree_util.tree_map(lambda o: o[:count], out)


# --------------------------------------------------------------------------- ES


class TrainState(NamedTuple):
    """step: completed updates (int32); meta_params and Adam's state."""

    step: jax.Array
    meta_params: PyTree
    opt_state: PyTree


@dataclasses.dataclass(frozen=True, eq=False)
class Trainer:
    """A meta-training algorithm bound to its task groups.

    init(key) -> TrainState;  step(state, key) -> (state, metrics) is one jitted pure
    function (the task data are bound as jit arguments); estimate(meta_params, key) ->
    (gradient estimate, metrics) is the step without the optimizer (for tests and tools).
    ``episodes_per_step`` and ``examples_per_step`` count what one step runs (padding
    excluded).
    """

    init: Callable[[jax.Array], TrainState]
    step: Callable[[TrainState, jax.Array], tuple[TrainState, dict[str, jax.Array]]]
    estimate: Callable[[PyTree, jax.Array], tuple[PyTree, dict[str, jax.Array]]]
    groups: tuple[TaskGroup, ...]
    layouts: tuple[Layout, ...]
    mesh: Mesh
    episodes_per_step: int
    examples_per_step: int


def _replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree_util.tree_map(lambda x: jax.device_put(x, sharding), tree)


def strong(tree: PyTree) -> PyTree:
    """Drop weak types (e.g. of ``jnp.full((), 0.5)``): a step's outputs are never weakly
    typed, and a weak initial state would compile the step a second time."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype=jnp.asarray(x).dtype), tree)


def _init_fn(groups: Sequence[TaskGroup], optimizer: optax.GradientTransformation, mesh: Mesh):
    @jax.jit
    def fresh(key: jax.Array) -> TrainState:
        params = strong(groups[0].learner.init_meta_params(key))
        return TrainState(jnp.zeros((), jnp.int32), params, strong(optimizer.init(params)))

    def init(key: jax.Array) -> TrainState:
        check_shared_meta_params(groups, key)
        return _replicate(fresh(key), mesh)

    return init


def _jit_replicated(mesh: Mesh):
    """jit with every output replicated over the mesh, so that feeding a step's output back
    in has the same sharding as the initial state (no recompilation on the second step)."""
    return lambda fn: jax.jit(fn, out_shardings=NamedSharding(mesh, PartitionSpec()))


def _finish(name: str, jitted, estimate, groups, layouts, mesh, init, episodes: int,
            length: int) -> Trainer:
    datas = _replicate([g.data for g in groups], mesh)

    def step(state: TrainState, key: jax.Array):
        return jitted(state, key, datas)

    def gradient(meta_params: PyTree, key: jax.Array):
        return estimate(meta_params, key, datas)

    step.__name__ = name
    return Trainer(
        init=init,
        step=step,
        estimate=gradient,
        groups=tuple(groups),
        layouts=tuple(layouts),
        mesh=mesh,
        episodes_per_step=episodes,
        examples_per_step=episodes * length,
    )


def optimizer_step(estimate, optimizer: optax.GradientTransformation, mesh: Mesh):
    """The jitted meta-training step: a gradient ``estimate`` (ES or backprop) applied with
    ``optimizer``; ``estimate(meta_params, key, datas) -> (grad, metrics)``."""

    @_jit_replicated(mesh)
    def step(state: TrainState, key: jax.Array, datas):
        grad, metrics = estimate(state.meta_params, key, datas)
        updates, opt_state = optimizer.update(grad, state.opt_state, state.meta_params)
        params = optax.apply_updates(state.meta_params, updates)
        return TrainState(state.step + 1, params, opt_state), metrics

    return step


def make_es(
    groups: Sequence[TaskGroup],
    *,
    noise_std: float = 0.05,
    learning_rate: float = 0.025,
    b1: float = 0.9,
    b2: float = 0.999,
    loss: str = "mean",
    chunk: int = 16,
    length: int | None = None,
    mesh: Mesh | None = None,
) -> Trainer:
    """OpenAI-ES with antithetic pairs over ``groups`` (``group.count`` = pairs of that group).

    ``length`` is only used for throughput bookkeeping (examples per step).
    """
    if loss not in LOSS_KINDS:
        raise UserError(f"unknown meta loss {loss!r}; valid choices: {', '.join(LOSS_KINDS)}")
    mesh = make_mesh() if mesh is None else mesh
    groups = tuple(groups)
    layouts = layouts_for([g.count for g in groups], mesh.devices.size, chunk)
    num_pairs = sum(g.count for g in groups)
    optimizer = optax.adam(learning_rate, b1=b1, b2=b2)
    sigma = jnp.float32(noise_std)

    def member_fn(group: TaskGroup, unravel):
        def pair(i, args):
            flat, data, k_noise, k_episode, k_init = args
            eps = jax.random.normal(jax.random.fold_in(k_noise, i), flat.shape, flat.dtype)
            episode = group.sample(jax.random.fold_in(k_episode, i), data)
            init_key = jax.random.fold_in(k_init, i)
            thetas = jnp.stack([flat + sigma * eps, flat - sigma * eps])
            losses = jax.vmap(
                lambda th: episode_loss(group.learner, unravel(th), episode, init_key, loss)
            )(thetas)
            # (L+ - L-) / (2 s^2) * (s * eps), summed here, averaged over pairs later
            weighted = (losses[0] - losses[1]) / (2 * sigma**2) * (sigma * eps)
            return weighted, losses[0] + losses[1]

        return pair

    def estimate(meta_params: PyTree, key: jax.Array, datas):
        flat, unravel = ravel_pytree(meta_params)
        k_noise, k_episode, k_init = jax.random.split(key, 3)
        fns = [member_fn(g, unravel) for g in groups]
        shared = [(flat, d, k_noise, k_episode, k_init) for d in datas]
        sums = population_sums(fns, layouts, shared, mesh)
        grad_flat = sum(s[0] for s in sums) / num_pairs
        metrics = {
            "meta_loss": sum(s[1] for s in sums) / (2 * num_pairs),
            "grad_norm": jnp.linalg.norm(grad_flat),
        }
        for g, s in zip(groups, sums, strict=True):
            metrics[f"loss/{g.name}"] = s[1] / (2 * g.count)
        return unravel(grad_flat), metrics

    return _finish(
        "es_step", optimizer_step(estimate, optimizer, mesh), jax.jit(estimate),
        groups, layouts, mesh,
        _init_fn(groups, optimizer, mesh), 2 * num_pairs, length or 0,
    )


# --------------------------------------------------------------------------- benchmark


def bench_es(
    implementation: str = "fast",
    inputs: int = 784,
    outputs: int = 10,
    pairs: int = 16,
    length: int = 100,
    chunk: int = 16,
    repeats: int = 3,
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Time the whole ES step (episodes + noise + Adam) of VSML on synthetic data.

    Returns median seconds per step and episode-examples/s (2 * pairs * length per step);
    compile time is reported separately.
    """
    from vsml.methods import make_learner

    learner = make_learner("vsml", (inputs,), outputs, {**(model or {}),
                                                         "implementation": implementation})
    return _bench(
        lambda groups: make_es(groups, chunk=chunk, length=length),
        learner, inputs, outputs, pairs, length, repeats,
        {"implementation": implementation, "pairs": pairs, "episodes": 2 * pairs},
    )


def synthetic_group(
    learner: Learner, inputs: int, outputs: int, length: int, count: int, name: str = "synthetic"
) -> TaskGroup:
    """A task group of random inputs and labels (benchmarks and tests)."""
    data = {
        "x": jax.random.normal(jax.random.PRNGKey(1), (256, inputs)),
        "y": jax.random.randint(jax.random.PRNGKey(2), (256,), 0, outputs),
    }

    def sample(key, data):
        idx = jax.random.randint(key, (length,), 0, data["x"].shape[0])
        return Episode(data["x"][idx].reshape((length,) + learner.input_shape), data["y"][idx])

    return TaskGroup(name, learner, sample, data, count)


def _bench(make, learner, inputs, outputs, count, length, repeats, info) -> dict[str, Any]:
    trainer = make([synthetic_group(learner, inputs, outputs, length, count)])
    state = trainer.init(jax.random.PRNGKey(0))
    start = time.perf_counter()
    state, metrics = trainer.step(state, jax.random.PRNGKey(1))
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        state, metrics = trainer.step(state, jax.random.PRNGKey(2 + r))
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - start)
    step_s = float(np.median(times))
    return {
        **info,
        "inputs": inputs,
        "outputs": outputs,
        "length": length,
        "devices": int(trainer.mesh.devices.size),
        "first_step_s": compile_s,
        "step_s": step_s,
        "examples_per_s": trainer.examples_per_step / step_s,
        "episodes_per_s": trainer.episodes_per_step / step_s,
    }
