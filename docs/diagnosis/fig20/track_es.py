"""ES meta-training exactly as `vsml meta-train` (same trainer, keys and population layout),
printing every K steps what the network's output is made of.
Usage: track.py CONFIG LAYOUT STEPS K OUT.npz [--set ...]"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from vsml.episode import run_episode
from vsml.meta.config import load_config
from vsml.meta.meta_train import build_groups, build_trainer, run_keys

cfgfile, layout, steps, K, out = (
    sys.argv[1],
    sys.argv[2],
    int(sys.argv[3]),
    int(sys.argv[4]),
    sys.argv[5],
)
TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "%s", "image_size": 7}]' % layout
mini = [
    "meta_train.length=200",
    "meta_train.chunk=8",
    "es.pairs=32",
    "es.learning_rate=0.05",
    "tasks.random_projection_fraction=0.5",
]
cfg = load_config(cfgfile, sets=[TASK] + mini + sys.argv[6:])
groups = build_groups(cfg)
tr = build_trainer(cfg, groups)
init_key, loop_key = run_keys(cfg.meta_train.seed)
state = tr.init(init_key)
import os

if os.environ.get("INIT_FROM"):  # warm start: meta-params of another run's checkpoint, fresh Adam
    import optax

    from vsml.meta import checkpoint as ckpt

    mp0 = ckpt.load_meta_params(os.environ["INIT_FROM"], state.meta_params)
    opt = optax.adam(cfg.es.learning_rate, b1=cfg.es.b1, b2=cfg.es.b2)
    state = state._replace(
        meta_params=jax.tree_util.tree_map(jnp.asarray, mp0), opt_state=opt.init(mp0)
    )
    print("warm start from", os.environ["INIT_FROM"])
g0 = groups[0]
L = g0.learner
ep = jax.vmap(lambda k: g0.sample(k, g0.data))(jax.random.split(jax.random.PRNGKey(99), 4))


@jax.jit
def probe(mp):
    r = jax.vmap(lambda e, k: run_episode(L, mp, e, k))(
        ep, jax.random.split(jax.random.PRNGKey(5), 4)
    )
    lg = r.logits[:, 100:]  # [4, 100, 10], second half of the episode
    centred = lg - lg.mean(-1, keepdims=True)
    return (
        jnp.abs(centred).mean(),
        centred.std(1).mean(),
        r.loss[:, 100:].mean(),
        r.correct[:, 100:].mean(),
    )


saved = {}
t0 = time.time()
for s in range(steps + 1):
    if s % K == 0:
        mp = state.meta_params
        a, b, l, acc = (float(v) for v in probe(mp))
        extra = ""
        if "ln" in mp:
            extra = " ln.fwd_scale[1] %.3f" % float(mp["ln"]["fwd_scale"][1])
        extra += " |W_fwd[:,1]| %.3f" % float(jnp.linalg.norm(mp["fwd"]["w"][:, 1]))
        print(
            f"step {s}: ES loss {m['meta_loss'] if s else float('nan'):.4f} |g| {m['grad_norm'] if s else float('nan'):.4f} | probe: |centred logit| {a:.4f} "
            f"std over t {b:.4f} loss(t>100) {l:.4f} acc {acc:.3f} |{extra}  ({time.time() - t0:.0f}s)",
            flush=True,
        )
        saved[f"step{s}"] = np.asarray(jax.flatten_util.ravel_pytree(mp)[0])
        np.savez(out, **saved)
    if s == steps:
        break
    state, m = tr.step(state, jax.random.fold_in(loop_key, s))
    m = {k: float(v) for k, v in m.items()}
