"""Learning-algorithm cloning: backprop implemented in the forward dynamics of VSML.

Paper Sec. 3.2 / 4.1, Appendix B.1 and C.1 (Figs. 5, 10, 11).  The authors' published code
does not contain this part; the design choices below are ours and are listed in
docs/cloning.md.  In short:

* **Designated entries.**  Each synapse (a, b) is one VSML sub-LSTM (``model.sub_lstm``,
  N = 64, messages of 8).  Input x is entry 0 of the forward message into row a, error e is
  entry 0 of the backward message into column b; the prediction y^ is entry 0 of the
  outgoing forward message, the outgoing error e^' entry 0 of the outgoing backward message.
  All other message entries are zero (App. C.1).
* **Weights in the state.**  w := 4 * c[0], b := 4 * c[1] (LSTM cell state, scaled down by
  ``STATE_SCALE`` = 4, App. C.1).
* **The cloned algorithm** (one tick = ``micro_ticks`` LSTM steps with the same inputs)::

      y^   = gain * (tanh(x) * w + b)                       (forward message)
      e^'  = gain * e * w * (1 - tanh(x)^2)                 (backward message)
      w'   = clip(w - alpha * e * tanh(x), -w_max, w_max)   (state)
      b'   = clip(b - alpha * e,           -w_max, w_max)

  Since VSML *averages* the
  messages over a layer's rows / columns, the network this implements is the "mean
  network" y_b = gain * mean_a(tanh(x_a) w_ab + b_ab); the rule above is exactly its
  backprop up to a per-layer constant learning rate (see ``shadow_update``).  ``gain``
  compensates for averaging over 784 inputs with weights bounded by |w| <= 4.
* **State handling** (App. C.1, ``CloneConfig.retain_wb_only``): the state is frozen during
  the forward sweep and only (w, b) survive a backward tick (h and the other c dimensions
  are zeroed), so every tick starts from a state like those the clone was trained on.
* **Cloning** regresses y^, w' - w, b' - b and e^' on their targets with optax Adam, on
  states drawn from a buffer of states the clone itself produced (App. C.1), inputs (x, e)
  from random draws and from "shadow" networks trained by this rule on MNIST, and (deep
  curriculum, App. B.1) from rollouts of the VSML network itself.
* **Meta-test** (``run_learning``): per step, a forward sweep 1..K (errors zero), the
  prediction, then a backward sweep K..1 with the stored inputs fed back, over a batch whose
  first state halves are averaged (``model.merge_batch_states``), states clipped to [-4, 4].
  Carrying the whole state (``retain_wb_only=False``), one layer of ``ClonedBackprop.step``
  equals ``model.VSML.step`` with ``reverse_sweep=True`` (tested).  No gradients are
  computed at meta-test time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vsml import model as vm
from vsml.episode import squash
from vsml.errors import UserError, check_choice
from vsml.io import write_bytes_atomic, write_text_atomic
from vsml.learner import Feedback, PyTree

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

X_IDX = 0  # entry of the incoming forward message holding x
E_IDX = 0  # entry of the incoming backward message holding e
Y_IDX = 0  # entry of the outgoing forward message holding y^
EP_IDX = 0  # entry of the outgoing backward message holding e^'
W_DIM, B_DIM = 0, 1  # cell-state dimensions holding w / 4 and b / 4
STATE_SCALE = 4.0
STATE_PENALTY = 0.1  # weight of the penalty on the non-(w, b) state dimensions
RELATIVE_FLOOR = 0.03  # |e| below which errors count as absolute (clone loss)
ROLLOUT_ROWS = 65536  # rollout (x, e) rows kept per curriculum stage (the latest ones)
SCALES = ("smoke", "mini", "paper")


# ------------------------------------------------------------------------------ config


@dataclasses.dataclass(frozen=True)
class CloneConfig:
    """The cloned algorithm and the VSML RNN that implements it."""

    state_size: int = 64
    msg_size: int = 8
    micro_ticks: int = 2
    gain: float = 4.0  # y^ = gain * (tanh(x) w + b)
    alpha: float = 0.3  # learning rate of the cloned rule (per synapse)
    w_max: float = 4.0  # |w|, |b| <= w_max (c[0], c[1] within +-1)
    state_clip: float = 4.0  # meta-test clip of h and c (App. C.1)
    # App. C.1: the state is frozen during the forward sweep, and after the backward tick
    # only the (w, b) dimensions are kept (h and the other c dimensions are zeroed), so the
    # clone always starts from the states it was cloned on.  False: the whole state is
    # carried (our first reading; needs the buffer, rollouts and the state penalty).
    retain_wb_only: bool = True

    def __post_init__(self) -> None:
        if self.state_size < 4 or self.msg_size < 2 or self.micro_ticks < 1:
            raise UserError("CloneConfig needs state_size >= 4, msg_size >= 2, micro_ticks >= 1")
        if not (self.gain > 0 and self.alpha > 0 and self.w_max > 0):
            raise UserError("CloneConfig gain, alpha and w_max must be > 0")

    def vsml_config(self) -> vm.Config:
        """The ``model.Config`` whose dynamics run the clone (one layer: identical step)."""
        return vm.Config(
            state_size=self.state_size, msg_size=self.msg_size, micro_ticks=self.micro_ticks,
            reverse_sweep=True, output_index=Y_IDX, state_clip=self.state_clip,
        )


def init_params(cc: CloneConfig, key: jax.Array) -> PyTree:
    """Fresh VSML meta-parameters (the LSTM and the two message maps)."""
    return vm.VSML(cc.vsml_config(), (1,), 1).init_meta_params(key)


# ----------------------------------------------------------------- one synapse, targets


def synapse_tick(
    params: PyTree, cc: CloneConfig, h: jax.Array, c: jax.Array, x: jax.Array, e: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``micro_ticks`` sub-LSTM steps of one synapse: (y^, e^', h', c'); h, c: [N]."""
    fwd = jnp.zeros(cc.msg_size).at[X_IDX].set(x)
    bwd = jnp.zeros(cc.msg_size).at[E_IDX].set(e)
    for _ in range(cc.micro_ticks):
        fwd_out, bwd_out, h, c = vm.sub_lstm(params, fwd, bwd, h, c)
    return fwd_out[Y_IDX], bwd_out[EP_IDX], h, c


def forward_backward(params: PyTree, cc: CloneConfig, h, c, x, e):
    """One forward tick (e = 0) then one backward tick (same x, error e), batched over
    synapses as at meta-test: (y^, e^', forward-tick state, backward-tick state).

    With ``cc.retain_wb_only`` (App. C.1) the forward tick leaves the state as it was and
    only (w, b) survive the backward tick."""
    tick = jax.vmap(lambda h, c, x, e: synapse_tick(params, cc, h, c, x, e))
    y, _, h1, c1 = tick(h, c, x, jnp.zeros_like(e))
    if cc.retain_wb_only:
        h1, c1 = h, c
    _, e_prev, h2, c2 = tick(h1, c1, x, e)
    return y, e_prev, (h1, c1), retain_wb(cc, h2, c2)


