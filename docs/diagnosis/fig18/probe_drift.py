"""Where an ES run's upward meta-loss drift comes from: the size of theta_T - theta_0 per
block, against Adam's rms displacement under a pure-noise gradient (lr * sqrt(steps)); the
query CE at theta_T against theta_0 moved by a *random* displacement of the same per-block
rms (2,048 training-alphabet episodes).

    python docs/diagnosis/fig18/probe_drift.py METHOD RUN_DIR
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from common import make_eval, setup
from jax.flatten_util import ravel_pytree

from vsml.meta import checkpoint as ckpt
from vsml.meta.meta_train import run_keys

method, run = sys.argv[1], sys.argv[2]
config, group = setup(method)
learner = group.learner
p0 = learner.init_meta_params(run_keys(config.meta_train.seed)[0])
pT = ckpt.load_meta_params(f"{run}/meta_params.npz", jax.eval_shape(lambda: p0))
evaluate = make_eval(learner, group.sample)


def ce_acc(params):
    loss, correct, _ = evaluate(params, group.data, jax.random.PRNGKey(321), n=2048)
    return (round(float(np.asarray(loss).reshape(-1, 6)[:, -1].mean()), 4),
            round(float(np.asarray(correct).reshape(-1, 6)[:, -1].mean()), 4))


leaves0, tree = jax.tree_util.tree_flatten(p0)
leavesT = tree.flatten_up_to(pT)
rand = []
for r in range(3):
    keys = jax.random.split(jax.random.PRNGKey(50 + r), len(leaves0))
    moved = [a + jax.random.normal(k, a.shape) * jnp.sqrt(jnp.mean((b - a) ** 2))
             for a, b, k in zip(leaves0, leavesT, keys)]
    rand.append(ce_acc(jax.tree_util.tree_unflatten(tree, moved)))
f0, fT = ravel_pytree(p0)[0], ravel_pytree(pT)[0]
print(f"{method} {run}: rms(theta_0)={float(jnp.sqrt(jnp.mean(f0 ** 2))):.3f} "
      f"rms(theta_T - theta_0)={float(jnp.sqrt(jnp.mean((fT - f0) ** 2))):.3f}")
print(f"  train-alphabet (query CE, query acc): theta_0 {ce_acc(p0)}, theta_T {ce_acc(pT)}, "
      f"theta_0 + random displacement of theta_T's per-block rms {rand}")
for (path, _), a, b in zip(jax.tree_util.tree_flatten_with_path(p0)[0], leaves0, leavesT):
    print(f"    {jax.tree_util.keystr(path)}: rms0 {float(jnp.sqrt(jnp.mean(a ** 2))):.3f} "
          f"rms delta {float(jnp.sqrt(jnp.mean((b - a) ** 2))):.3f}")
