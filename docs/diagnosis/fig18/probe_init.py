"""Step 0 of the Fig. 18 runs: output width, parameter count, the query cross-entropy at the
initial meta-parameters theta_0 and at theta_0 +- sigma*eps (what ES's meta_loss logs).

    python docs/diagnosis/fig18/probe_init.py metarnn fwmemory hebbian vsml
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
from common import make_eval, setup
from jax.flatten_util import ravel_pytree

SIGMA = 0.05
for method in sys.argv[1:]:
    config, group = setup(method)
    learner = group.learner
    init_key = jax.random.fold_in(jax.random.PRNGKey(config.meta_train.seed), 0)  # run_keys
    params = learner.init_meta_params(init_key)
    flat, unravel = ravel_pytree(params)
    evaluate = make_eval(learner, group.sample)
    key = jax.random.PRNGKey(123)
    loss, correct, _ = evaluate(params, group.data, key)
    loss, correct = np.asarray(loss).reshape(-1, 6), np.asarray(correct).reshape(-1, 6)
    eps = jax.random.normal(jax.random.PRNGKey(7), (8,) + flat.shape)
    perturbed = []
    for k in range(8):  # 8 perturbations, 256 episodes each
        lp, _, _ = evaluate(unravel(flat + SIGMA * eps[k]), group.data,
                            jax.random.fold_in(key, k), n=256)
        perturbed.append(float(np.asarray(lp).reshape(-1, 6)[:, -1].mean()))
    print(f"{method}: outputs={learner.num_outputs} input={learner.input_shape} "
          f"params={flat.size} rms(theta_0)={float(jnp.sqrt(jnp.mean(flat ** 2))):.3f} "
          f"query CE at theta_0={loss[:, -1].mean():.4f} (ln 5 = 1.6094) "
          f"support CE={loss[:, :-1].mean():.4f} query acc={correct[:, -1].mean():.3f}; "
          f"query CE at theta_0 + sigma*eps={np.mean(perturbed):.4f} "
          f"[{min(perturbed):.3f}, {max(perturbed):.3f}]", flush=True)
