"""Shadow networks: the "mean network" trained by the rule itself, a source of realistic
(x, e, w, b) inputs for cloning and the regular-SGD baseline of the cloning figures."""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from vsml import model as vm
from vsml.episode import squash

if TYPE_CHECKING:

    pass

from vsml.cloning.network import LearningCurve, init_network_state, sample_batch
from vsml.cloning.rule import STATE_SCALE, CloneConfig, read_wb, rule

# ------------------------------------------------------------------- shadow networks


def shadow_init(cc: CloneConfig, sizes: tuple[int, ...], key: jax.Array) -> list:
    """Weights of the shadow network drawn like VSML's initial cell state (w = 4 c[0])."""
    params = []
    for k, (a, b) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        c = vm._truncated_normal(k, (a, b, 2), 1.0 / math.sqrt(a))
        params.append((STATE_SCALE * c[..., 0], STATE_SCALE * c[..., 1]))
    return params


def shadow_forward(cc: CloneConfig, params: list, x: jax.Array):
    """Mean network: y_b = gain * mean_a(tanh(x_a) w_ab + b_ab); returns logits, inputs."""
    inputs = []
    for w, b in params:
        inputs.append(x)
        x = cc.gain * (jnp.tanh(x) @ w / w.shape[0] + b.mean(axis=0))
    return x, inputs


def shadow_example(cc: CloneConfig, params: list, x: jax.Array, y: jax.Array):
    """One example: logits, loss, per-layer (input, error) and the rule's new weights."""
    logits, inputs = shadow_forward(cc, params, x)
    logits = squash(logits)
    loss = -jax.nn.log_softmax(logits)[y]
    e = jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])
    new, errors = [None] * len(params), [None] * len(params)
    for k in range(len(params) - 1, -1, -1):
        w, b = params[k]
        tgt = rule(cc, w, b, inputs[k][:, None], e[None, :])
        new[k], errors[k] = (tgt.w, tgt.b), e
        e = tgt.e_prev.mean(axis=1)  # VSML averages backward messages over columns
    return logits, loss, inputs, errors, new


def shadow_update(cc: CloneConfig, params: list, xb: jax.Array, yb: jax.Array):
    """The cloned rule on a batch: per-example new weights, averaged (= state merging).

    Without the clip this is SGD on the mean network with layer k's learning rate
    alpha * A_k / gain * prod_{j>k} (A_j / B_j) (the averaging of messages rescales
    gradients; tested in tests/test_cloning.py).
    """
    logits, loss, inputs, errors, new = jax.vmap(
        lambda x, y: shadow_example(cc, params, x, y))(xb, yb)
    params = [(w.mean(axis=0), b.mean(axis=0)) for w, b in new]
    return params, logits, loss, inputs, errors


@partial(jax.jit, static_argnames=("cc", "steps", "per_step"))
def shadow_tuples(cc: CloneConfig, params: list, xs: jax.Array, ys: jax.Array,
                  key: jax.Array, steps: int, per_step: int) -> jax.Array:
    """Run the shadow network on batches xs [steps, B, D]; record (x, e, w, b, layer) rows.

    Each step records ``per_step`` random synapses of a random example per layer.
    """
    def body(params, inp):
        xb, yb, k = inp
        new, _, _, inputs, errors = shadow_update(cc, params, xb, yb)
        rows = []
        for layer, ((w, b), xin, err) in enumerate(zip(params, inputs, errors)):
            kk = jax.random.fold_in(k, layer)
            ki, ka, kb = jax.random.split(kk, 3)
            i = jax.random.randint(ki, (per_step,), 0, xb.shape[0])
            a = jax.random.randint(ka, (per_step,), 0, w.shape[0])
            bcol = jax.random.randint(kb, (per_step,), 0, w.shape[1])
            rows.append(jnp.stack([xin[i, a], err[i, bcol], w[a, bcol], b[a, bcol],
                                   jnp.full((per_step,), float(layer))], axis=-1))
        return new, jnp.concatenate(rows)

    keys = jax.random.split(key, steps)
    _, rows = jax.lax.scan(body, params, (xs, ys, keys))
    return rows.reshape(-1, 5)


@partial(jax.jit, static_argnames=("cc", "sizes", "steps", "batch"))
def run_shadow_sgd(cc: CloneConfig, sizes: tuple[int, ...], x_all, y_all, key, steps: int,
                   batch: int):
    """Regular SGD (the rule the clone imitates, computed exactly) on the same stream."""
    k_init, k_data = jax.random.split(key)
    state0 = init_network_state(cc, sizes, k_init)
    params = [read_wb(ls.c) for ls in state0.layers]  # same initial weights as the clone

    def body(params, k):
        xb, yb = sample_batch(x_all, y_all, k, batch)
        params, logits, loss, _, _ = shadow_update(cc, params, xb, yb)
        return params, LearningCurve(loss.mean(), (logits.argmax(-1) == yb).mean())

    params, curve = jax.lax.scan(body, params, jax.random.split(k_data, steps))
    return curve, params


def shadow_accuracy(cc: CloneConfig, params, x, y) -> float:
    logits = jax.vmap(lambda xi: shadow_forward(cc, params, xi)[0])(x)
    return float(jnp.mean(logits.argmax(-1) == y))


def dataset_arrays(image_size: int | None, split: str = "train", dataset: str = "mnist"):
    from vsml.data import TaskSpec, prepare

    data = prepare(TaskSpec(dataset, split, image_size))
    return data.x, data.y


def shadow_table(cc: CloneConfig, sizes: tuple[int, ...], x_all, y_all, key, steps: int,
                 batch: int = 64, per_step: int = 64) -> jax.Array:
    """(x, e, w, b, layer) rows from a shadow network trained by the rule on (x_all, y_all)."""
    kp, kd, kr = jax.random.split(key, 3)
    params = shadow_init(cc, sizes, kp)
    idx = jax.random.randint(kd, (steps, batch), 0, x_all.shape[0])
    return shadow_tuples(cc, params, x_all[idx], y_all[idx], kr, steps, per_step)