class Targets(NamedTuple):
    y: jax.Array
    e_prev: jax.Array
    w: jax.Array
    b: jax.Array


def rule(cc: CloneConfig, w, b, x, e) -> Targets:
    """The algorithm being cloned (module docstring), elementwise."""
    t = jnp.tanh(x)
    return Targets(
        y=cc.gain * (t * w + b),
        e_prev=cc.gain * e * w * (1.0 - t * t),
        w=jnp.clip(w - cc.alpha * e * t, -cc.w_max, cc.w_max),
        b=jnp.clip(b - cc.alpha * e, -cc.w_max, cc.w_max),
    )


def read_wb(c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(w, b) stored in cell states c [..., N]."""
    return STATE_SCALE * c[..., W_DIM], STATE_SCALE * c[..., B_DIM]


def write_wb(c: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    return c.at[..., W_DIM].set(w / STATE_SCALE).at[..., B_DIM].set(b / STATE_SCALE)


def retain_wb(cc: CloneConfig, h: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """App. C.1's state after a backward tick: only (w, b) kept (``cc.retain_wb_only``)."""
    if not cc.retain_wb_only:
        return h, c
    keep = jnp.zeros(c.shape[-1]).at[W_DIM].set(1.0).at[B_DIM].set(1.0)
    return jnp.zeros_like(h), c * keep


def _retain_layer(cc: CloneConfig, layer: vm.LayerState) -> vm.LayerState:
    h, c = retain_wb(cc, layer.h, layer.c)
    return layer._replace(h=h, c=c)


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


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch: int
    lr: float = 1e-2
    seed: int = 0
    loss_weights: tuple[float, ...] = (1.0, 1.0, 3.0, 1.0, 1.0, 1.0)  # see LOSS_TERMS


def _adam(ts: TrainSettings) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(ts.lr, max(ts.steps, 1), alpha=0.05)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))


def train_forward(cc: CloneConfig, ts: TrainSettings, x_range: float = 3.0,
                  log=None) -> tuple[PyTree, list[dict]]:
    """Clone y = tanh(x) w (w in [-w_max, w_max], x in [-x_range, x_range]) by regression."""
    key = jax.random.PRNGKey(ts.seed)
    params = init_params(cc, jax.random.fold_in(key, 0))
    opt = _adam(ts)
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


# ---------------------------------------------------------- backprop cloning (Fig. 5/11)


class Buffer(NamedTuple):
    """VSML synapse states the clone produced, h and c [S, N] (App. C.1)."""

    h: jax.Array
    c: jax.Array


@dataclasses.dataclass(frozen=True)
class Mixture:
    """Where the (x, e, w, b) of a cloning batch come from (fractions; rest: random)."""

    shadow: float = 0.5  # tuples recorded from shadow networks on MNIST
    rollout: float = 0.0  # inputs recorded from the VSML network itself (deep stage 3)
    # (the rollouts' *states* always go into the buffer: the states the network really
    # visits over hundreds of steps, merged over the batch, are what the clone must handle)
    fresh_wb: float = 0.5  # fraction of states whose (w, b) are overwritten with draws
    fresh_state: float = 0.01  # fraction of states replaced by fresh initial states


def fresh_states(cc: CloneConfig, key: jax.Array, n: int) -> Buffer:
    """States like ``VSML.init_state``'s (first half of c random, fan-in 10..784)."""
    kf, kc = jax.random.split(key)
    fan_in = jnp.exp(jax.random.uniform(kf, (n, 1), minval=math.log(10), maxval=math.log(784)))
    half = cc.state_size // 2
    c = vm._truncated_normal(kc, (n, half), 1.0) / jnp.sqrt(fan_in)
    c = jnp.concatenate([c, jnp.zeros((n, cc.state_size - half))], axis=1)
    return Buffer(*retain_wb(cc, jnp.zeros_like(c), c))


def _random_inputs(cc: CloneConfig, key: jax.Array, n: int):
    """Random (x, e, w, b): x at several scales, e spanning magnitudes 1 .. 1e-3."""
    kx, ks, ke, km, kw, kb = jax.random.split(key, 6)
    scale = jnp.array([0.5, 1.0, 2.0, 5.0])[jax.random.randint(ks, (n,), 0, 4)]
    x = jax.random.normal(kx, (n,)) * scale
    mag = 10.0 ** jax.random.uniform(km, (n,), minval=-3.0, maxval=0.0)
    e = jax.random.uniform(ke, (n,), minval=-1.0, maxval=1.0) * mag
    w = jax.random.uniform(kw, (n,), minval=-cc.w_max, maxval=cc.w_max)
    b = jax.random.uniform(kb, (n,), minval=-cc.w_max, maxval=cc.w_max)
    return x, e, w, b


def _pick(table: jax.Array, key: jax.Array, n: int, count=None) -> jax.Array:
    """n random rows of the first ``count`` rows of ``table`` (all rows by default)."""
    return table[jax.random.randint(key, (n,), 0, table.shape[0] if count is None else count)]


LOSS_TERMS = ("y", "hold", "dw", "db", "e_prev", "state")


def clone_loss(params: PyTree, cc: CloneConfig, h, c, x, e,
               weights: tuple[float, ...] = (1.0,) * len(LOSS_TERMS)):
    """One forward tick (e = 0) then one backward tick (same x, error e), as at meta-test.

    Regresses y^ (forward tick), "no change" of (w, b) over the forward tick (frozen
    state), the rule's (w', b') after the backward tick and its e^'.  Errors are measured
    relative to alpha * (|e| + RELATIVE_FLOOR): small updates must be as right as large
    ones.  Returns the loss, the terms and the new states.
    """
    w, b = read_wb(c)
    tgt = rule(cc, w, b, x, e)
    y, e_prev, (_, c1), (h2, c2) = forward_backward(params, cc, h, c, x, e)
    w1, b1 = read_wb(c1)
    w2, b2 = read_wb(c2)
    rel = cc.alpha * (jnp.abs(e) + RELATIVE_FLOOR)
    still = cc.alpha * RELATIVE_FLOOR
    terms = {
        "y": jnp.mean(((y - tgt.y) / cc.gain) ** 2),
        "hold": jnp.mean(((w1 - w) / still) ** 2 + ((b1 - b) / still) ** 2),
        "dw": jnp.mean(((w2 - tgt.w) / rel) ** 2),
        "db": jnp.mean(((b2 - tgt.b) / rel) ** 2),
        "e_prev": jnp.mean(((e_prev - tgt.e_prev) / (cc.gain * rel / cc.alpha)) ** 2),
        # keep the other state dimensions small: integrating, saturating "working memory"
        # freezes the clone after a few hundred ticks at meta-test time (zero when only
        # (w, b) are retained)
        "state": STATE_PENALTY * (jnp.mean(c2[:, 2:] ** 2) + jnp.mean(h2 ** 2)),
    }
    total = sum(wt * terms[name] for wt, name in zip(weights, LOSS_TERMS))
    return total, (terms, h2, c2)


