"""Inside the conv VSML's dense (output) layer along ES: are the per-synapse forward messages
still synapse-specific, or has the message bias made them all the same vector (so that the
layer-normed message is LN(b_fwd) everywhere and the logits cannot depend on anything)?"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from vsml import model as vm
from vsml.episode import feedback_for
from vsml.learner import Feedback
from vsml.meta.config import load_config
from vsml.meta.meta_train import build_groups

TASK = 'tasks.datasets=[{"dataset": "mnist", "input_layout": "image", "image_size": 7}]'
cfg = load_config(
    "config/conv.yaml", sets=[TASK, "meta_train.length=100", "es.pairs=2"] + sys.argv[2:]
)
g = build_groups(cfg)[0]
L = g.learner
_, unr = ravel_pytree(L.init_meta_params(jax.random.PRNGKey(0)))
d = np.load(sys.argv[1])
ep = g.sample(jax.random.PRNGKey(3), g.data)
step = jax.jit(L.step)
for k in sorted(d.files, key=lambda s: int(s[4:])):
    mp = unr(jnp.asarray(d[k]))
    st = L.init_state(mp, jax.random.PRNGKey(4))
    fb = Feedback(jnp.zeros(10), jnp.zeros(10))
    for t in range(100):
        lg, st = step(mp, st, ep.x[t], fb)
        _, fb = feedback_for(lg, ep.y[t])
    h = st.layers[-1].h  # [128, 10, N] dense layer
    pre = h @ mp["fwd"]["w"]  # synapse-specific part
    var_part = np.asarray(pre - pre.mean((0, 1))).std()
    post, _ = vm._messages(mp, h)  # LN'd messages [128, 10, 8]
    comp1 = np.asarray(post[..., 1])
    print(
        f"{k}: |b_fwd| {float(jnp.linalg.norm(mp['fwd']['b'])):.2f}, |W_fwd h| (rms) {float(jnp.sqrt((pre**2).sum(-1).mean())):.3f}, "
        f"synapse-specific part of W_fwd h (std) {var_part:.4f}; LN'd component 1: std over synapses {comp1.std():.4f}, "
        f"std over classes of its mean over a {comp1.mean(0).std():.4f}; centred logit {float(jnp.abs(lg - lg.mean()).mean()):.4f}"
    )
