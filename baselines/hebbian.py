"""Hebbian fast-weight baseline (Miconi et al. 2018): one plastic layer, Oja's rule.

The layer reads ``z = [x, a_e, a_l]``: the flattened input followed by two
"auxiliary" blocks of size O (outputs).  Its output is

    out(z) = z @ (W + alpha * F) + b

with learned slow weights W, learned elementwise plasticity coefficients alpha,
bias b and plasticity rate eta = sigmoid(eta_logit); F is the fast (Hebbian)
weight matrix, the learned state, zero at the start of every episode.

Exact online update (paper Appendix C.2: "errors and label fed as additional
inputs"): at step t the learner receives x_t and the feedback of step t-1.

1. Update for the previous example (skipped at t = 0 via a ``started`` flag):
   z' = [x_{t-1}, e_{t-1}, onehot(y_{t-1})], y' = softmax(out(z')) (unsquashed),
   and Oja's rule, elementwise over input i and output j,

       F_ij <- F_ij + eta * y'_j * (z'_i - y'_j * F_ij).

   (``use_oja=False`` gives the plain decaying Hebb rule
   F_ij <- (1 - eta) F_ij + eta z'_i y'_j.)
2. Prediction: z = [x_t, 0, 0], logits = 100 * tanh(out(z) / 100).

This matches the authors' ordering (predict with zero auxiliary inputs, then
update F from the same input with error and label inserted), shifted by one step
so that the error/label of example t-1 arrive with x_t.

Init (as the authors'): W truncated normal std 1/sqrt(D + 2O), b = 0,
alpha = 0.01, eta_logit = -4.5 (eta ~ 0.011).  Padding options as in the Meta RNN
(the paper-scale configs set ``pad_inputs_to=784, pad_outputs_to=62``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from baselines.common import (
    check_positive,
    dense_init,
    flat_input_size,
    flatten_pad,
    padded_outputs,
)
from vsml.episode import squash
from vsml.learner import Feedback, PyTree


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of the Hebbian fast-weight baseline."""

    use_oja: bool = True
    alpha_init: float = 0.01
    eta_logit_init: float = -4.5
    tanh_bound: float | None = 100.0
    pad_inputs_to: int | None = None
    pad_outputs_to: int | None = None

    def __post_init__(self) -> None:
        check_positive("pad_inputs_to", self.pad_inputs_to, allow_none=True)
        check_positive("pad_outputs_to", self.pad_outputs_to, allow_none=True)


class HebbianState(NamedTuple):
    """fast: F [D + 2O, O]; prev_x: previous flattened input [D]; started: bool."""

    fast: jax.Array
    prev_x: jax.Array
    started: jax.Array


@dataclasses.dataclass(frozen=True)
class Hebbian:
    """The Hebbian fast-weight learner; see the module docstring."""

    config: Config
    input_shape: tuple[int, ...]
    num_outputs: int
    name: str = "hebbian"

    @property
    def input_size(self) -> int:
        return flat_input_size(self.input_shape, self.config.pad_inputs_to)

    @property
    def layer_inputs(self) -> int:
        return self.input_size + 2 * self.num_outputs

    def init_meta_params(self, key: jax.Array) -> PyTree:
        layer = dense_init(key, self.layer_inputs, self.num_outputs)
        return {
            "w": layer["w"],
            "b": layer["b"],
            "alpha": jnp.full_like(layer["w"], self.config.alpha_init),
            "eta_logit": jnp.asarray(self.config.eta_logit_init, jnp.float32),
        }

    def init_state(self, meta_params: PyTree, key: jax.Array) -> HebbianState:
        del meta_params, key
        return HebbianState(
            fast=jnp.zeros((self.layer_inputs, self.num_outputs), jnp.float32),
            prev_x=jnp.zeros((self.input_size,), jnp.float32),
            started=jnp.zeros((), bool),
        )

    @staticmethod
    def layer(meta_params: PyTree, fast: jax.Array, z: jax.Array) -> jax.Array:
        """out(z) = z @ (W + alpha * F) + b (unsquashed)."""
        return z @ (meta_params["w"] + meta_params["alpha"] * fast) + meta_params["b"]

    def plasticity(self, meta_params: PyTree, fast: jax.Array, z: jax.Array) -> jax.Array:
        """F after one Hebbian/Oja update from pre-synaptic z and softmax(out(z))."""
        eta = jax.nn.sigmoid(meta_params["eta_logit"])
        post = jax.nn.softmax(self.layer(meta_params, fast, z))
        if self.config.use_oja:
            return fast + eta * post[None, :] * (z[:, None] - post[None, :] * fast)
        return (1.0 - eta) * fast + eta * z[:, None] * post[None, :]

    def step(
        self, meta_params: PyTree, state: HebbianState, x: jax.Array, feedback: Feedback
    ) -> tuple[jax.Array, HebbianState]:
        prev_z = jnp.concatenate([state.prev_x, feedback.error, feedback.label])
        updated = self.plasticity(meta_params, state.fast, prev_z)
        fast = jnp.where(state.started, updated, state.fast)  # nothing to learn at t = 0
        x_flat = flatten_pad(x, self.input_size)
        z = jnp.concatenate([x_flat, jnp.zeros((2 * self.num_outputs,), jnp.float32)])
        logits = squash(self.layer(meta_params, fast, z), self.config.tanh_bound)
        return logits, HebbianState(fast, x_flat, jnp.ones((), bool))


def make_learner(config: Config, input_shape: tuple[int, ...], num_outputs: int) -> Hebbian:
    """Hebbian fast-weight learner for ``input_shape`` inputs and ``num_outputs`` classes."""
    outputs = padded_outputs(num_outputs, config.pad_outputs_to)
    flat_input_size(input_shape, config.pad_inputs_to)  # raises UserError on bad padding
    return Hebbian(config, tuple(int(d) for d in input_shape), outputs)
