"""Backprop cloning (Figs. 5, 11): the clone loss, its training step on a mixture of state and
input sources, and the deep curriculum of App. B.1 (rollouts of the VSML network itself)."""

from __future__ import annotations

import dataclasses
import math
import time
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import optax

from vsml import model as vm
from vsml.episode import squash
from vsml.errors import check_choice
from vsml.learner import PyTree

if TYPE_CHECKING:

    pass

from vsml.cloning.network import (
    backward_sweep,
    clip_state,
    forward_sweep,
    init_network_state,
    sample_batch,
)
from vsml.cloning.rule import (
    E_IDX,
    X_IDX,
    CloneConfig,
    TrainSettings,
    clone_optimizer,
    forward_backward,
    init_params,
    read_wb,
    retain_wb,
    rule,
    write_wb,
)
from vsml.cloning.shadow import dataset_arrays, shadow_table

STATE_PENALTY = 0.1  # weight of the penalty on the non-(w, b) state dimensions
RELATIVE_FLOOR = 0.03  # |e| below which errors count as absolute (clone loss)
ROLLOUT_ROWS = 65536  # rollout (x, e) rows kept per curriculum stage (the latest ones)


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


def random_inputs(cc: CloneConfig, key: jax.Array, n: int):
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
def clone_step(params, opt_state, buffer, shadow, rollout, rollout_count, mix, key, *,
                cc: CloneConfig, ts: TrainSettings):
    """One cloning step; ``mix`` (``_mix_array``) and ``rollout_count`` are traced, so every
    curriculum stage and every refill of the rollout table reuse one compilation."""
    opt = clone_optimizer(ts)
    n = ts.batch
    p_shadow, p_rollout, p_fresh_wb, p_fresh_state = mix[0], mix[1], mix[2], mix[3]

    ks = jax.random.split(key, 10)
    idx = jax.random.randint(ks[0], (n,), 0, buffer.h.shape[0])
    h, c = buffer.h[idx], buffer.c[idx]
    fresh = fresh_states(cc, ks[1], n)
    new = jax.random.uniform(ks[2], (n, 1)) < p_fresh_state
    h, c = jnp.where(new, fresh.h, h), jnp.where(new, fresh.c, c)
    x, e, w, b = random_inputs(cc, ks[3], n)
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
    opt = clone_optimizer(ts)
    mix_arr = _mix_array(mix)

    def step(params, opt_state, buffer, shadow, rollout, key, rollout_count=None):
        count = rollout.shape[0] if rollout_count is None else max(int(rollout_count), 1)
        return clone_step(params, opt_state, buffer, shadow, rollout,
                           jnp.asarray(count, jnp.int32), mix_arr, key, cc=cc, ts=ts)

    return opt, step


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
        xb, yb = sample_batch(x_all, y_all, kb, batch)
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


def train_backprop(cc: CloneConfig, ts: TrainSettings, stages: tuple[Stage, ...],
                   image_size: int | None = None, buffer_size: int = 4096,
                   shadow_steps: int = 1500, rollout_every: int = 50, rollout_steps: int = 40,
                   rollout_batch: int = 4, params: PyTree | None = None,
                   log=None) -> tuple[PyTree, list[dict]]:
    """Clone the rule (``rule``) into VSML meta-parameters following ``stages``."""
    key = jax.random.PRNGKey(ts.seed)
    if params is None:
        params = init_params(cc, jax.random.fold_in(key, 0))
    x_all, y_all = dataset_arrays(image_size)
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