def _mix_array(mix: Mixture) -> jax.Array:
    return jnp.asarray([mix.shadow, mix.rollout, mix.fresh_wb, mix.fresh_state], jnp.float32)


@partial(jax.jit, static_argnames=("cc", "ts"))
def _clone_step(params, opt_state, buffer, shadow, rollout, rollout_count, mix, key, *,
                cc: CloneConfig, ts: TrainSettings):
    """One cloning step; ``mix`` (``_mix_array``) and ``rollout_count`` are traced, so every
    curriculum stage and every refill of the rollout table reuse one compilation."""
    opt = _adam(ts)
    n = ts.batch
    p_shadow, p_rollout, p_fresh_wb, p_fresh_state = mix[0], mix[1], mix[2], mix[3]

    ks = jax.random.split(key, 10)
    idx = jax.random.randint(ks[0], (n,), 0, buffer.h.shape[0])
    h, c = buffer.h[idx], buffer.c[idx]
    fresh = fresh_states(cc, ks[1], n)
    new = jax.random.uniform(ks[2], (n, 1)) < p_fresh_state
    h, c = jnp.where(new, fresh.h, h), jnp.where(new, fresh.c, c)
    x, e, w, b = _random_inputs(cc, ks[3], n)
    src = jax.random.uniform(ks[4], (n,))
    sh = _pick(shadow, ks[5], n)
    use_sh = src < p_shadow
    x, e = jnp.where(use_sh, sh[:, 0], x), jnp.where(use_sh, sh[:, 1], e)
    w, b = jnp.where(use_sh, sh[:, 2], w), jnp.where(use_sh, sh[:, 3], b)
    ro = _pick(rollout, ks[6], n, rollout_count)
    use_ro = (src >= p_shadow) & (src < p_shadow + p_rollout)
    x, e = jnp.where(use_ro, ro[:, 0], x), jnp.where(use_ro, ro[:, 1], e)
    # (w, b): overwrite the state's own with the drawn ones for a fraction of samples
    w0, b0 = read_wb(c)
    # states whose (w, b) left the range (clone errors) get drawn ones: the rule's clip
    # would otherwise ask for a jump back that no single tick of SGD makes
    outside = (jnp.abs(w0) > cc.w_max) | (jnp.abs(b0) > cc.w_max)
    over = ((jax.random.uniform(ks[7], (n,)) < p_fresh_wb) & ~use_ro) | outside
    c = write_wb(c, jnp.where(over, w, w0), jnp.where(over, b, b0))

    (loss, (terms, h2, c2)), g = jax.value_and_grad(clone_loss, has_aux=True)(
        params, cc, h, c, x, e, ts.loss_weights)
    upd, opt_state = opt.update(g, opt_state, params)
    params = optax.apply_updates(params, upd)
    v = cc.state_clip
    h2, c2 = jax.lax.stop_gradient((jnp.clip(h2, -v, v), jnp.clip(c2, -v, v)))
    # the new states go back into the buffer (a random 90% of them, for diversity)
    keep = jax.random.uniform(jax.random.fold_in(key, 99), (n, 1)) < 0.9
    buffer = Buffer(buffer.h.at[idx].set(jnp.where(keep, h2, buffer.h[idx])),
                    buffer.c.at[idx].set(jnp.where(keep, c2, buffer.c[idx])))
    return params, opt_state, buffer, loss, terms


def make_clone_step(cc: CloneConfig, ts: TrainSettings, mix: Mixture):
    """(optimizer, step): step(params, opt_state, buffer, shadow, rollout, key,
    rollout_count=None) -> (params, opt_state, buffer, loss, terms).

    ``rollout_count``: how many leading rows of ``rollout`` are filled (default: all).
    """
    opt = _adam(ts)
    mix_arr = _mix_array(mix)

    def step(params, opt_state, buffer, shadow, rollout, key, rollout_count=None):
        count = rollout.shape[0] if rollout_count is None else max(int(rollout_count), 1)
        return _clone_step(params, opt_state, buffer, shadow, rollout,
                           jnp.asarray(count, jnp.int32), mix_arr, key, cc=cc, ts=ts)

    return opt, step


# --------------------------------------------------------------- the cloned learner


def layer_sizes(input_size: int, hidden: tuple[int, ...], outputs: int) -> tuple[int, ...]:
    return (input_size, *hidden, outputs)


def init_network_state(cc: CloneConfig, sizes: tuple[int, ...], key: jax.Array) -> vm.VSMLState:
    """VSML's initial state (``VSML.init_state``) for the dense layers ``sizes``."""
    learner = vm.VSML(dataclasses.replace(cc.vsml_config(), hidden_sizes=tuple(sizes[1:-1])),
                      (sizes[0],), sizes[-1])
    state = learner.init_state(None, key)
    return state._replace(layers=tuple(_retain_layer(cc, ls) for ls in state.layers))


def _message(values: jax.Array, m: int, idx: int) -> jax.Array:
    return jnp.zeros(values.shape + (m,)).at[..., idx].set(values)


def forward_sweep(params: PyTree, cc: CloneConfig, state: vm.VSMLState, x: jax.Array):
    """Layers 1..K with errors zero; each layer's x-message stays in ``fwd_in``."""
    layers, inp = [], x
    for layer in state.layers:
        layer = layer._replace(fwd_in=_message(inp, cc.msg_size, X_IDX),
                               bwd_in=jnp.zeros_like(layer.bwd_in))
        fwd, _, ticked = vm.dense_tick_fast(params, layer, cc.micro_ticks)
        # App. C.1: the state is frozen during the forward sweep
        layers.append(ticked._replace(h=layer.h, c=layer.c) if cc.retain_wb_only else ticked)
        inp = fwd[:, Y_IDX]  # only the designated entry travels on (App. C.1)
    return state._replace(layers=tuple(layers)), inp


def backward_sweep(params: PyTree, cc: CloneConfig, state: vm.VSMLState, error: jax.Array):
    """Layers K..1 with the stored inputs fed back and the error passed down."""
    layers, err = list(state.layers), error
    for k in range(len(layers) - 1, -1, -1):
        layer = layers[k]._replace(bwd_in=_message(err, cc.msg_size, E_IDX))
        _, bwd, ticked = vm.dense_tick_fast(params, layer, cc.micro_ticks)
        layers[k] = _retain_layer(cc, ticked)
        err = bwd[:, EP_IDX]
    return state._replace(layers=tuple(layers))


