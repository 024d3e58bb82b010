"""What a fixed matcher gets on the pipeline's episodes (4,000 per split and size): 1-NN on
the standardized pixels, max dot product, max centred cosine; and the label facts.

    python docs/diagnosis/fig18/probe_nn.py
"""

import jax
import numpy as np
from common import ROOT  # noqa: F401  (puts the project on sys.path)

from vsml import data

for split in ("train", "test"):
    for size in (7, 14, 28):
        spec = data.TaskSpec(dataset="omniglot_small", split=split, image_size=size, fewshot_ways=5)
        prepared = data.prepare(spec)
        ep = data.sample_episodes(jax.random.PRNGKey(0), prepared, 6, spec, 4000)
        x, y = np.asarray(ep.x), np.asarray(ep.y)
        sup, q = x[:, :5], x[:, 5]

        def acc(score, y=y):
            pred = np.take_along_axis(y[:, :5], score.argmax(1)[:, None], 1)[:, 0]
            return np.mean(pred == y[:, 5])

        c, qc = sup - sup.mean(-1, keepdims=True), q - q.mean(-1, keepdims=True)
        cosine = (c * qc[:, None]).sum(-1) / (np.linalg.norm(c, axis=-1)
                                              * np.linalg.norm(qc, axis=-1)[:, None] + 1e-9)
        print(f"{split} {size}x{size}: {prepared.class_index.shape[0]} characters; "
              f"1-NN {acc(-((sup - q[:, None]) ** 2).sum(-1)):.3f}, "
              f"max dot {acc((sup * q[:, None]).sum(-1)):.3f}, "
              f"max centred cosine {acc(cosine):.3f}; "
              f"supports a permutation of 0..4: {np.all(np.sort(y[:, :5], 1) == np.arange(5))}, "
              f"query labels {sorted(set(y[:, 5].tolist()))}", flush=True)
