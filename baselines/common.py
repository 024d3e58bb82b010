"""Small building blocks shared by the baselines: initialisers, LSTM cell, padding.

The initialisers follow dm-haiku's defaults (which the authors' baselines use):
a dense layer's weight is ``stddev * truncated_normal(-2, 2)`` with
``stddev = 1 / sqrt(fan_in)`` (the truncation is *not* variance-corrected, as in
haiku), and its bias is zero.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from vsml.errors import UserError


def dense_init(key: jax.Array, fan_in: int, fan_out: int) -> dict[str, jax.Array]:
    """Weights ``w [fan_in, fan_out]`` (truncated normal, std 1/sqrt(fan_in)) and zero ``b``."""
    std = 1.0 / jnp.sqrt(jnp.float32(fan_in))
    w = std * jax.random.truncated_normal(key, -2.0, 2.0, (fan_in, fan_out), jnp.float32)
    return {"w": w, "b": jnp.zeros((fan_out,), jnp.float32)}


def dense(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """Affine map ``x @ w + b``."""
    return x @ params["w"] + params["b"]


class LSTMState(NamedTuple):
    """Hidden and cell vectors of an LSTM, each [hidden_size]."""

    h: jax.Array
    c: jax.Array


def lstm_init(key: jax.Array, input_size: int, hidden_size: int) -> dict[str, jax.Array]:
    """One affine map from concat(x, h) to the 4 gate pre-activations (haiku's LSTM layout)."""
    return dense_init(key, input_size + hidden_size, 4 * hidden_size)


def lstm_zero_state(hidden_size: int) -> LSTMState:
    zeros = jnp.zeros((hidden_size,), jnp.float32)
    return LSTMState(zeros, zeros)


def lstm_step(params: dict[str, jax.Array], state: LSTMState, x: jax.Array) -> LSTMState:
    """A standard LSTM step; gates in the order input, cell, forget, output.

    The forget gate gets +1 inside its sigmoid, as in haiku's ``hk.LSTM`` (used by
    the authors' Meta RNN and FW-memory baselines).
    """
    gates = dense(params, jnp.concatenate([x, state.h]))
    i, g, f, o = jnp.split(gates, 4)
    c = jax.nn.sigmoid(f + 1.0) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c)


def layer_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """Layer norm over the last axis without learned scale/offset (haiku's eps)."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.var(x, axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps)


def flat_input_size(input_shape: tuple[int, ...], pad_to: int | None) -> int:
    """Size of the flattened (and optionally zero-padded) input vector."""
    size = 1
    for d in input_shape:
        size *= int(d)
    if pad_to is None:
        return size
    if pad_to < size:
        raise UserError(
            f"pad_inputs_to={pad_to} is smaller than the flattened input size {size} "
            f"(input shape {tuple(input_shape)}); use None or a value >= {size}"
        )
    return int(pad_to)


def padded_outputs(num_outputs: int, pad_to: int | None) -> int:
    """Number of logits the learner emits (``pad_to`` when padding, else ``num_outputs``)."""
    if num_outputs < 1:
        raise UserError(f"num_outputs must be >= 1, got {num_outputs}")
    if pad_to is None:
        return int(num_outputs)
    if pad_to < num_outputs:
        raise UserError(
            f"pad_outputs_to={pad_to} is smaller than the number of classes {num_outputs}; "
            f"use None or a value >= {num_outputs}"
        )
    return int(pad_to)


def flatten_pad(x: jax.Array, size: int) -> jax.Array:
    """Flatten ``x`` and append zeros up to ``size`` entries."""
    flat = jnp.reshape(x, (-1,)).astype(jnp.float32)
    return jnp.pad(flat, (0, size - flat.shape[0]))


def check_positive(name: str, value: float | None, allow_none: bool = False) -> None:
    """Raise a UserError unless ``value`` is > 0 (or None when allowed)."""
    if value is None and allow_none:
        return
    if value is None or value <= 0:
        raise UserError(f"config key {name!r} must be > 0, got {value!r}")
