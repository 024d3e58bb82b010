"""Cross-check: the JAX online SGD/Adam learners against an independent PyTorch loop."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from baselines import torch_check  # imports torch lazily
from vsml import methods
from vsml.episode import Episode, run_episode

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("method", ["sgd-shallow", "sgd-deep", "adam-shallow", "adam-deep"])
def test_jax_and_torch_trajectories_agree(method):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    steps, dim, classes = 200, 12, 4
    protos = rng.normal(size=(classes, dim))
    ys = rng.integers(0, classes, size=steps)
    xs = (protos[ys] + 0.5 * rng.normal(size=(steps, dim))).astype(np.float32)

    learner = methods.make_learner(method, (dim,), classes)
    key = jax.random.PRNGKey(7)
    episode = Episode(xs, ys.astype(np.int32))
    result = jax.jit(lambda e, k: run_episode(learner, {}, e, k))(episode, key)
    params = [{k: np.asarray(v) for k, v in layer.items()}
              for layer in learner.init_state({}, key).params]
    expected = torch_check.online_predictions(
        params, xs, ys, learner.config.optimizer, learner.config.lr
    )
    np.testing.assert_allclose(np.asarray(result.logits), expected, atol=1e-4, rtol=1e-4)
    # it learned something, so the comparison covers the updates
    assert np.mean(np.argmax(expected[100:], -1) == ys[100:]) > 0.5
