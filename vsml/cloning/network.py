"""The cloned learner unrolled on a dataset: forward sweep 1..K, prediction, backward sweep
K..1, no gradients (the meta-test of Figs. 5 and 11)."""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vsml import model as vm
from vsml.episode import squash
from vsml.learner import Feedback, PyTree

if TYPE_CHECKING:
    from collections.abc import Callable


from vsml.cloning.rule import (
    E_IDX,
    EP_IDX,
    X_IDX,
    Y_IDX,
    CloneConfig,
    init_params,
    read_wb,
    retain_layer,
)

# --------------------------------------------------------------- the cloned learner


def layer_sizes(input_size: int, hidden: tuple[int, ...], outputs: int) -> tuple[int, ...]:
    return (input_size, *hidden, outputs)


def init_network_state(cc: CloneConfig, sizes: tuple[int, ...], key: jax.Array) -> vm.VSMLState:
    """VSML's initial state (``VSML.init_state``) for the dense layers ``sizes``."""
    learner = vm.VSML(dataclasses.replace(cc.vsml_config(), hidden_sizes=tuple(sizes[1:-1])),
                      (sizes[0],), sizes[-1])
    state = learner.init_state(None, key)
    return state._replace(layers=tuple(retain_layer(cc, ls) for ls in state.layers))


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
        layers[k] = retain_layer(cc, ticked)
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


def sample_batch(x_all, y_all, key, batch):
    i = jax.random.randint(key, (batch,), 0, x_all.shape[0])
    return x_all[i], y_all[i]


@partial(jax.jit, static_argnames=("cc", "sizes"))
def _learning_steps(params: PyTree, cc: CloneConfig, sizes: tuple[int, ...], x_all, y_all,
                    state: vm.VSMLState, keys: jax.Array):
    """``len(keys)`` steps of ``run_learning`` from a batch of states."""
    batch = state.layers[0].h.shape[0]

    def body(state, k):
        xb, yb = sample_batch(x_all, y_all, k, batch)
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


def cloned_accuracy(params, cc, state, x, y, chunk: int = 250) -> float:
    correct = 0
    for i in range(0, x.shape[0], chunk):
        logits = predict(params, cc, state, x[i:i + chunk])
        correct += int(jnp.sum(logits.argmax(-1) == y[i:i + chunk]))
    return correct / max(x.shape[0], 1)
