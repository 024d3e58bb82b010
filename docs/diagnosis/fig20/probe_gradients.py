"""Per-episode meta-gradients (backprop through the whole T=200 episode) at a meta-parameter
vector: how much of the gradient is common to all episodes (the signal ES averages) vs
episode-specific noise; plus the ES view: L+ - L- of antithetic pairs (sigma 0.05).
Usage: gsnr.py CONFIG LAYOUT [PARAMS.npz|-] [--set ...]"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from vsml.meta.config import load_config
from vsml.meta.es import episode_loss
from vsml.meta.meta_train import build_groups

cfgfile, layout, pfile = sys.argv[1:4]
TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "%s", "image_size": 7}]' % layout
cfg = load_config(cfgfile, sets=[TASK, "meta_train.length=200", "es.pairs=2"] + sys.argv[4:])
from vsml.meta.gradient import remat

g = build_groups(cfg)[0]
L = remat(g.learner)
E = 32
if pfile == "-":
    mp = L.init_meta_params(jax.random.PRNGKey(0))
else:
    d = np.load(pfile)
    flat0, unr = ravel_pytree(L.init_meta_params(jax.random.PRNGKey(0)))
    mp = unr(jnp.asarray(d["flat"]))
flat, unravel = ravel_pytree(mp)
keys = jax.random.split(jax.random.PRNGKey(123), E)


def one(k):
    ep = g.sample(jax.random.fold_in(k, 0), g.data)
    f = lambda th: episode_loss(L, unravel(th), ep, jax.random.fold_in(k, 1))
    l, gr = jax.value_and_grad(f)(flat)
    eps = jax.random.normal(jax.random.fold_in(k, 2), flat.shape)
    lp, lm = f(flat + 0.05 * eps), f(flat - 0.05 * eps)
    return l, gr, lp - lm, 2 * 0.05 * eps @ gr


t0 = time.time()
out = [jax.jit(lambda ks: jax.lax.map(one, ks))(keys)]
l, G, dL, lin = (np.concatenate([np.asarray(o[j]) for o in out]) for j in range(4))
gbar = G.mean(0)
rms = np.sqrt((G**2).sum(1).mean())
print(
    f"{cfgfile} {' '.join(sys.argv[4:])} params={pfile}: loss {l.mean():.4f}, |mean g| {np.linalg.norm(gbar):.3g}, "
    f"rms |g_i| {rms:.3g}, ratio {np.linalg.norm(gbar) / rms:.3f}; "
    f"ES L+-L-: std {dL.std():.3g}, corr with 2s eps.g_i {np.corrcoef(dL, lin)[0, 1]:.3f}  ({time.time() - t0:.0f}s)"
)
