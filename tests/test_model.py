"""VSML model: reference == fast, Theorem 1, parameter counts, state handling."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vsml import kernels, theory
from vsml.episode import Episode, run_episode
from vsml.errors import UserError
from vsml.learner import num_numbers
from vsml.methods import make_learner
from vsml.model import VSML, Config, merge_batch_states

CASES = {
    "dense": (Config(), (12,)),
    "deep-feed-label": (Config(hidden_sizes=(6,), micro_ticks=3, feed_label=True), (12,)),
    "deep-ln-reverse": (Config(hidden_sizes=(6, 4), layer_norm=True, reverse_sweep=True), (12,)),
    "dense-n12": (Config(state_size=12, msg_size=4), (12,)),  # the kernel's generic-N loop
    "conv": (Config(conv_channels=(3,)), (6, 6, 2)),
    "conv-deep-ln": (
        Config(conv_channels=(2, 2), layer_norm=True, reverse_sweep=True, feed_label=True),
        (5, 5, 1),
    ),
}


def _episode_logits(config, shape, outputs=5, steps=12):
    learner = VSML(config, shape, outputs)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    # perturb so that the LSTM is far from its near-silent initialisation
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    params = tree.unflatten([p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    key = jax.random.PRNGKey(2)
    episode = Episode(
        jax.random.normal(key, (steps,) + shape), jax.random.randint(key, (steps,), 0, outputs)
    )
    run = jax.jit(lambda p, e: run_episode(learner, p, e, jax.random.PRNGKey(3)))
    return run(params, episode).logits


@pytest.mark.parametrize("implementation", ["fast", "fast-jax"])
@pytest.mark.parametrize("case", list(CASES))
def test_fast_equals_reference_over_an_episode(case, implementation):
    config, shape = CASES[case]
    if implementation == "fast":  # CI runs the fused kernel (dense layers), not its fallback
        assert kernels.dense_ticks_available()
    fast = _episode_logits(dataclasses.replace(config, implementation=implementation), shape)
    reference = _episode_logits(dataclasses.replace(config, implementation="reference"), shape)
    assert float(jnp.abs(fast).max()) > 0.05  # the comparison is not between zeros
    np.testing.assert_allclose(fast, reference, atol=1e-5, rtol=0)


def test_theorem_1_single_rnn_with_sparse_shared_matrix():
    size, n = 4, 3
    kw, kc, ks = jax.random.split(jax.random.PRNGKey(0), 3)
    w = jax.random.normal(kw, (n, n))
    c = jax.random.normal(kc, (n, n))
    state = jax.random.normal(ks, (size, size, n))
    w_tilde = theory.sparse_shared_matrix(w, c, size)
    for _ in range(3):
        expected = theory.minimal_vsml_tick(w, c, state)
        np.testing.assert_allclose(theory.single_rnn_tick(w_tilde, state), expected, atol=1e-5)
        state = expected
    # W~ is sparse: C where d = a (A^3 blocks), W alone where d = b != a and c = a
    nonzero = np.abs(np.asarray(w_tilde)).sum(axis=(2, 5)) > 0
    assert nonzero.sum() == size**3 + size * (size - 1)
    # and wrong: swapping W and C breaks the equality (the test can fail)
    w_wrong = theory.sparse_shared_matrix(c, w, size)
    assert not np.allclose(theory.single_rnn_tick(w_wrong, state),
                           theory.minimal_vsml_tick(w, c, state), atol=1e-3)


def test_paper_counts_for_default_vsml_on_mnist():
    learner = make_learner("vsml", (784,), 10)
    params = jax.eval_shape(learner.init_meta_params, jax.random.PRNGKey(0))
    state = jax.eval_shape(learner.init_state, params, jax.random.PRNGKey(0))
    assert num_numbers(params) == 2384
    layers = state.layers
    assert num_numbers(layers) == 257232


def test_initial_state_follows_reference():
    learner = make_learner("vsml", (50,), 4)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    s1 = learner.init_state(params, jax.random.PRNGKey(1))
    s2 = learner.init_state(params, jax.random.PRNGKey(2))
    layer = s1.layers[0]
    assert layer.h.shape == (50, 4, 16) and not layer.h.any()
    assert not layer.c[..., 8:].any() and layer.c[..., :8].std() > 0
    assert abs(float(layer.c[..., :8].std()) - 1 / np.sqrt(50)) < 0.03
    assert not np.allclose(layer.c, s2.layers[0].c)  # a new random state per episode


def test_untrained_vsml_outputs_small_logits_and_messages_are_averaged():
    learner = make_learner("vsml", (784,), 10)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    state = learner.init_state(params, jax.random.PRNGKey(1))
    zeros = jnp.zeros(10)
    from vsml.learner import Feedback

    logits, _ = learner.step(params, state, jnp.ones(784), Feedback(zeros, zeros))
    assert logits.shape == (10,)
    # averaged (not summed) messages keep the output scale independent of A
    assert float(jnp.abs(logits).max()) < 1.0


def test_merge_batch_states_shares_first_half_only():
    learner = make_learner("vsml", (6,), 3)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    states = jax.vmap(lambda k: learner.init_state(params, k))(keys)
    merged = merge_batch_states(states)
    c = merged.layers[0].c
    np.testing.assert_allclose(c[0, ..., :8], c[3, ..., :8])
    np.testing.assert_allclose(c[..., :8].mean(0), states.layers[0].c[..., :8].mean(0), atol=1e-6)
    np.testing.assert_array_equal(c[..., 8:], states.layers[0].c[..., 8:])


def test_state_clip():
    learner = make_learner("vsml", (6,), 3, {"state_clip": 0.01})
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    episode = Episode(jnp.ones((5, 6)) * 10, jnp.zeros(5, jnp.int32))
    state = learner.init_state(params, jax.random.PRNGKey(1))
    from vsml.learner import Feedback

    z = jnp.zeros(3)
    _, state = learner.step(params, state, episode.x[0], Feedback(z, z))
    assert float(jnp.abs(state.layers[0].c).max()) <= 0.01 + 1e-7


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"implementation": "fastest"}, "valid choices: fast, fast-jax, reference"),
        ({"micro_tick": 2}, "did you mean 'micro_ticks'"),
        ({"state_size": 0}, "state_size must be >= 1"),
        ({"msg_size": "eight"}, "msg_size"),
    ],
)
def test_bad_config_is_a_clear_user_error(overrides, message):
    with pytest.raises(UserError, match=message):
        make_learner("vsml", (784,), 10, overrides)


def test_conv_needs_image_inputs():
    with pytest.raises(UserError, match="image inputs"):
        make_learner("vsml", (784,), 10, {"conv_channels": (8,)})


def test_atomic_writes_have_normal_permissions(tmp_path):
    import os
    import stat

    from vsml.io import write_text_atomic

    path = write_text_atomic(tmp_path / "x.csv", "a,b\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]
