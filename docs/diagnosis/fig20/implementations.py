"""Same episode, three implementations of the conv VSML (fast = fused C++ conv kernel)."""

import jax
import numpy as np

from vsml.episode import run_episode
from vsml.meta.config import load_config
from vsml.meta.meta_train import build_groups

TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "image", "image_size": 7}]'
res = {}
for impl in ["fast", "fast-jax", "reference"]:
    cfg = load_config(
        "config/conv.yaml",
        sets=[TASK, "meta_train.length=30", "es.pairs=2", f"model.implementation={impl}"],
    )
    g = build_groups(cfg)[0]
    L = g.learner
    mp = L.init_meta_params(jax.random.PRNGKey(0))
    mp = jax.tree_util.tree_map(
        lambda p: p + 0.3 * jax.random.normal(jax.random.PRNGKey(3), p.shape), mp
    )
    ep = g.sample(jax.random.PRNGKey(1), g.data)
    res[impl] = np.asarray(
        jax.jit(lambda mp: run_episode(L, mp, ep, jax.random.PRNGKey(2)).logits)(mp)
    )
for k in res:
    print(k, np.abs(res[k] - res["reference"]).max(), np.abs(res[k]).max())
