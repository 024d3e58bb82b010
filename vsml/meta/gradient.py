"""Gradient meta-training: backpropagation through whole episodes.

Meta-loss = mean over a batch of episodes of each episode's meta-loss (mean cross-entropy
over all T predictions, or the last one).  Gradients are clipped to a global norm
(``clip_norm``, 25 in the paper's runs) and applied with Adam.  The batch uses the same
sharded, chunked population machinery as ES (``vsml.meta.es.population_sums``): members are
episodes, each drawn with ``fold_in(key, index)``.

``remat`` recomputes each example's step in the backward pass instead of storing all its
intermediates (memory ~ one state per example instead of all of a step's activations).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh

from vsml.errors import UserError
from vsml.learner import Learner
from vsml.meta.es import (
    LOSS_KINDS,
    TaskGroup,
    Trainer,
    _bench,
    _finish,
    _init_fn,
    episode_loss,
    layouts_for,
    make_mesh,
    optimizer_step,
    population_sums,
)


@dataclasses.dataclass(frozen=True)
class _Remat:
    """A learner whose ``step`` is rematerialised (jax.checkpoint) under differentiation."""

    inner: Any

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.inner.input_shape

    @property
    def num_outputs(self) -> int:
        return self.inner.num_outputs

    def init_meta_params(self, key):
        return self.inner.init_meta_params(key)

    def init_state(self, meta_params, key):
        return self.inner.init_state(meta_params, key)

    def step(self, meta_params, state, x, feedback):
        return jax.checkpoint(self.inner.step)(meta_params, state, x, feedback)


def remat(learner: Learner) -> Learner:
    """``learner`` with its per-example step recomputed in the backward pass."""
    return _Remat(learner)


def make_gradient(
    groups: Sequence[TaskGroup],
    *,
    learning_rate: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    clip_norm: float = 25.0,
    remat_steps: bool = True,
    loss: str = "mean",
    chunk: int = 16,
    length: int | None = None,
    mesh: Mesh | None = None,
) -> Trainer:
    """Backprop meta-training over ``groups`` (``group.count`` = episodes of that group)."""
    if loss not in LOSS_KINDS:
        raise UserError(f"unknown meta loss {loss!r}; valid choices: {', '.join(LOSS_KINDS)}")
    mesh = make_mesh() if mesh is None else mesh
    groups = tuple(groups)
    layouts = layouts_for([g.count for g in groups], mesh.devices.size, chunk)
    batch = sum(g.count for g in groups)
    chain = [optax.clip_by_global_norm(clip_norm)] if clip_norm > 0 else []
    optimizer = optax.chain(*chain, optax.adam(learning_rate, b1=b1, b2=b2))

    def member_fn(group: TaskGroup, unravel):
        learner = remat(group.learner) if remat_steps else group.learner

        def one(i, args):
            flat, data, k_episode, k_init = args
            episode = group.sample(jax.random.fold_in(k_episode, i), data)
            init_key = jax.random.fold_in(k_init, i)
            value, grad = jax.value_and_grad(
                lambda th: episode_loss(learner, unravel(th), episode, init_key, loss)
            )(flat)
            return grad, value

        return one

    def estimate(meta_params, key: jax.Array, datas):
        flat, unravel = ravel_pytree(meta_params)
        k_episode, k_init = jax.random.split(key, 2)
        fns = [member_fn(g, unravel) for g in groups]
        shared = [(flat, d, k_episode, k_init) for d in datas]
        sums = population_sums(fns, layouts, shared, mesh)
        grad_flat = sum(s[0] for s in sums) / batch
        metrics = {
            "meta_loss": sum(s[1] for s in sums) / batch,
            "grad_norm": jnp.linalg.norm(grad_flat),
        }
        for g, s in zip(groups, sums, strict=True):
            metrics[f"loss/{g.name}"] = s[1] / g.count
        return unravel(grad_flat), metrics

    return _finish(
        "gradient_step", optimizer_step(estimate, optimizer, mesh), jax.jit(estimate),
        groups, layouts, mesh,
        _init_fn(groups, optimizer, mesh), batch, length or 0,
    )


def bench_gradient(
    implementation: str = "fast",
    inputs: int = 196,
    outputs: int = 10,
    batch: int = 4,
    length: int = 100,
    chunk: int = 4,
    repeats: int = 3,
    model: dict[str, Any] | None = None,
    remat_steps: bool = True,
) -> dict[str, Any]:
    """Time one whole gradient meta-training step of VSML (forward, backward, clip, Adam)."""
    from vsml.methods import make_learner

    learner = make_learner("vsml", (inputs,), outputs, {**(model or {}),
                                                         "implementation": implementation})
    return _bench(
        lambda groups: make_gradient(groups, chunk=chunk, length=length,
                                     remat_steps=remat_steps),
        learner, inputs, outputs, batch, length, repeats,
        {"implementation": implementation, "batch": batch, "episodes": batch,
         "remat": remat_steps},
    )