def clip_state(cc: CloneConfig, state: vm.VSMLState) -> vm.VSMLState:
    v = cc.state_clip
    return state._replace(layers=tuple(
        ls._replace(h=jnp.clip(ls.h, -v, v), c=jnp.clip(ls.c, -v, v)) for ls in state.layers))


@dataclasses.dataclass(frozen=True)
class ClonedBackprop:
    """The cloned learner as a ``vsml.learner.Learner`` (batch size 1, online).

    ``step`` = backward sweep with the previous error (skipped at t = 0), forward sweep with
    the new input, clip: for one layer and ``retain_wb_only=False`` this is exactly
    ``model.VSML.step``.
    """

    cc: CloneConfig
    sizes: tuple[int, ...]
    name: str = "cloned-backprop"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.sizes[0],)

    @property
    def num_outputs(self) -> int:
        return self.sizes[-1]

    def init_meta_params(self, key: jax.Array) -> PyTree:
        return init_params(self.cc, key)

    def init_state(self, meta_params: PyTree, key: jax.Array) -> vm.VSMLState:
        return init_network_state(self.cc, self.sizes, key)

    def step(self, meta_params: PyTree, state: vm.VSMLState, x: jax.Array,
             feedback: Feedback) -> tuple[jax.Array, vm.VSMLState]:
        back = backward_sweep(meta_params, self.cc, state, feedback.error)
        state = jax.tree_util.tree_map(lambda n, o: jnp.where(state.step > 0, n, o), back, state)
        state, out = forward_sweep(meta_params, self.cc, state, x.reshape(-1))
        state = clip_state(self.cc, state)
        return squash(out), state._replace(step=state.step + 1)


class LearningCurve(NamedTuple):
    loss: jax.Array  # [T] mean training cross-entropy of the batch at each step
    accuracy: jax.Array  # [T] batch accuracy (prediction made before the update)


def _batch(x_all, y_all, key, batch):
    i = jax.random.randint(key, (batch,), 0, x_all.shape[0])
    return x_all[i], y_all[i]


@partial(jax.jit, static_argnames=("cc", "sizes"))
def _learning_steps(params: PyTree, cc: CloneConfig, sizes: tuple[int, ...], x_all, y_all,
                    state: vm.VSMLState, keys: jax.Array):
    """``len(keys)`` steps of ``run_learning`` from a batch of states."""
    batch = state.layers[0].h.shape[0]

    def body(state, k):
        xb, yb = _batch(x_all, y_all, k, batch)
        state, out = jax.vmap(lambda s, x: forward_sweep(params, cc, s, x))(state, xb)
        logits = squash(out)
        loss = -jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], 1)[:, 0]
        err = jax.nn.softmax(logits) - jax.nn.one_hot(yb, sizes[-1])
        state = jax.vmap(lambda s, e: backward_sweep(params, cc, s, e))(state, err)
        state = clip_state(cc, vm.merge_batch_states(state))
        return state, LearningCurve(loss.mean(), (logits.argmax(-1) == yb).mean())

    return jax.lax.scan(body, state, keys)


def run_learning(params: PyTree, cc: CloneConfig, sizes: tuple[int, ...], x_all: jax.Array,
                 y_all: jax.Array, key: jax.Array, steps: int, batch: int,
                 progress: Callable[[int], object] | None = None):
    """Learn by unrolling the VSML RNN only: returns (LearningCurve, final state of example 0).

    Each step: forward sweep on a batch (errors zero) -> prediction -> backward sweep with
    the errors -> merge first state halves over the batch -> clip.  No gradients.
    ``progress``: called with the number of steps done after each of ~50 compiled chunks
    (one chunk, one call, without it); the result does not depend on it.
    """
    k_init, k_data = jax.random.split(key)
    state0 = init_network_state(cc, sizes, k_init)
    state = jax.tree_util.tree_map(lambda s: jnp.broadcast_to(s, (batch,) + s.shape), state0)
    keys = jax.random.split(k_data, steps)
    chunk = steps if progress is None else max(steps // 50, 1)
    parts = []
    for start in range(0, steps, chunk):
        state, part = _learning_steps(params, cc, sizes, x_all, y_all, state,
                                      keys[start:start + chunk])
        parts.append(part)
        if progress is not None:
            progress(part.loss.shape[0])
    curve = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *parts)
    return curve, jax.tree_util.tree_map(lambda s: s[0], state)


@partial(jax.jit, static_argnames=("cc",))
def predict(params: PyTree, cc: CloneConfig, state: vm.VSMLState, x: jax.Array) -> jax.Array:
    """Logits for inputs x [n, D] with a frozen learned state (forward sweep only)."""
    return jax.vmap(lambda xi: squash(forward_sweep(params, cc, state, xi)[1]))(x)


