"""ES signal-to-noise at theta_0: the cosine between ES gradient estimates (the project's own
estimator, 64 and 1024 pairs) and the backprop gradient of the same meta-loss (query CE)
averaged over 8192 episodes; the per-episode gradient norm (the noise of one episode).

    python docs/diagnosis/fig18/probe_snr.py metarnn fwmemory hebbian vsml
"""

import dataclasses
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
from common import CONFIG, ROOT, fig18_sets, setup
from jax.flatten_util import ravel_pytree

from vsml.meta.config import load_config
from vsml.meta.es import episode_loss
from vsml.meta.meta_train import build_trainer


def cos(a, b):
    return float(jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))


for method in sys.argv[1:]:
    out = {}
    config, group = setup(method)
    learner = group.learner
    init_key = jax.random.fold_in(jax.random.PRNGKey(config.meta_train.seed), 0)  # run_keys
    params = learner.init_meta_params(init_key)
    flat, unravel = ravel_pytree(params)

    def loss_of(theta, key, i, group=group, learner=learner, unravel=unravel):
        episode = group.sample(jax.random.fold_in(key, i), group.data)
        init = jax.random.fold_in(key, 10**7 + i)
        return episode_loss(learner, unravel(theta), episode, init, "last")

    @jax.jit
    def backprop(theta, key):
        def one(idx):
            return jax.grad(loss_of)(theta, key, idx)

        ids = jnp.arange(4096).reshape(-1, 64)
        sums = jax.lax.map(lambda chunk: jax.vmap(one)(chunk).sum(0), ids)
        return sums.sum(0) / 4096

    g1, g2 = backprop(flat, jax.random.PRNGKey(1)), backprop(flat, jax.random.PRNGKey(2))
    true = (g1 + g2) / 2
    out["cos(backprop half 1, half 2)"] = cos(g1, g2)  # how well 8192 episodes pin it down
    single = jax.jit(lambda theta, key: jax.grad(loss_of)(theta, key, 0))
    out["|g| (8192 episodes)"] = float(jnp.linalg.norm(true))
    norms = [jnp.linalg.norm(single(flat, jax.random.PRNGKey(100 + j))) for j in range(32)]
    out["|g| of one episode"] = float(np.mean(norms))
    for pairs in (64, 1024):
        c = load_config(ROOT / CONFIG[method], fig18_sets(method, pairs=pairs), method)
        trainer = build_trainer(c, [dataclasses.replace(group, count=pairs)])
        ests = [ravel_pytree(trainer.estimate(params, jax.random.PRNGKey(1000 + r))[0])[0]
                for r in range(8)]
        out[f"cos(ES {pairs} pairs, backprop), mean of 8"] = float(
            np.mean([cos(e, true) for e in ests]))
        out[f"cos(sum of 8 ES {pairs}, backprop)"] = cos(sum(ests), true)
    print(method, f"d={flat.size}", json.dumps({k: round(v, 4) for k, v in out.items()}),
          flush=True)
