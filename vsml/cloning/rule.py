"""The cloned algorithm (the rule, Sec. 3.2 / App. C.1) and the synapse that implements it:
designated message entries, (w, b) stored in the cell state, one forward/backward tick pair."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import optax

from vsml import model as vm
from vsml.errors import UserError
from vsml.learner import PyTree

if TYPE_CHECKING:

    pass


X_IDX = 0  # entry of the incoming forward message holding x
E_IDX = 0  # entry of the incoming backward message holding e
Y_IDX = 0  # entry of the outgoing forward message holding y^
EP_IDX = 0  # entry of the outgoing backward message holding e^'
W_DIM, B_DIM = 0, 1  # cell-state dimensions holding w / 4 and b / 4
STATE_SCALE = 4.0


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


def retain_layer(cc: CloneConfig, layer: vm.LayerState) -> vm.LayerState:
    h, c = retain_wb(cc, layer.h, layer.c)
    return layer._replace(h=h, c=c)


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch: int
    lr: float = 1e-2
    seed: int = 0
    loss_weights: tuple[float, ...] = (1.0, 1.0, 3.0, 1.0, 1.0, 1.0)  # see LOSS_TERMS


def clone_optimizer(ts: TrainSettings) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(ts.lr, max(ts.steps, 1), alpha=0.05)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