def network_weights(state: vm.VSMLState) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (w, b) the learned VSML state holds, per layer."""
    return [tuple(np.asarray(v) for v in read_wb(ls.c)) for ls in state.layers]


@partial(jax.jit, static_argnames=("cc", "sizes", "steps", "batch"))
def run_shadow_sgd(cc: CloneConfig, sizes: tuple[int, ...], x_all, y_all, key, steps: int,
                   batch: int):
    """Regular SGD (the rule the clone imitates, computed exactly) on the same stream."""
    k_init, k_data = jax.random.split(key)
    state0 = init_network_state(cc, sizes, k_init)
    params = [read_wb(ls.c) for ls in state0.layers]  # same initial weights as the clone

    def body(params, k):
        xb, yb = _batch(x_all, y_all, k, batch)
        params, logits, loss, _, _ = shadow_update(cc, params, xb, yb)
        return params, LearningCurve(loss.mean(), (logits.argmax(-1) == yb).mean())

    params, curve = jax.lax.scan(body, params, jax.random.split(k_data, steps))
    return curve, params


def shadow_accuracy(cc: CloneConfig, params, x, y) -> float:
    logits = jax.vmap(lambda xi: shadow_forward(cc, params, xi)[0])(x)
    return float(jnp.mean(logits.argmax(-1) == y))


def cloned_accuracy(params, cc, state, x, y, chunk: int = 250) -> float:
    correct = 0
    for i in range(0, x.shape[0], chunk):
        logits = predict(params, cc, state, x[i:i + chunk])
        correct += int(jnp.sum(logits.argmax(-1) == y[i:i + chunk]))
    return correct / max(x.shape[0], 1)


@partial(jax.jit, static_argnames=("cc", "sizes", "steps", "batch", "per_step"))
def rollout_samples(params: PyTree, cc: CloneConfig, sizes: tuple[int, ...], x_all, y_all,
                    key, steps: int, batch: int, per_step: int):
    """Run the VSML network itself and record what its synapses see (deep curriculum).

    Returns rows (x, e, layer) of the inputs of random synapses at backward ticks (the
    network's own intermediate predictions and errors) and their states (h, c) after the
    step, [steps * layers * per_step, ...].
    """
    k_init, k_data = jax.random.split(key)
    state0 = init_network_state(cc, sizes, k_init)
    state = jax.tree_util.tree_map(lambda s: jnp.broadcast_to(s, (batch,) + s.shape), state0)

    def body(state, k):
        kb, ks = jax.random.split(k)
        xb, yb = _batch(x_all, y_all, kb, batch)
        state, out = jax.vmap(lambda s, x: forward_sweep(params, cc, s, x))(state, xb)
        logits = squash(out)
        err = jax.nn.softmax(logits) - jax.nn.one_hot(yb, sizes[-1])
        state = jax.vmap(lambda s, e: backward_sweep(params, cc, s, e))(state, err)
        state = clip_state(cc, vm.merge_batch_states(state))
        rows, hs, cs = [], [], []
        for layer, ls in enumerate(state.layers):
            ki, ka, kc = jax.random.split(jax.random.fold_in(ks, layer), 3)
            i = jax.random.randint(ki, (per_step,), 0, batch)
            a = jax.random.randint(ka, (per_step,), 0, ls.h.shape[1])
            b = jax.random.randint(kc, (per_step,), 0, ls.h.shape[2])
            rows.append(jnp.stack([ls.fwd_in[i, a, X_IDX], ls.bwd_in[i, b, E_IDX],
                                   jnp.full((per_step,), float(layer))], axis=-1))
            hs.append(ls.h[i, a, b])
            cs.append(ls.c[i, a, b])
        return state, (jnp.concatenate(rows), jnp.concatenate(hs), jnp.concatenate(cs))

    _, (rows, hs, cs) = jax.lax.scan(body, state, jax.random.split(k_data, steps))
    n = cc.state_size
    return rows.reshape(-1, 3), Buffer(hs.reshape(-1, n), cs.reshape(-1, n))


@dataclasses.dataclass(frozen=True)
class Stage:
    """One curriculum stage: which shadow network feeds tuples, whether to roll out VSML."""

    name: str
    steps: int
    shadow_sizes: tuple[int, ...]
    mix: Mixture
    rollout_sizes: tuple[int, ...] = ()


def curriculum(depth: str, steps: int, hidden: int = 32, inputs: int = 784) -> tuple[Stage, ...]:
    """The cloning stages.

    Shallow: clean states, then buffer + rollouts.  Deep (App. B.1): the shallow stages,
    then deep with intermediate errors of the ground-truth (shadow) network, then with the
    VSML network's own intermediate predictions and errors (rollouts).
    """
    check_choice("depth", depth, ("shallow", "deep"))
    shallow = (inputs, 10)
    deep = (inputs, hidden, 10)
    # "clean" first: states hold only (w, b) plus VSML's random initial half (App. C.1:
    # only the weight and bias dimensions are retained), which is learned far faster; then
    # states from the buffer and from rollouts of the network itself
    clean = Mixture(fresh_state=1.0, fresh_wb=1.0)
    if depth == "shallow":
        s0 = int(0.6 * steps)
        return (Stage("clean", s0, shallow, clean),
                Stage("shallow", steps - s0, shallow, Mixture(), shallow))
    s0, s1, s2 = int(0.3 * steps), int(0.2 * steps), int(0.25 * steps)
    return (
        Stage("clean", s0, shallow, clean),
        Stage("shallow", s1, shallow, Mixture(), shallow),
        Stage("deep-ground-truth", s2, deep, Mixture(), shallow),
        Stage("deep-own", steps - s0 - s1 - s2, deep, Mixture(shadow=0.35, rollout=0.35), deep),
    )


def _mnist(image_size: int | None, split: str = "train", dataset: str = "mnist"):
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


def train_backprop(cc: CloneConfig, ts: TrainSettings, stages: tuple[Stage, ...],
                   image_size: int | None = None, buffer_size: int = 4096,
                   shadow_steps: int = 1500, rollout_every: int = 50, rollout_steps: int = 40,
                   rollout_batch: int = 4, params: PyTree | None = None,
                   log=None) -> tuple[PyTree, list[dict]]:
    """Clone the rule (``rule``) into VSML meta-parameters following ``stages``."""
    key = jax.random.PRNGKey(ts.seed)
    if params is None:
        params = init_params(cc, jax.random.fold_in(key, 0))
    x_all, y_all = _mnist(image_size)
    buffer = fresh_states(cc, jax.random.fold_in(key, 1), buffer_size)
    total = sum(s.steps for s in stages)
    ts_total = dataclasses.replace(ts, steps=total)
    history, done, t0 = [], 0, time.time()
    opt_state = None
    for si, stage in enumerate(stages):
        mix = stage.mix
        opt, step = make_clone_step(cc, ts_total, mix)
        if opt_state is None:
            opt_state = opt.init(params)
        sizes = tuple(stage.shadow_sizes)
        if image_size is not None:
            sizes = (image_size * image_size,) + sizes[1:]
        shadow = shadow_table(cc, sizes, x_all, y_all, jax.random.fold_in(key, 100 + si),
                              shadow_steps)
        # the latest ROLLOUT_ROWS rollout rows of this stage, as a ring of fixed shape
        rollout, r_count, r_next = jnp.zeros((ROLLOUT_ROWS, 3)), 0, 0
        for i in range(stage.steps):
            k = jax.random.fold_in(key, 10_000 + done)
            if stage.rollout_sizes and i % rollout_every == 0:
                r_sizes = (sizes[0],) + tuple(stage.rollout_sizes[1:])
                rows, states = rollout_samples(
                    params, cc, r_sizes, x_all, y_all, jax.random.fold_in(k, 1), rollout_steps,
                    rollout_batch, 32)
                m = min(rows.shape[0], ROLLOUT_ROWS)
                rollout = rollout.at[(r_next + jnp.arange(m)) % ROLLOUT_ROWS].set(rows[-m:])
                r_next, r_count = (r_next + m) % ROLLOUT_ROWS, min(r_count + m, ROLLOUT_ROWS)
                slots = jax.random.randint(jax.random.fold_in(k, 2), (states.h.shape[0],), 0,
                                           buffer_size)
                buffer = Buffer(buffer.h.at[slots].set(states.h), buffer.c.at[slots].set(states.c))
            params, opt_state, buffer, loss, terms = step(params, opt_state, buffer, shadow,
                                                          rollout, k, r_count)
            done += 1
            if i % max(total // 40, 1) == 0 or i == stage.steps - 1:
                row = {"stage": stage.name, "step": done, "loss": float(loss),
                       **{f"mse_{n}": float(v) for n, v in terms.items()},
                       "buffer_state_abs": float(jnp.abs(buffer.c[:, 2:]).mean()),
                       "seconds": round(time.time() - t0, 1)}
                history.append(row)
                if log:
                    log("clone-backprop " + " ".join(
                        f"{n}={v:.4g}" if isinstance(v, float) else f"{n}={v}"
                        for n, v in row.items()))
    return params, history


@partial(jax.jit, static_argnames=("cc",))
def clone_errors(params: PyTree, cc: CloneConfig, rows: jax.Array, key: jax.Array,
                 states: Buffer | None = None) -> dict:
    """How well a forward + backward tick implements the rule on (x, e, w, b) rows.

    States: ``states`` (e.g. from a rollout) or fresh initial ones, with (w, b) written in.
    Returns the sign agreement of predicted and true (delta w, delta b) where the true
    update is non-zero, their correlations, RMS errors of y^ and e^' and the mean |w| drift
    over the forward tick (which should be 0).
    """
    x, e, w, b = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    st = fresh_states(cc, key, rows.shape[0]) if states is None else states
    c = write_wb(st.c, w, b)
    y, ep, (_, c1), (_, c2) = forward_backward(params, cc, st.h, c, x, e)
    tgt = rule(cc, w, b, x, e)
    w1, _ = read_wb(c1)
    w2, b2 = read_wb(c2)
    dw_true, db_true = tgt.w - w, tgt.b - b
    dw, db = w2 - w, b2 - b
    mw, mb = jnp.abs(dw_true) > 1e-6, jnp.abs(db_true) > 1e-6
    return {
        "sign_dw": jnp.sum(mw * (jnp.sign(dw) == jnp.sign(dw_true))) / jnp.maximum(mw.sum(), 1),
        "sign_db": jnp.sum(mb * (jnp.sign(db) == jnp.sign(db_true))) / jnp.maximum(mb.sum(), 1),
        "corr_dw": jnp.corrcoef(dw, dw_true)[0, 1],
        "corr_db": jnp.corrcoef(db, db_true)[0, 1],
        "rms_y": jnp.sqrt(jnp.mean((y - tgt.y) ** 2)),
        "rms_e_prev": jnp.sqrt(jnp.mean((ep - tgt.e_prev) ** 2)),
        "drift_dw": jnp.mean(jnp.abs(w1 - w)),
        "mean_abs_dw_true": jnp.mean(jnp.abs(dw_true)),
    }


# ------------------------------------------------------------------ files: npz + JSON


def save_params(path: str | os.PathLike, params: PyTree, meta: dict) -> Path:
    """Meta-parameters as ``path`` (npz, keys like "lstm/w") plus ``path``.json (metadata)."""
    import io

    flat = {"/".join(str(getattr(k, "key", k)) for k in kp): np.asarray(v)
            for kp, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    buf = io.BytesIO()
    np.savez(buf, **flat)
    path = Path(path)
    write_bytes_atomic(path, buf.getvalue())
    write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=1, default=str) + "\n")
    return path


def load_params(path: str | os.PathLike) -> tuple[PyTree, dict]:
    """Inverse of ``save_params``: (params, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no cloned parameters at {path} (run vsml clone-forward or "
                        "clone-backprop first, or give the right --params)")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: jnp.asarray(z[k]) for k in z.files}
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable npz of cloned parameters ({err})") from err
    params: dict = {}
    for key, value in flat.items():
        node = params
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return params, meta


def config_from_meta(meta: dict) -> CloneConfig:
    fields = {f.name for f in dataclasses.fields(CloneConfig)}
    saved = meta.get("clone_config", {})
    # files written before ``retain_wb_only`` existed were cloned carrying the whole state
    saved = {"retain_wb_only": False, **saved}
    return CloneConfig(**{k: v for k, v in saved.items() if k in fields})


def provenance(scale: str) -> dict:
    from vsml.aggregate import versions
    from vsml.checkpoint import git_commit

    return {"scale": scale, "git_commit": git_commit(), "versions": versions()}


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    import pandas as pd

    return write_text_atomic(path, pd.DataFrame(rows).to_csv(index=False))


# ---------------------------------------------------------------------- scale presets


@dataclasses.dataclass(frozen=True)
class Preset:
    forward_steps: int
    backprop_steps: int
    clone_batch: int
    image_size: int | None  # inputs resized to s x s (None: 28 x 28 as in the paper)
    shadow_steps: int
    eval_steps: int
    eval_batch: int
    seeds: int
    test_examples: int  # 0: the whole test split
    curve_every: int  # CSV rows every k steps
    forward_batch: int = 512  # clone-forward's batch (synapse samples)
    hidden: int = 32  # hidden units of the deep arrangement (App. B.1: one layer of 32)


PRESETS = {
    "smoke": Preset(300, 300, 256, 7, 200, 40, 8, 2, 200, 2),
    "mini": Preset(3000, 2500, 512, 14, 800, 400, 16, 3, 1000, 5),
    "paper": Preset(20000, 20000, 1024, None, 5000, 40000, 64, 6, 0, 100),
}


def preset(scale: str) -> Preset:
    return PRESETS[check_choice("scale", scale, PRESETS)]


def _image_size_arg(text: str) -> int | None:
    """``--image-size``: an integer s (inputs resized to s x s) or ``native`` (28 x 28)."""
    if text.lower() == "native":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'native', got {text!r}") \
            from None
    if not 1 <= value <= 512:
        raise argparse.ArgumentTypeError(f"image size must be in 1..512, got {value}")
    return value


# ------------------------------------------------- the pipeline's config/cloning.yaml

PIPELINE_KEYS = {
    "image_size": None,
    "forward": ("steps", "batch"),
    "shallow": ("steps", "batch", "shadow_steps"),
    "deep": ("steps", "batch", "shadow_steps", "hidden", "init_from_shallow"),
    "eval": ("datasets", "seeds", "steps", "batch", "test_examples", "curve_every"),
    "threads": ("train", "eval"),
}
EVAL_DATASETS = ("mnist", "fashion_mnist")


def pipeline_settings(config: dict, scale: str) -> dict:
    """The settings of ``scale`` in config/cloning.yaml (parsed), checked: every key present,
    no unknown key, positive integers, known datasets.  Raises ``UserError``."""
    scales = (config or {}).get("scales") or {}
    check_choice("cloning scale", scale, scales)
    settings = scales[scale] or {}
    where = f"config/cloning.yaml scale {scale!r}"
    for key in settings:
        check_choice(f"key of {where}", key, PIPELINE_KEYS)
    for key, subkeys in PIPELINE_KEYS.items():
        if key not in settings:
            raise UserError(f"{where} lacks the key {key!r}")
        if subkeys is None:
            continue
        section = settings[key]
        if not isinstance(section, dict):
            raise UserError(f"{where}: {key} must be a mapping of {', '.join(subkeys)}")
        for sub in section:
            check_choice(f"key of {where} {key}", sub, subkeys)
        for sub in subkeys:
            if sub not in section:
                raise UserError(f"{where}: {key} lacks {sub!r}")
            value = section[sub]
            if sub == "datasets":
                if not value or not isinstance(value, list):
                    raise UserError(f"{where}: eval.datasets must be a non-empty list")
                for d in value:
                    check_choice("clone-eval dataset", d, EVAL_DATASETS)
            elif sub == "init_from_shallow":
                if not isinstance(value, bool):
                    raise UserError(f"{where}: deep.init_from_shallow must be true or false")
            elif (not isinstance(value, int) or isinstance(value, bool)
                  or value < (0 if sub == "test_examples" else 1)):
                raise UserError(f"{where}: {key}.{sub} must be a positive integer, got {value!r}")
    size = settings["image_size"]
    if size is not None and (not isinstance(size, int) or not 1 <= size <= 512):
        raise UserError(f"{where}: image_size must be null or an integer in 1..512")
    return settings


def pipeline_args(settings: dict, job: str) -> list[str]:
    """Options of the clone-* command of a pipeline job (forward, shallow, deep, eval)."""
    check_choice("cloning job", job, ("forward", "shallow", "deep", "eval"))
    size = settings["image_size"]
    image = ["--image-size", "native" if size is None else str(size)]
    sec = settings[job]
    if job == "forward":
        return ["--steps", str(sec["steps"]), "--batch", str(sec["batch"])]
    if job in ("shallow", "deep"):
        out = ["--depth", job, "--steps", str(sec["steps"]), "--batch", str(sec["batch"]),
               "--shadow-steps", str(sec["shadow_steps"]), *image]
        return out + (["--hidden", str(sec["hidden"])] if job == "deep" else [])
    return ["--datasets", ",".join(sec["datasets"]), "--seeds", str(sec["seeds"]),
            "--steps", str(sec["steps"]), "--batch", str(sec["batch"]),
            "--test-examples", str(sec["test_examples"]),
            "--curve-every", str(sec["curve_every"]), *image,
            "--hidden", str(settings["deep"]["hidden"])]


# command-line option -> Preset field, per command (an option left out keeps the preset's)
_OVERRIDES = {
    "forward": {"steps": "forward_steps", "batch": "forward_batch"},
    "backprop": {"steps": "backprop_steps", "batch": "clone_batch", "image_size": "image_size",
                 "shadow_steps": "shadow_steps", "hidden": "hidden"},
    "eval": {"steps": "eval_steps", "batch": "eval_batch", "image_size": "image_size",
             "seeds": "seeds", "test_examples": "test_examples",
             "curve_every": "curve_every", "hidden": "hidden"},
}
_UNSET = object()


def preset_from_args(args: argparse.Namespace, command: str) -> Preset:
    """The ``--scale`` preset with the command's explicit options (the pipeline's
    config/cloning.yaml values) written over it."""
    pr = preset(args.scale)
    over = {}
    for option, field in _OVERRIDES[command].items():
        value = getattr(args, option, _UNSET)
        if value is _UNSET or (option in ("steps", "seeds") and value == 0):  # 0: preset's
            continue
        if option != "image_size" and (value < 0 or (value == 0 and option != "test_examples")):
            raise UserError(f"--{option.replace('_', '-')} must be > 0, got {value}")
        over[field] = value  # image_size None: native 28 x 28
    return dataclasses.replace(pr, **over)


def _log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- commands


def cmd_forward(args) -> int:
    pr = preset_from_args(args, "forward")
    cc = CloneConfig(micro_ticks=args.micro_ticks)
    ts = TrainSettings(pr.forward_steps, pr.forward_batch, seed=args.seed)
    t0 = time.time()
    params, history = train_forward(cc, ts, log=_log)
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
    _log(f"clone-forward: grid MAE {summary['mae']:.4f} (max {summary['max_abs_error']:.3f}, "
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
                                     shadow_steps=pr.shadow_steps, params=init, log=_log)
    seconds = time.time() - t0
    x_all, y_all = _mnist(pr.image_size)
    rows = shadow_table(cc, (inputs, 10), x_all, y_all, jax.random.PRNGKey(12345), 200)
    quality = {k: float(v) for k, v in clone_errors(params, cc, rows,
                                                     jax.random.PRNGKey(7)).items()}
    meta = {"kind": "backprop", "depth": args.depth, "clone_config": dataclasses.asdict(cc),
            "train": dataclasses.asdict(ts), "image_size": pr.image_size,
            "shadow_steps": pr.shadow_steps, "hidden": pr.hidden,
            "stages": [dataclasses.asdict(s) for s in stages], "cpu_seconds": round(seconds, 1),
            "history": history, "mnist_tick_quality": quality, **provenance(args.scale)}
    save_params(args.out, params, meta)
    _log(f"clone-backprop ({args.depth}) {seconds:.0f}s -> {args.out}; one-tick quality on "
         "MNIST shadow tuples: " + ", ".join(f"{k}={v:.3f}" for k, v in quality.items()))
    return 0


def evaluate(params: PyTree, cc: CloneConfig, pr: Preset, datasets: tuple[str, ...],
             depths: tuple[str, ...], seeds: int, steps: int, prov: dict,
             hidden: int = 32, log=None, progress: bool = True
             ) -> tuple[list[dict], list[dict]]:
    """Cloned learner vs regular SGD (the exact rule) on each dataset / depth / seed.

    Returns (curve rows every ``pr.curve_every`` steps, summary rows with test accuracy).
    ``progress``: a bar with ETA per cloned run (stderr).
    """
    from tqdm import tqdm

    curves, summary = [], []
    inputs = (pr.image_size or 28) ** 2
    for dataset in datasets:
        x, y = _mnist(pr.image_size, "train", dataset)
        xt, yt = _mnist(pr.image_size, "test", dataset)
        if pr.test_examples:
            xt, yt = xt[:pr.test_examples], yt[:pr.test_examples]
        for depth in depths:
            sizes = (inputs, 10) if depth == "shallow" else (inputs, hidden, 10)
            for seed in range(seeds):
                key = jax.random.PRNGKey(1000 + seed)
                for method in ("cloned", "sgd"):
                    t0 = time.time()
                    if method == "cloned":
                        with tqdm(total=steps, desc=f"{dataset} {depth} seed {seed}",
                                  unit="step", disable=not progress) as bar:
                            curve, state = run_learning(params, cc, sizes, x, y, key, steps,
                                                        pr.eval_batch, progress=bar.update)
                        acc = cloned_accuracy(params, cc, state, xt, yt)
                    else:
                        curve, sp = run_shadow_sgd(cc, sizes, x, y, key, steps, pr.eval_batch)
                        acc = shadow_accuracy(cc, sp, xt, yt)
                    seconds = time.time() - t0
                    loss, bacc = np.asarray(curve.loss), np.asarray(curve.accuracy)
                    base = {"method": method, "depth": depth, "dataset": dataset, "seed": seed}
                    for t in range(0, steps, pr.curve_every):
                        k = min(t + pr.curve_every, steps)
                        curves.append({**base, "step": k, "loss": float(loss[t:k].mean()),
                                       "batch_accuracy": float(bacc[t:k].mean()), **prov})
                    summary.append({**base, "steps": steps, "batch": pr.eval_batch,
                                    "image_size": pr.image_size or 28,
                                    "test_examples": int(xt.shape[0]),
                                    "test_accuracy": acc,
                                    "final_train_loss": float(loss[-max(steps // 10, 1):].mean()),
                                    "cpu_seconds": round(seconds, 1), **prov})
                    if log:
                        log(f"clone-eval {dataset} {depth} seed {seed} {method}: test accuracy "
                            f"{acc:.3f}, final loss {summary[-1]['final_train_loss']:.3f} "
                            f"({seconds:.0f}s)")
    return curves, summary


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
                               hidden=pr.hidden, log=_log, progress=not args.no_progress)
    write_csv(args.out, curves)
    write_csv(Path(args.out).with_name(Path(args.out).stem + "_summary.csv"), summary)
    _log(f"clone-eval -> {args.out}")
    return 0


# ------------------------------------------------------------- tidy result tables

TABLE_COLUMNS = ["figure", "row", "panel", "method", "depth", "clone_depth", "dataset",
                 "status", "reason", "seeds", "steps", "batch", "image_size", "test_examples",
                 "test_acc_mean", "test_acc_std", "final_loss_mean", "final_loss_std",
                 "cpu_seconds_mean", "scale", "params", "git_commit", "versions"]
FORWARD_COLUMNS = ["figure", "steps", "batch", "mae", "max_abs_error", "target_abs_mean",
                   "cpu_seconds", "scale", "git_commit", "versions"]
CLONE_COLUMNS = ["clone", "depth", "steps", "batch", "image_size", "shadow_steps", "hidden",
                 "cpu_seconds", "sign_dw", "sign_db", "corr_dw", "corr_db", "rms_y",
                 "rms_e_prev", "drift_dw", "scale", "git_commit", "versions"]


def fig5_rows(df):
    """Fig. 5 shows each arrangement learned by the clone cloned for it: the shallow curve by
    the shallow clone, the deep curve by the deep-curriculum clone (which also runs the
    shallow arrangement, Fig. 11).  Rows of another clone are used only where no matching
    clone ran that arrangement."""
    if "clone_depth" not in df.columns:
        return df
    own = df.clone_depth == df.depth
    has_own = df.depth.map(own.groupby(df.depth).any())
    return df[own | ~has_own]


def read_eval_summaries(paths: list[str]):
    import pandas as pd

    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"no clone-eval summary at {path} (run vsml clone-eval first)")
        frames.append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    df = pd.concat(frames, ignore_index=True)
    need = {"method", "depth", "dataset", "seed", "test_accuracy", "final_train_loss"}
    if not need <= set(df.columns):
        raise UserError(f"{paths}: not clone-eval summaries (need columns {sorted(need)})")
    return df


def accuracy_table(figure: str, summaries) -> pd.DataFrame:
    """One row per (arrangement, dataset, method): test accuracy and final training loss,
    mean and std (ddof 0, as ``vsml aggregate``) over seeds; ``TABLE_COLUMNS``."""
    import pandas as pd

    df = fig5_rows(summaries) if figure == "fig5" else summaries
    rows = []
    for (depth, dataset, method), g in df.groupby(["depth", "dataset", "method"], sort=True):
        first = g.iloc[0]
        acc, loss = g.test_accuracy.to_numpy(float), g.final_train_loss.to_numpy(float)
        rows.append({
            "figure": figure, "row": depth, "panel": dataset, "method": method, "depth": depth,
            "clone_depth": first.get("clone_depth", ""), "dataset": dataset, "status": "ok",
            "reason": "", "seeds": int(g.seed.nunique()), "steps": int(first.get("steps", 0)),
            "batch": int(first.get("batch", 0)), "image_size": int(first.get("image_size", 0)),
            "test_examples": int(first.get("test_examples", 0)),
            "test_acc_mean": acc.mean(), "test_acc_std": acc.std(),
            "final_loss_mean": loss.mean(), "final_loss_std": loss.std(),
            "cpu_seconds_mean": float(g.cpu_seconds.mean()) if "cpu_seconds" in g else None,
            **{k: first.get(k, "") for k in ("scale", "params", "git_commit", "versions")}})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def forward_table(path: str) -> pd.DataFrame:
    import pandas as pd

    _, meta = load_params(path)
    if meta.get("kind") != "forward":
        raise UserError(f"{path} holds a {meta.get('kind', 'unknown')!r} clone, not a forward "
                        "one (vsml clone-forward)")
    row = {"figure": "fig10", "steps": meta["train"]["steps"], "batch": meta["train"]["batch"],
           **meta["grid_error"], "cpu_seconds": meta.get("cpu_seconds"),
           **{k: meta.get(k, "") for k in ("scale", "git_commit", "versions")}}
    return pd.DataFrame([row], columns=FORWARD_COLUMNS)


def clones_table(paths: list[str]) -> pd.DataFrame:
    """One row per backprop clone: its training budget and one-tick quality on MNIST."""
    import pandas as pd

    rows = []
    for path in paths:
        _, meta = load_params(path)
        if meta.get("kind") != "backprop":
            raise UserError(f"{path} holds a {meta.get('kind', 'unknown')!r} clone, not one "
                            "from vsml clone-backprop")
        image = meta.get("image_size")
        rows.append({"clone": str(path), "depth": meta.get("depth"),
                     "steps": meta["train"]["steps"], "batch": meta["train"]["batch"],
                     "image_size": image or 28, "shadow_steps": meta.get("shadow_steps"),
                     "hidden": meta.get("hidden"), "cpu_seconds": meta.get("cpu_seconds"),
                     **meta.get("mnist_tick_quality", {}),
                     **{k: meta.get(k, "") for k in ("scale", "git_commit", "versions")}})
    return pd.DataFrame(rows).reindex(columns=CLONE_COLUMNS)


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
    _log(f"clone-table {args.table}: {len(table)} rows -> {args.out}")
    return 0


def cmd_figure(args) -> int:
    from vsml import figures_cloning as fc

    outs = fc.make_figure(args.figure, args.inputs, args.out)
    _log("clone-figure -> " + ", ".join(str(o) for o in outs))
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
        p.add_argument("--batch", type=int, default=_UNSET, help=f"override the preset's {what}")

    def image_size(p):
        p.add_argument("--image-size", type=_image_size_arg, default=_UNSET,
                       help="inputs resized to s x s, or 'native' (28 x 28); default: preset")

    def hidden(p):
        p.add_argument("--hidden", type=int, default=_UNSET,
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
    p.add_argument("--shadow-steps", type=int, default=_UNSET,
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
    p.add_argument("--test-examples", type=int, default=_UNSET,
                   help="test images per accuracy (0: the whole test split)")
    p.add_argument("--curve-every", type=int, default=_UNSET,
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


if __name__ == "__main__":
    raise SystemExit(main())
