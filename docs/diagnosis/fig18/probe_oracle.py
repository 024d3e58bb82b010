"""A Hebbian learner with hand-set meta-parameters on the pipeline's episodes (4,096 per
split): label block of W = 30 I (softmax(out) ~ onehot(fed-back label)), alpha = 1,
eta = sigmoid(0) -- Oja's rule then stores each support image in its label's column and the
query is classified by dot product.  Reaches the max-dot matcher of probe_nn.py iff the
label of example t arrives with input t+1 and the query's never does.

    python docs/diagnosis/fig18/probe_oracle.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from common import make_eval, setup

from vsml import data

_, group = setup("hebbian")
learner = group.learner
D, WAYS = 49, 5
init = learner.init_meta_params(jax.random.PRNGKey(0))
w = jnp.zeros_like(init["w"]).at[D + WAYS:, :].set(30.0 * jnp.eye(WAYS))
matcher = {"w": w, "b": jnp.zeros(WAYS), "alpha": jnp.ones_like(init["alpha"]),
           "eta_logit": jnp.asarray(0.0)}
for split in ("train", "test"):
    spec = data.TaskSpec(dataset="omniglot_small", split=split, image_size=7, fewshot_ways=5)
    prepared = data.prepare(spec)
    evaluate = make_eval(learner, lambda k, d, spec=spec: data.sample_episode(k, d, 6, spec))
    blind = {**matcher, "w": jnp.zeros_like(w)}
    for name, params in (("hand-set", matcher), ("label pathway removed", blind)):
        _, correct, _ = evaluate(params, prepared, jax.random.PRNGKey(5), n=4096)
        c = np.asarray(correct).reshape(-1, 6)
        print(f"{split}: {name} Hebbian query acc {c[:, -1].mean():.3f} "
              f"(support {c[:, :-1].mean():.3f})")
