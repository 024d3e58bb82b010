"""ES and gradient meta-training engines on a tiny learner (seconds)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from vsml.episode import Episode, run_episode
from vsml.errors import UserError
from vsml.meta.es import (
    TaskGroup,
    make_es,
    make_layout,
    make_mesh,
    split_counts,
    synthetic_group,
)
from vsml.meta.gradient import make_gradient


class Tiny:
    """Online linear classifier; meta-params: its initial weights and log learning rate."""

    name = "tiny"

    def __init__(self, inputs: int, outputs: int, log_lr: float = -3.0):
        self.input_shape, self.num_outputs, self.log_lr = (inputs,), outputs, log_lr

    def init_meta_params(self, key):
        return {"w0": 0.01 * jax.random.normal(key, (self.input_shape[0], self.num_outputs)),
                "log_lr": jnp.full((), self.log_lr)}

    def init_state(self, meta_params, key):
        noise = 0.01 * jax.random.normal(key, meta_params["w0"].shape)
        return {"w": meta_params["w0"] + noise, "x": jnp.zeros(self.input_shape)}

    def step(self, meta_params, state, x, feedback):
        w = state["w"] - jnp.exp(meta_params["log_lr"]) * jnp.outer(state["x"], feedback.error)
        return x @ w, {"w": w, "x": x}


def teacher_group(learner, length, count, name="teacher", seed=0):
    """Labels from a fixed linear teacher: learnable by the meta-learned initial weights."""
    d, b = learner.input_shape[0], learner.num_outputs
    teacher = jax.random.normal(jax.random.PRNGKey(100 + seed), (d, b))

    def sample(key, data):
        x = jax.random.normal(key, (length, d))
        return Episode(x, jnp.argmax(x @ data, axis=-1).astype(jnp.int32))

    return TaskGroup(name, learner, sample, teacher, count)


def test_split_counts_and_layout():
    assert split_counts(10, [1, 1, 1]) == [4, 3, 3]
    assert split_counts(1024, [0.5, 0.25, 0.25]) == [512, 256, 256]
    assert sum(split_counts(1024, [1] * 24)) == 1024
    layout = make_layout(offset=5, count=7, devices=2, chunk=3)
    assert layout.padded >= 7 and layout.padded % 2 == 0 and layout.chunk <= 3
    assert layout.padded - 7 < layout.devices * layout.chunks  # pads less than a chunk/device
    with pytest.raises(UserError):
        split_counts(0, [1.0])


def test_es_estimate_matches_formula():
    """g = mean_i (L+ - L-) / (2 s^2) * (s eps_i); both members on one episode and key."""
    learner = Tiny(5, 3)
    groups = [teacher_group(learner, 12, 3), teacher_group(learner, 12, 2, "b", seed=1)]
    sigma = 0.05
    trainer = make_es(groups, noise_std=sigma, chunk=2)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(7)
    grad, metrics = trainer.estimate(params, key)

    flat, unravel = ravel_pytree(params)
    k_noise, k_episode, k_init = jax.random.split(key, 3)

    @jax.jit
    def pair_losses(index, data):  # written independently of vsml.meta.es, one pair at a time
        eps = jax.random.normal(jax.random.fold_in(k_noise, index), flat.shape)
        episode = groups[0].sample(jax.random.fold_in(k_episode, index), data)
        init_key = jax.random.fold_in(k_init, index)
        plus = jnp.mean(run_episode(learner, unravel(flat + sigma * eps), episode, init_key).loss)
        minus = jnp.mean(run_episode(learner, unravel(flat - sigma * eps), episode,
                                     init_key).loss)
        return plus, minus, eps

    total, losses, index = np.zeros_like(flat), [], 0
    for group in groups:
        for _ in range(group.count):
            plus, minus, eps = pair_losses(index, group.data)
            total += (float(plus) - float(minus)) / (2 * sigma**2) * (sigma * np.asarray(eps))
            losses += [float(plus), float(minus)]
            index += 1
    expected = total / index
    np.testing.assert_allclose(ravel_pytree(grad)[0], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(metrics["meta_loss"], np.mean(losses), rtol=1e-6)


def test_es_invariant_to_chunking():
    learner = Tiny(4, 3)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    grads = []
    for chunk in (2, 8):
        trainer = make_es([teacher_group(learner, 10, 7)], chunk=chunk)
        grads.append(ravel_pytree(trainer.estimate(params, jax.random.PRNGKey(3))[0])[0])
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-7)


def test_es_lowers_meta_loss():
    learner = Tiny(6, 3)
    trainer = make_es([teacher_group(learner, 20, 16)], learning_rate=0.05, chunk=16)
    state = trainer.init(jax.random.PRNGKey(0))
    losses = []
    for step in range(40):
        state, metrics = trainer.step(state, jax.random.PRNGKey(1000 + step))
        losses.append(float(metrics["meta_loss"]))
    assert int(state.step) == 40
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < first - 0.1, (first, last)


def test_gradient_matches_autodiff():
    learner = Tiny(5, 3)
    group = teacher_group(learner, 12, 4)
    trainer = make_gradient([group], chunk=3, remat_steps=True)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(5)
    grad, metrics = trainer.estimate(params, key)

    k_episode, k_init = jax.random.split(key)

    def batch_loss(p):
        return jnp.mean(jnp.stack([
            jnp.mean(run_episode(learner, p, group.sample(jax.random.fold_in(k_episode, i),
                                                          group.data),
                                 jax.random.fold_in(k_init, i)).loss)
            for i in range(4)
        ]))

    value, expected = jax.value_and_grad(batch_loss)(params)
    np.testing.assert_allclose(metrics["meta_loss"], value, rtol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(expected),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_gradient_meta_training_lowers_loss_and_clips():
    learner = Tiny(6, 3)
    trainer = make_gradient([teacher_group(learner, 20, 8)], learning_rate=0.05, chunk=8,
                            clip_norm=1e-3)
    state = trainer.init(jax.random.PRNGKey(0))
    first = None
    for step in range(25):
        state, metrics = trainer.step(state, jax.random.PRNGKey(step))
        first = float(metrics["meta_loss"]) if first is None else first
    assert float(metrics["meta_loss"]) < first - 0.1


def test_last_prediction_loss_and_bad_loss_name():
    learner = Tiny(4, 2)
    trainer = make_es([teacher_group(learner, 6, 2)], loss="last", chunk=2)
    _, metrics = trainer.estimate(learner.init_meta_params(jax.random.PRNGKey(0)),
                                  jax.random.PRNGKey(1))
    assert np.isfinite(metrics["meta_loss"])
    with pytest.raises(UserError, match="meta loss"):
        make_es([teacher_group(learner, 6, 2)], loss="sum")


def test_groups_with_different_meta_param_shapes_are_refused():
    groups = [synthetic_group(Tiny(4, 3), 4, 3, 5, 2, "a"),
              synthetic_group(Tiny(6, 3), 6, 3, 5, 2, "b")]
    trainer = make_es(groups, chunk=2)
    with pytest.raises(UserError, match="pad"):
        trainer.init(jax.random.PRNGKey(0))


def test_mesh_uses_all_devices():
    assert make_mesh().devices.size == jax.device_count()
