"""Online gradient descent baselines: SGD / Adam, batch size 1, one update per example.

The network is an MLP with tanh hidden activations (``hidden_sizes=()`` is the
paper's shallow linear baseline, ``(160,)`` the deep one, ~127k parameters on
MNIST) and output squashing ``100 * tanh(y / 100)``.  Learning rates default to
the paper's grid-searched values: 1e-2 for SGD, 1e-3 for Adam.

There are no meta-parameters (``init_meta_params`` returns ``{}``).  The network
weights are the learned state, initialised in ``init_state`` from its key like
haiku's ``hk.Linear`` (truncated normal, std 1/sqrt(fan_in), zero bias).

Online protocol: at step t the learner receives x_t and the feedback of step t-1.
It first applies the update for example t-1 -- the gradient of the cross-entropy
of the stored previous input x_{t-1} against ``feedback.label`` -- and then
predicts x_t with the updated weights.  This equals the usual loop "predict x_t,
then take a gradient step on (x_t, y_t)".  At t = 0 there is no previous example:
a ``started`` flag in the state (not a test for zero feedback) skips that update,
so neither the weights nor the optimizer state (e.g. Adam's step count) change.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from baselines.common import (
    check_positive,
    dense,
    dense_init,
    flat_input_size,
    flatten_pad,
    padded_outputs,
)
from vsml.episode import squash
from vsml.errors import check_choice
from vsml.learner import Feedback, PyTree

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LEARNING_RATES = {"sgd": 1e-2, "adam": 1e-3}


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of the online SGD/Adam baselines.

    pad_inputs_to / pad_outputs_to: zero-pad the flattened input / add extra
    logits (None: no padding).  Unneeded for gradient descent, kept for parity
    with the meta-learned baselines (the paper-scale configs set 784 / 62 there).
    """

    optimizer: str = "sgd"
    hidden_sizes: tuple[int, ...] = ()
    learning_rate: float | None = None  # None: 1e-2 for SGD, 1e-3 for Adam
    tanh_bound: float | None = 100.0
    pad_inputs_to: int | None = None
    pad_outputs_to: int | None = None

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for size in self.hidden_sizes:
            check_positive("hidden_sizes", size)
        check_positive("learning_rate", self.learning_rate, allow_none=True)

    @property
    def lr(self) -> float:
        """The learning rate actually used."""
        if self.learning_rate is None:
            return DEFAULT_LEARNING_RATES[self.optimizer]
        return float(self.learning_rate)


class OnlineState(NamedTuple):
    """params: list of {w, b} per layer; prev_x: flattened previous input;
    started: False until the first example has been predicted."""

    params: list[dict[str, jax.Array]]
    opt_state: Any
    prev_x: jax.Array
    started: jax.Array


@dataclasses.dataclass(frozen=True)
class OnlineLearner:
    """Online SGD/Adam on an MLP; see the module docstring."""

    config: Config
    input_shape: tuple[int, ...]
    num_outputs: int

    @property
    def name(self) -> str:
        depth = "deep" if self.config.hidden_sizes else "shallow"
        return f"{self.config.optimizer}-{depth}"

    @property
    def input_size(self) -> int:
        return flat_input_size(self.input_shape, self.config.pad_inputs_to)

    def optimizer(self) -> optax.GradientTransformation:
        make = optax.sgd if self.config.optimizer == "sgd" else optax.adam
        return make(self.config.lr)

    def init_network(self, key: jax.Array) -> list[dict[str, jax.Array]]:
        sizes = (self.input_size, *self.config.hidden_sizes, self.num_outputs)
        keys = jax.random.split(key, len(sizes) - 1)
        pairs = zip(keys, sizes[:-1], sizes[1:], strict=True)
        return [dense_init(k, fan_in, fan_out) for k, fan_in, fan_out in pairs]

    def apply(self, params: list[dict[str, jax.Array]], x_flat: jax.Array) -> jax.Array:
        """Squashed logits of the MLP for one flattened (padded) input."""
        h = x_flat
        for layer in params[:-1]:
            h = jnp.tanh(dense(layer, h))
        return squash(dense(params[-1], h), self.config.tanh_bound)

    def loss(self, params: list[dict[str, jax.Array]], x_flat: jax.Array,
             onehot: jax.Array) -> jax.Array:
        """Cross-entropy of the prediction for ``x_flat`` against a one-hot label."""
        return -jnp.sum(onehot * jax.nn.log_softmax(self.apply(params, x_flat)))

    def init_meta_params(self, key: jax.Array) -> PyTree:
        del key
        return {}

    def init_state(self, meta_params: PyTree, key: jax.Array) -> OnlineState:
        del meta_params
        params = self.init_network(key)
        return OnlineState(
            params=params,
            opt_state=self.optimizer().init(params),
            prev_x=jnp.zeros((self.input_size,), jnp.float32),
            started=jnp.zeros((), bool),
        )

    def step(
        self, meta_params: PyTree, state: OnlineState, x: jax.Array, feedback: Feedback
    ) -> tuple[jax.Array, OnlineState]:
        del meta_params
        opt = self.optimizer()
        grads = jax.grad(self.loss)(state.params, state.prev_x, feedback.label)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        # No previous example at t = 0: keep weights and optimizer state untouched.
        def keep(new, old):
            return jnp.where(state.started, new, old)

        params = jax.tree_util.tree_map(keep, params, state.params)
        opt_state = jax.tree_util.tree_map(keep, opt_state, state.opt_state)
        x_flat = flatten_pad(x, self.input_size)
        logits = self.apply(params, x_flat)
        return logits, OnlineState(params, opt_state, x_flat, jnp.ones((), bool))


def make_learner(config: Config, input_shape: tuple[int, ...], num_outputs: int) -> OnlineLearner:
    """Online SGD/Adam learner for ``input_shape`` inputs and ``num_outputs`` classes."""
    outputs = padded_outputs(num_outputs, config.pad_outputs_to)
    flat_input_size(input_shape, config.pad_inputs_to)  # raises UserError on bad padding
    return OnlineLearner(config, tuple(int(d) for d in input_shape), outputs)
