"""Fig. 18's 5-way 1-shot protocol as the meta-learned baselines see it.

These pin down the facts behind docs/diagnosis.md, "Fig. 18: the Omniglot baselines at
chance": the Meta RNN, FW memory and Hebbian baselines get 5 unpadded outputs, the label of
support example t reaches them with input t+1 and never before, the query's own label never
reaches them, and a Hebbian learner with hand-set meta-parameters is a one-shot matcher on
these episodes (so the protocol carries what a baseline needs; at chance means it was not
meta-learned, not that it could not see the labels).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

from vsml import data as D
from vsml import methods
from vsml.episode import Episode, run_episode
from vsml.meta.config import load_config
from vsml.meta.meta_train import build_learner
from vsml.repro import pipeline

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ["metarnn", "fwmemory", "hebbian"]
WAYS, LENGTH, SIZE = 5, 6, 7


def blocky_omniglot(classes: int = 12, per_class: int = 4, flip: float = 0.03, seed: int = 0):
    """uint8 28x28 'characters': a random 7x7 binary prototype per class, blown up to 4x4
    blocks (so a 7x7 resize keeps it), each drawing with a few blocks flipped."""
    rng = np.random.default_rng(seed)
    protos = rng.random((classes, SIZE, SIZE)) < 0.3
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)
    drawings = protos[labels] ^ (rng.random((len(labels), SIZE, SIZE)) < flip)
    strokes = np.kron(drawings, np.ones((4, 4), bool))
    images = np.where(strokes, 0, 255).astype(np.uint8)[..., None]  # black strokes on white
    return images, labels


def fewshot_data(**kw):
    spec = D.TaskSpec("omniglot", fewshot_ways=WAYS, image_size=SIZE)
    images, labels = blocky_omniglot(**kw)
    return spec, D.prepare_arrays(D.RawSplit(images, labels), spec)


def fewshot_episodes(n: int, seed: int = 0, **kw) -> Episode:
    spec, data = fewshot_data(**kw)
    return D.sample_episodes(jax.random.PRNGKey(seed), data, LENGTH, spec, n)


def query_accuracy(learner, params, episodes: Episode) -> float:
    run = jax.jit(jax.vmap(lambda e, k: run_episode(learner, params, e, k)))
    keys = jax.random.split(jax.random.PRNGKey(1), episodes.y.shape[0])
    return float(np.mean(np.asarray(run(episodes, keys).correct)[:, -1]))


def test_fig18_baselines_have_five_unpadded_outputs():
    """The learners the mini plan's Fig. 18 runs build: 49 inputs, a 5-way softmax (the
    Fig. 8 runs pad to EMNIST's 62 classes; a padded softmax would start below ln 5)."""
    config = yaml.safe_load((ROOT / "config/pipeline.yaml").read_text())
    name, settings = pipeline.resolve_scale({**config, "scale": "mini"})
    plan = pipeline.Plan(settings, name, lambda d: True)
    for cell in plan.cells["fig18"]:
        if cell.method not in BASELINES:
            continue
        job = plan.train[plan.test[cell.test_job].train]
        config = load_config(ROOT / job.config_file, list(job.sets), cell.method)
        spec = config.tasks.datasets[0]
        assert config.meta_train.loss == "last" and config.meta_train.length == LENGTH
        assert config.model.pad_outputs_to is None and spec.pad_classes_to is None
        learner = build_learner(config, spec)
        assert learner.num_outputs == WAYS and learner.input_shape == (SIZE * SIZE,)


@pytest.mark.parametrize("method", BASELINES)
def test_label_of_example_t_arrives_with_input_t_plus_1(method):
    overrides = {"alpha_init": 1.0, "eta_logit_init": -3.0} if method == "hebbian" else {}
    learner = methods.make_learner(method, (SIZE * SIZE,), WAYS, overrides)
    params = learner.init_meta_params(jax.random.PRNGKey(0))
    episode = jax.tree_util.tree_map(lambda a: a[0], fewshot_episodes(1))
    run = jax.jit(lambda e: run_episode(learner, params, e, jax.random.PRNGKey(2)).logits)
    base = np.asarray(run(episode))
    y = np.asarray(episode.y)
    assert sorted(y[:WAYS].tolist()) == list(range(WAYS)) and 0 <= y[-1] < WAYS
    for t in range(LENGTH):
        other = Episode(episode.x, episode.y.at[t].set((y[t] + 1) % WAYS))
        changed = np.abs(np.asarray(run(other)) - base).max(axis=-1)
        # nothing up to and including step t depends on y_t (predicted before it is shown) ...
        np.testing.assert_array_equal(changed[: t + 1], 0.0)
        # ... and a support label reaches the learner with the next input; the query's never
        if t < LENGTH - 1:
            assert changed[t + 1] > 1e-6, (method, t)


def test_hand_set_hebbian_is_a_one_shot_matcher():
    """The label block of W maps the fed-back label to softmax(out) ~ onehot(label), so
    Oja's rule stores each support input in its label's column of F; the query is then
    classified by its dot product with the stored inputs.  Without that label pathway the
    same learner is at chance."""
    learner = methods.make_learner("hebbian", (SIZE * SIZE,), WAYS)
    init = learner.init_meta_params(jax.random.PRNGKey(0))
    d = SIZE * SIZE
    w = jnp.zeros_like(init["w"]).at[d + WAYS:, :].set(30.0 * jnp.eye(WAYS))
    matcher = {"w": w, "b": jnp.zeros(WAYS), "alpha": jnp.ones_like(init["alpha"]),
               "eta_logit": jnp.asarray(-3.0)}
    episodes = fewshot_episodes(512)
    assert query_accuracy(learner, matcher, episodes) > 0.9
    assert query_accuracy(learner, {**matcher, "w": jnp.zeros_like(w)}, episodes) < 0.35
