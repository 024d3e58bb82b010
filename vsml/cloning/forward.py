"""Forward cloning (Fig. 10): the clone computes y = tanh(x) w from a state that holds w."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax

from vsml.learner import PyTree

if TYPE_CHECKING:

    pass

from vsml.cloning.rule import (
    STATE_SCALE,
    W_DIM,
    CloneConfig,
    TrainSettings,
    clone_optimizer,
    init_params,
    synapse_tick,
)

# ------------------------------------------------------------ forward cloning (Fig. 10)


def forward_state(cc: CloneConfig, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """State holding only w (Fig. 10): h = 0, c = [w / 4, 0, ...]."""
    c = jnp.zeros(w.shape + (cc.state_size,))
    return jnp.zeros_like(c), c.at[..., W_DIM].set(w / STATE_SCALE)


def forward_predict(params: PyTree, cc: CloneConfig, x: jax.Array, w: jax.Array) -> jax.Array:
    """The clone's y for inputs x and weights w (any equal shapes)."""
    h, c = forward_state(cc, w)
    tick = jax.vmap(lambda h, c, x: synapse_tick(params, cc, h, c, x, 0.0)[0])
    shape = x.shape
    return tick(h.reshape(-1, cc.state_size), c.reshape(-1, cc.state_size),
                x.reshape(-1)).reshape(shape)


def forward_target(x: jax.Array, w: jax.Array) -> jax.Array:
    return jnp.tanh(x) * w


def train_forward(cc: CloneConfig, ts: TrainSettings, x_range: float = 3.0,
                  log=None) -> tuple[PyTree, list[dict]]:
    """Clone y = tanh(x) w (w in [-w_max, w_max], x in [-x_range, x_range]) by regression."""
    key = jax.random.PRNGKey(ts.seed)
    params = init_params(cc, jax.random.fold_in(key, 0))
    opt = clone_optimizer(ts)
    opt_state = opt.init(params)

    def loss_fn(p, x, w):
        return jnp.mean((forward_predict(p, cc, x, w) - forward_target(x, w)) ** 2)

    @jax.jit
    def step(p, s, k):
        kx, kw = jax.random.split(k)
        x = jax.random.uniform(kx, (ts.batch,), minval=-x_range, maxval=x_range)
        w = jax.random.uniform(kw, (ts.batch,), minval=-cc.w_max, maxval=cc.w_max)
        loss, g = jax.value_and_grad(loss_fn)(p, x, w)
        upd, s = opt.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    history = []
    for i in range(ts.steps):
        params, opt_state, loss = step(params, opt_state, jax.random.fold_in(key, i + 1))
        if i % max(ts.steps // 20, 1) == 0 or i == ts.steps - 1:
            history.append({"step": i + 1, "loss": float(loss)})
            if log:
                log(f"clone-forward step {i + 1}/{ts.steps} mse {float(loss):.5f}")
    return params, history
