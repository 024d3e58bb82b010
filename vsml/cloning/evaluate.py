"""The unrolled evaluation over seeds and datasets and its tidy result tables."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np

from vsml.errors import UserError
from vsml.learner import PyTree

if TYPE_CHECKING:

    import pandas as pd

from vsml.cloning.network import cloned_accuracy, run_learning
from vsml.cloning.params import load_params
from vsml.cloning.presets import Preset
from vsml.cloning.rule import CloneConfig
from vsml.cloning.shadow import dataset_arrays, run_shadow_sgd, shadow_accuracy


def evaluate(params: PyTree, cc: CloneConfig, pr: Preset, datasets: tuple[str, ...],
             depths: tuple[str, ...], seeds: int, steps: int, prov: dict,
             hidden: int = 32, log=None, progress: bool = True
             ) -> tuple[list[dict], list[dict]]:
    """Cloned learner vs regular SGD (the exact rule) on each dataset / depth / seed.

    Returns (curve rows every ``pr.curve_every`` steps, summary rows with test accuracy).
    ``progress``: a bar with ETA per cloned run (stderr).
    """
    from tqdm import tqdm

    curves, summary = [], []
    inputs = (pr.image_size or 28) ** 2
    for dataset in datasets:
        x, y = dataset_arrays(pr.image_size, "train", dataset)
        xt, yt = dataset_arrays(pr.image_size, "test", dataset)
        if pr.test_examples:
            xt, yt = xt[:pr.test_examples], yt[:pr.test_examples]
        for depth in depths:
            sizes = (inputs, 10) if depth == "shallow" else (inputs, hidden, 10)
            for seed in range(seeds):
                key = jax.random.PRNGKey(1000 + seed)
                for method in ("cloned", "sgd"):
                    t0 = time.time()
                    if method == "cloned":
                        with tqdm(total=steps, desc=f"{dataset} {depth} seed {seed}",
                                  unit="step", disable=not progress) as bar:
                            curve, state = run_learning(params, cc, sizes, x, y, key, steps,
                                                        pr.eval_batch, progress=bar.update)
                        acc = cloned_accuracy(params, cc, state, xt, yt)
                    else:
                        curve, sp = run_shadow_sgd(cc, sizes, x, y, key, steps, pr.eval_batch)
                        acc = shadow_accuracy(cc, sp, xt, yt)
                    seconds = time.time() - t0
                    loss, bacc = np.asarray(curve.loss), np.asarray(curve.accuracy)
                    base = {"method": method, "depth": depth, "dataset": dataset, "seed": seed}
                    for t in range(0, steps, pr.curve_every):
                        k = min(t + pr.curve_every, steps)
                        curves.append({**base, "step": k, "loss": float(loss[t:k].mean()),
                                       "batch_accuracy": float(bacc[t:k].mean()), **prov})
                    summary.append({**base, "steps": steps, "batch": pr.eval_batch,
                                    "image_size": pr.image_size or 28,
                                    "test_examples": int(xt.shape[0]),
                                    "test_accuracy": acc,
                                    "final_train_loss": float(loss[-max(steps // 10, 1):].mean()),
                                    "cpu_seconds": round(seconds, 1), **prov})
                    if log:
                        log(f"clone-eval {dataset} {depth} seed {seed} {method}: test accuracy "
                            f"{acc:.3f}, final loss {summary[-1]['final_train_loss']:.3f} "
                            f"({seconds:.0f}s)")
    return curves, summary


# ------------------------------------------------------------- tidy result tables

TABLE_COLUMNS = ["figure", "row", "panel", "method", "depth", "clone_depth", "dataset",
                 "status", "reason", "seeds", "steps", "batch", "image_size", "test_examples",
                 "test_acc_mean", "test_acc_std", "final_loss_mean", "final_loss_std",
                 "cpu_seconds_mean", "scale", "params", "git_commit", "versions"]
FORWARD_COLUMNS = ["figure", "steps", "batch", "mae", "max_abs_error", "target_abs_mean",
                   "cpu_seconds", "scale", "git_commit", "versions"]
CLONE_COLUMNS = ["clone", "depth", "steps", "batch", "image_size", "shadow_steps", "hidden",
                 "cpu_seconds", "sign_dw", "sign_db", "corr_dw", "corr_db", "rms_y",
                 "rms_e_prev", "drift_dw", "scale", "git_commit", "versions"]


def fig5_rows(df):
    """Fig. 5 shows each arrangement learned by the clone cloned for it: the shallow curve by
    the shallow clone, the deep curve by the deep-curriculum clone (which also runs the
    shallow arrangement, Fig. 11).  Rows of another clone are used only where no matching
    clone ran that arrangement."""
    if "clone_depth" not in df.columns:
        return df
    own = df.clone_depth == df.depth
    has_own = df.depth.map(own.groupby(df.depth).any())
    return df[own | ~has_own]


def read_eval_summaries(paths: list[str]):
    import pandas as pd

    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise UserError(f"no clone-eval summary at {path} (run vsml clone-eval first)")
        frames.append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
    df = pd.concat(frames, ignore_index=True)
    need = {"method", "depth", "dataset", "seed", "test_accuracy", "final_train_loss"}
    if not need <= set(df.columns):
        raise UserError(f"{paths}: not clone-eval summaries (need columns {sorted(need)})")
    return df


def accuracy_table(figure: str, summaries) -> pd.DataFrame:
    """One row per (arrangement, dataset, method): test accuracy and final training loss,
    mean and std (ddof 0, as ``vsml aggregate``) over seeds; ``TABLE_COLUMNS``."""
    import pandas as pd

    df = fig5_rows(summaries) if figure == "fig5" else summaries
    rows = []
    for (depth, dataset, method), g in df.groupby(["depth", "dataset", "method"], sort=True):
        first = g.iloc[0]
        acc, loss = g.test_accuracy.to_numpy(float), g.final_train_loss.to_numpy(float)
        rows.append({
            "figure": figure, "row": depth, "panel": dataset, "method": method, "depth": depth,
            "clone_depth": first.get("clone_depth", ""), "dataset": dataset, "status": "ok",
            "reason": "", "seeds": int(g.seed.nunique()), "steps": int(first.get("steps", 0)),
            "batch": int(first.get("batch", 0)), "image_size": int(first.get("image_size", 0)),
            "test_examples": int(first.get("test_examples", 0)),
            "test_acc_mean": acc.mean(), "test_acc_std": acc.std(),
            "final_loss_mean": loss.mean(), "final_loss_std": loss.std(),
            "cpu_seconds_mean": float(g.cpu_seconds.mean()) if "cpu_seconds" in g else None,
            **{k: first.get(k, "") for k in ("scale", "params", "git_commit", "versions")}})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def forward_table(path: str) -> pd.DataFrame:
    import pandas as pd

    _, meta = load_params(path)
    if meta.get("kind") != "forward":
        raise UserError(f"{path} holds a {meta.get('kind', 'unknown')!r} clone, not a forward "
                        "one (vsml clone-forward)")
    row = {"figure": "fig10", "steps": meta["train"]["steps"], "batch": meta["train"]["batch"],
           **meta["grid_error"], "cpu_seconds": meta.get("cpu_seconds"),
           **{k: meta.get(k, "") for k in ("scale", "git_commit", "versions")}}
    return pd.DataFrame([row], columns=FORWARD_COLUMNS)


def clones_table(paths: list[str]) -> pd.DataFrame:
    """One row per backprop clone: its training budget and one-tick quality on MNIST."""
    import pandas as pd

    rows = []
    for path in paths:
        _, meta = load_params(path)
        if meta.get("kind") != "backprop":
            raise UserError(f"{path} holds a {meta.get('kind', 'unknown')!r} clone, not one "
                            "from vsml clone-backprop")
        image = meta.get("image_size")
        rows.append({"clone": str(path), "depth": meta.get("depth"),
                     "steps": meta["train"]["steps"], "batch": meta["train"]["batch"],
                     "image_size": image or 28, "shadow_steps": meta.get("shadow_steps"),
                     "hidden": meta.get("hidden"), "cpu_seconds": meta.get("cpu_seconds"),
                     **meta.get("mnist_tick_quality", {}),
                     **{k: meta.get(k, "") for k in ("scale", "git_commit", "versions")}})
    return pd.DataFrame(rows).reindex(columns=CLONE_COLUMNS)
