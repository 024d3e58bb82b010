"""Meta-test streams in which every drawn example is shown several times in a row.

The introspection of the paper's Fig. 9 meta-tests on "MNIST digits with two examples for
each type. The same digit is always repeated twice" and watches the learner in "only 20
steps".  We read this as: one test image of each of the 10 classes, in random order, each
shown twice in consecutive steps (image k at steps 2k+1 and 2k+2, 1-based), 20 steps in all.
The second showing comes together with the error of the first (the feedback of step t
arrives with input t+1), so its accuracy measures how fast a learner binds an input to its
label.  ``repeated_episode`` draws such streams (``vsml meta-test --repeat K
--one-per-class``); the order "every image twice in a row" rather than "the whole set
twice" is our reading of "the same digit is always repeated twice".
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from vsml.data.tasks import TaskData, TaskSpec, _check_data, _postprocess, sample_episode
from vsml.episode import Episode
from vsml.errors import UserError


def check_repeat(length: int, repeat: int, one_per_class: bool, spec: TaskSpec) -> None:
    """Clear errors for stream options that cannot work with ``spec``."""
    if not isinstance(repeat, int) or repeat < 1:
        raise UserError(f"--repeat must be an integer >= 1, got {repeat!r}")
    if length % repeat:
        raise UserError(f"--length {length} must be a multiple of --repeat {repeat} (every "
                        "drawn example is shown --repeat times in a row)")
    if one_per_class and (spec.dataset in ("random", "sum_sign") or spec.num_classes
                          is not None):
        raise UserError(f"--one-per-class needs a dataset with files and no class subset "
                        f"(task.num_classes), got {spec.dataset}"
                        + (f" with num_classes={spec.num_classes}" if spec.num_classes else ""))


def _one_per_class(key: jax.Array, data: TaskData, distinct: int, spec: TaskSpec):
    """``distinct`` examples in blocks of C: each block one example of every class, shuffled.

    Within a class the examples are drawn without replacement (while they last)."""
    k_pick, k_order = jax.random.split(key)
    classes, per_class = data.class_index.shape
    blocks = -(-distinct // classes)
    scores = jax.random.uniform(k_pick, (classes, per_class))
    scores = jnp.where(jnp.arange(per_class)[None, :] < data.class_count[:, None], scores, -1.0)
    _, picks = jax.lax.top_k(scores, min(blocks, per_class))  # [C, picks]
    picks = picks[:, jnp.arange(blocks) % picks.shape[1]]  # cycle if a class runs out
    idx = jnp.take_along_axis(data.class_index, picks, axis=1)  # [C, blocks]
    orders = jax.vmap(lambda k: jax.random.permutation(k, classes))(
        jax.random.split(k_order, blocks))  # [blocks, C]
    idx = idx.T[jnp.arange(blocks)[:, None], orders].reshape(-1)[:distinct]
    return data.x[idx], data.y[idx]


@functools.partial(jax.jit, static_argnames=("length", "spec", "repeat", "one_per_class"))
def repeated_episode(key: jax.Array, data: TaskData, length: int, spec: TaskSpec,
                     repeat: int = 1, one_per_class: bool = False) -> Episode:
    """An episode of ``length`` steps: ``length / repeat`` examples, each ``repeat`` times.

    Without ``one_per_class`` the distinct examples are the stream ``sample_episode`` draws
    (so ``repeat=1`` is exactly ``sample_episode``); with it they come in shuffled blocks
    holding one example of every class.  Per-episode augmentations of ``spec`` (pixel
    shuffle, projection) are the same for all showings of an example."""
    check_repeat(length, repeat, one_per_class, spec)
    distinct = length // repeat
    if one_per_class:
        _check_data(data, spec, length)
        k_stream, k_post = jax.random.split(key)
        x, y = _one_per_class(k_stream, data, distinct, spec)
        episode = Episode(_postprocess(k_post, x, spec, data.image_shape), y.astype(jnp.int32))
    else:
        episode = sample_episode(key, data, distinct, spec)
    if repeat == 1:
        return episode
    return Episode(jnp.repeat(episode.x, repeat, axis=0), jnp.repeat(episode.y, repeat))
