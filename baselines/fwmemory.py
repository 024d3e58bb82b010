"""External fast-weight memory baseline (Schlag et al. 2021, "learning associative inference").

An LSTM (hidden 32) reads ``[x_t, e_{t-1}, onehot(y_{t-1})]`` like the Meta RNN
(one tick per example).  From its output h it writes to and reads from a
fast-weight memory M of shape [m, m*m] (m = 16, so 16 x 256):

* write head: ``[k1, k2, v] = tanh(.)`` (three m-vectors) and
  ``beta = sigmoid(.)`` (a scalar) from one affine map of h; the key is the
  flattened outer product ``k = vec(k1 k2^T)`` (m*m entries);
* delta rule: ``M <- M + beta * (v - M k) k^T``, then ``M <- M / max(1, ||M||_F)``;
* read head: ``[n, e] = tanh(.)`` (two m-vectors) from another affine map of h;
  ``r = layer_norm(M vec(n e^T))`` (no learned scale/offset);
* output: ``logits = squash(W_out (h + W_r r + b_r) + b_out)``.

Meta-parameters: LSTM, write head, read head, read projection, read-out (all
haiku-initialised).  Learned state: LSTM (h, c) and M, zeros at the start of
every episode.  Padding options as in the Meta RNN (the paper-scale configs set
``pad_inputs_to=784, pad_outputs_to=62``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from baselines.common import (
    LSTMState,
    check_positive,
    dense,
    dense_init,
    flat_input_size,
    flatten_pad,
    layer_norm,
    lstm_init,
    lstm_step,
    lstm_zero_state,
    padded_outputs,
)
from vsml.episode import squash
from vsml.learner import Feedback, PyTree


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of the FW-memory baseline (LSTM 32, memory 16 x 256)."""

    hidden_size: int = 32
    memory_size: int = 16
    tanh_bound: float | None = 100.0
    pad_inputs_to: int | None = None
    pad_outputs_to: int | None = None

    def __post_init__(self) -> None:
        check_positive("hidden_size", self.hidden_size)
        check_positive("memory_size", self.memory_size)


class FWMemoryState(NamedTuple):
    """lstm: (h, c) [hidden]; memory: M [m, m*m]."""

    lstm: LSTMState
    memory: jax.Array


@dataclasses.dataclass(frozen=True)
class FWMemory:
    """The FW-memory learner; see the module docstring."""

    config: Config
    input_shape: tuple[int, ...]
    num_outputs: int
    name: str = "fwmemory"

    @property
    def input_size(self) -> int:
        return flat_input_size(self.input_shape, self.config.pad_inputs_to)

    def init_meta_params(self, key: jax.Array) -> PyTree:
        hidden, m = self.config.hidden_size, self.config.memory_size
        keys = jax.random.split(key, 5)
        return {
            "lstm": lstm_init(keys[0], self.input_size + 2 * self.num_outputs, hidden),
            "write": dense_init(keys[1], hidden, 3 * m + 1),
            "read": dense_init(keys[2], hidden, 2 * m),
            "read_proj": dense_init(keys[3], m, hidden),
            "readout": dense_init(keys[4], hidden, self.num_outputs),
        }

    def init_state(self, meta_params: PyTree, key: jax.Array) -> FWMemoryState:
        del meta_params, key
        m = self.config.memory_size
        return FWMemoryState(
            lstm=lstm_zero_state(self.config.hidden_size),
            memory=jnp.zeros((m, m * m), jnp.float32),
        )

    def step(
        self, meta_params: PyTree, state: FWMemoryState, x: jax.Array, feedback: Feedback
    ) -> tuple[jax.Array, FWMemoryState]:
        inputs = jnp.concatenate(
            [flatten_pad(x, self.input_size), feedback.error, feedback.label]
        )
        lstm = lstm_step(meta_params["lstm"], state.lstm, inputs)
        h = lstm.h

        write = dense(meta_params["write"], h)
        beta = jax.nn.sigmoid(write[-1])
        k1, k2, v = jnp.split(jnp.tanh(write[:-1]), 3)
        key = jnp.outer(k1, k2).reshape(-1)
        memory = state.memory + beta * jnp.outer(v - state.memory @ key, key)
        # M / max(1, ||M||) written as rsqrt(max(1, ||M||^2)): same value, finite gradient at M = 0
        memory = memory * jax.lax.rsqrt(jnp.maximum(1.0, jnp.sum(memory**2)))

        n, e = jnp.split(jnp.tanh(dense(meta_params["read"], h)), 2)
        read = layer_norm(memory @ jnp.outer(n, e).reshape(-1))
        out = h + dense(meta_params["read_proj"], read)
        logits = squash(dense(meta_params["readout"], out), self.config.tanh_bound)
        return logits, FWMemoryState(lstm, memory)


def make_learner(config: Config, input_shape: tuple[int, ...], num_outputs: int) -> FWMemory:
    """FW-memory learner for ``input_shape`` inputs and ``num_outputs`` classes."""
    outputs = padded_outputs(num_outputs, config.pad_outputs_to)
    flat_input_size(input_shape, config.pad_inputs_to)  # raises UserError on bad padding
    return FWMemory(config, tuple(int(d) for d in input_shape), outputs)
