"""What the dense layer of the conv VSML receives: the conv layer's forward messages
(layers[1].fwd_in, [128, 8]) for 100 different images at a fixed state (after 100 examples).
Compared with what the dense VSML's layer receives ([x_a, 0, ..., 0], x standardized)."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from vsml.episode import feedback_for
from vsml.learner import Feedback
from vsml.meta.config import load_config
from vsml.meta.meta_train import build_groups

TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "image", "image_size": 7}]'
cfg = load_config(
    "config/conv.yaml", sets=[TASK, "meta_train.length=200", "es.pairs=2"] + sys.argv[2:]
)
g = build_groups(cfg)[0]
L = g.learner
_, unr = ravel_pytree(L.init_meta_params(jax.random.PRNGKey(0)))
if sys.argv[1] == "-":
    sets = {"init": ravel_pytree(L.init_meta_params(jax.random.PRNGKey(0)))[0]}
else:
    d = np.load(sys.argv[1])
    sets = {k: d[k] for k in sorted(d.files, key=lambda s: int(s[4:]))}
ep = g.sample(jax.random.PRNGKey(3), g.data)
step = jax.jit(L.step)
for k, flat in sets.items():
    mp = unr(jnp.asarray(flat))
    st = L.init_state(mp, jax.random.PRNGKey(4))
    fb = Feedback(jnp.zeros(10), jnp.zeros(10))
    for t in range(100):
        lg, st = step(mp, st, ep.x[t], fb)
        _, fb = feedback_for(lg, ep.y[t])
    f = jax.vmap(lambda x: step(mp, st, x, fb)[1].layers[1].fwd_in)(ep.x[100:200])  # [100, 128, 8]
    f = np.asarray(f)
    across = f.std(0)  # per feature, per component: std over inputs
    print(
        f"{k}: conv output message per component: |mean| {np.abs(f.mean(0)).mean(0).round(3)}, std over inputs {across.mean(0).round(4)}; "
        f"ratio (input-dependent / constant) {across.mean() / np.abs(f.mean(0)).mean():.4f}"
    )
x = np.asarray(ep.x[100:200]).reshape(100, -1)
print(
    f"dense VSML receives x_a: |mean| {np.abs(x.mean(0)).mean():.3f}, std over inputs {x.std(0).mean():.3f}"
)
