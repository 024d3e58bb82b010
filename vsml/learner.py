"""The one protocol every online learner implements (VSML and all baselines).

A learner is a bundle of pure functions over small pytrees:

* ``init_meta_params(key)`` -> the meta-parameters (what meta-training changes);
* ``init_state(meta_params, key)`` -> a fresh per-episode learned state;
* ``step(meta_params, state, x, feedback)`` -> ``(logits, state)``: one online
  example.  ``x`` is the current input (flat ``[D]`` or an image ``[H, W, C]``)
  and ``feedback`` carries the error and one-hot label of the *previous*
  example (zeros at t = 0), exactly as in the paper's Algorithm 2.

Learners without meta-parameters (online SGD/Adam) return an empty dict.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax

PyTree = Any


class Feedback(NamedTuple):
    """What a learner is told about its previous prediction.

    error: softmax(logits_{t-1}) - onehot(y_{t-1}), shape [num_outputs]
           (the gradient of the cross-entropy w.r.t. the logits).
    label: onehot(y_{t-1}), shape [num_outputs].
    """

    error: jax.Array
    label: jax.Array


@runtime_checkable
class Learner(Protocol):
    """Interface of an online learner; see the module docstring."""

    name: str
    input_shape: tuple[int, ...]
    num_outputs: int

    def init_meta_params(self, key: jax.Array) -> PyTree: ...

    def init_state(self, meta_params: PyTree, key: jax.Array) -> PyTree: ...

    def step(
        self, meta_params: PyTree, state: PyTree, x: jax.Array, feedback: Feedback
    ) -> tuple[jax.Array, PyTree]: ...


def num_numbers(tree: PyTree) -> int:
    """Total count of scalars in a pytree of arrays (or ShapeDtypeStructs)."""
    return int(sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(tree)))
