"""Shared set-up of the Fig. 18 diagnosis probes (docs/diagnosis.md, "Fig. 18: the Omniglot
baselines at chance"): the learners, episodes and meta-loss of the `mini` Fig. 18 runs
(omniglot_small at 7x7, 5-way 1-shot, 6 steps, loss on the query), built with the project's
own code (vsml.meta.meta_train.build_groups), so the probes see exactly what ES sees."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from vsml.episode import run_episode  # noqa: E402
from vsml.meta.config import load_config  # noqa: E402
from vsml.meta.meta_train import build_groups  # noqa: E402

CONFIG = {"metarnn": "config/metarnn.yaml", "fwmemory": "config/fwmemory.yaml",
          "hebbian": "config/hebbian.yaml", "vsml": "config/omniglot.yaml"}


def fig18_sets(method: str, pairs: int = 64, lr: float | None = None, size: int = 7,
               extra=()) -> list[str]:
    """The --set keys of the mini pipeline's Fig. 18 meta-train job (snakemake -n -p)."""
    task = json.dumps([{"dataset": "omniglot_small", "fewshot_ways": 5, "fewshot_shots": 1,
                        "image_size": size}])
    lr = lr if lr is not None else (0.025 if method == "vsml" else 0.01)
    return [f"tasks.datasets={task}", "meta_train.length=6", "meta_train.chunk=16",
            f"es.pairs={pairs}", f"es.learning_rate={lr}",
            "tasks.random_projection_fraction=0.0", "meta_train.loss=last", *extra]


def setup(method: str, **kw):
    """(RunConfig, TaskGroup) of the mini Fig. 18 run of ``method`` (train split)."""
    config = load_config(ROOT / CONFIG[method], fig18_sets(method, **kw), method)
    return config, build_groups(config)[0]


def make_eval(learner, sample):
    """evaluate(params, data, key, n) -> (loss, correct, y), each [n / 64, 64, 6]."""

    def evaluate(params, data, key, n=2048):
        def one(i):
            episode = sample(jax.random.fold_in(key, i), data)
            result = run_episode(learner, params, episode, jax.random.fold_in(key, 10**6 + i))
            return result.loss, result.correct, episode.y

        return jax.lax.map(jax.vmap(one), jnp.arange(n).reshape(-1, 64))

    return jax.jit(evaluate, static_argnames=("n",))
