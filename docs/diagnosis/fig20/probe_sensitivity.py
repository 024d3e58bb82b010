"""Input sensitivity of the untrained network: fixed state after t examples, 256 different inputs."""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from vsml.episode import feedback_for
from vsml.learner import Feedback
from vsml.meta.config import load_config
from vsml.meta.meta_train import build_groups

layout = sys.argv[2]
TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "%s", "image_size": 7}]' % layout
sets = [TASK, "meta_train.length=300", "es.pairs=2"] + sys.argv[3:]
cfg = load_config(sys.argv[1], sets=sets)
g = build_groups(cfg)[0]
L = g.learner
for seed in range(3):
    mp = L.init_meta_params(jax.random.PRNGKey(seed))
    ep = g.sample(jax.random.PRNGKey(100 + seed), g.data)
    state = L.init_state(mp, jax.random.PRNGKey(7))
    fb = Feedback(jnp.zeros(10), jnp.zeros(10))
    step = jax.jit(L.step)
    out = []
    for t in range(300):
        if t in (1, 50, 200):
            xs = ep.x[t : t + 100] if t + 100 <= 300 else ep.x[:100]
            lg = jax.vmap(lambda x: step(mp, state, x, fb)[0])(ep.x[:100])
            lg = np.asarray(lg)
            c = lg - lg.mean(1, keepdims=True)
            out.append(
                f"t={t}: |logit| {np.abs(lg).mean():.3g}, std over inputs {lg.std(0).mean():.3g}, "
                f"class-centred std over inputs {c.std(0).mean():.3g}"
            )
        lg, state = step(mp, state, ep.x[t], fb)
        _, fb = feedback_for(lg, ep.y[t])
    print(f"seed {seed}: " + " | ".join(out))
