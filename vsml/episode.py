"""One generic episode runner (the paper's Algorithm 2) for any online learner.

An episode is a stream of T labelled examples.  At step t the learner sees
x_t together with the feedback (error, label) of step t-1, predicts logits_t,
and only afterwards is the label y_t revealed.  The whole episode runs under
``lax.scan``; ``run_episodes`` vmaps it over a batch of episodes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from vsml.learner import Feedback, Learner, PyTree


class Episode(NamedTuple):
    """x: [T, *input_shape] float32 inputs; y: [T] int32 labels."""

    x: jax.Array
    y: jax.Array


class EpisodeResult(NamedTuple):
    """Per-step outputs: logits [T, B], loss [T] (cross-entropy), correct [T] (bool)."""

    logits: jax.Array
    loss: jax.Array
    correct: jax.Array


def squash(logits: jax.Array, bound: float | None = 100.0) -> jax.Array:
    """The paper's output squashing, bound * tanh(y / bound) (None: identity)."""
    if not bound:
        return logits
    return bound * jnp.tanh(logits / bound)


def feedback_for(logits: jax.Array, label: jax.Array) -> tuple[jax.Array, Feedback]:
    """Cross-entropy of ``logits`` for integer ``label`` and the feedback it yields."""
    onehot = jax.nn.one_hot(label, logits.shape[-1], dtype=logits.dtype)
    log_probs = jax.nn.log_softmax(logits)
    loss = -jnp.sum(onehot * log_probs)
    error = jnp.exp(log_probs) - onehot
    return loss, Feedback(error=error, label=onehot)


def run_episode(
    learner: Learner, meta_params: PyTree, episode: Episode, key: jax.Array
) -> EpisodeResult:
    """Run one online episode from a fresh state drawn with ``key``."""
    state = learner.init_state(meta_params, key)
    zeros = jnp.zeros((learner.num_outputs,), jnp.float32)

    def one_example(carry, example):
        state, feedback = carry
        x, y = example
        logits, state = learner.step(meta_params, state, x, feedback)
        loss, feedback = feedback_for(logits, y)
        correct = jnp.argmax(logits) == y
        return (state, feedback), EpisodeResult(logits, loss, correct)

    _, result = jax.lax.scan(one_example, (state, Feedback(zeros, zeros)), (episode.x, episode.y))
    return result


def run_episodes(
    learner: Learner, meta_params: PyTree, episodes: Episode, keys: jax.Array
) -> EpisodeResult:
    """``run_episode`` vmapped over a leading episode axis (shared meta-parameters)."""
    return jax.vmap(lambda e, k: run_episode(learner, meta_params, e, k))(episodes, keys)


def cumulative_accuracy(correct: jax.Array, axis: int = -1) -> jax.Array:
    """Mean correctness of all predictions up to and including each step.

    ``cumulative_accuracy(c)[..., t-1]`` is the paper's "cumulative accuracy
    after t examples".
    """
    correct = jnp.asarray(correct, jnp.float32)
    steps = jnp.arange(1, correct.shape[axis] + 1, dtype=jnp.float32)
    shape = [1] * correct.ndim
    shape[axis] = -1
    return jnp.cumsum(correct, axis=axis) / steps.reshape(shape)


def accuracy_after(correct: jax.Array, num_examples: int) -> jax.Array:
    """Cumulative accuracy after the first ``num_examples`` examples (last axis = time)."""
    if num_examples < 1 or num_examples > correct.shape[-1]:
        raise ValueError(
            f"num_examples must be in [1, {correct.shape[-1]}] for an episode of "
            f"{correct.shape[-1]} examples, got {num_examples}"
        )
    return jnp.mean(jnp.asarray(correct[..., :num_examples], jnp.float32), axis=-1)
