"""Figures of learning-algorithm cloning: Fig. 10 (forward computation), Figs. 5 and 11
(learning curves of cloned backprop vs regular SGD).  Each is written as PDF and PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vsml.errors import UserError


def _save(fig, out: str | os.PathLike) -> list[Path]:
    import io

    from vsml.io import write_bytes_atomic

    out = Path(out)
    paths = []
    for suffix in (".pdf", ".png"):
        buf = io.BytesIO()
        fig.savefig(buf, format=suffix[1:], dpi=150, bbox_inches="tight")
        paths.append(write_bytes_atomic(out.with_suffix(suffix), buf.getvalue()))
    return paths


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig10(params_path: str, out: str) -> list[Path]:
    """Left: the clone's y over x for several w (targets dashed); right: |error| heat map."""
    import jax.numpy as jnp

    from vsml.cloning.forward import forward_predict, forward_target
    from vsml.cloning.params import config_from_meta, load_params

    params, meta = load_params(params_path)
    if meta.get("kind") != "forward":
        raise UserError(f"fig10 needs parameters from clone-forward, {params_path} is "
                        f"{meta.get('kind', 'unknown')!r}")
    cc = config_from_meta(meta)
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    x = jnp.linspace(-3, 3, 121)
    colors = plt.cm.viridis(np.linspace(0, 1, 7))
    for w, col in zip(np.linspace(-cc.w_max, cc.w_max, 7), colors):
        ww = jnp.full_like(x, w)
        ax1.plot(x, np.asarray(forward_predict(params, cc, x, ww)), color=col,
                 label=f"w={w:+.1f}")
        ax1.plot(x, np.asarray(forward_target(x, ww)), color=col, ls="--", lw=0.8)
    ax1.set_xlabel("input x")
    ax1.set_ylabel("LSTM output y (dashed: tanh(x) w)")
    ax1.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22),
               frameon=False)
    gx, gw = jnp.meshgrid(jnp.linspace(-3, 3, 121), jnp.linspace(-cc.w_max, cc.w_max, 81))
    err = np.abs(np.asarray(forward_predict(params, cc, gx, gw) - forward_target(gx, gw)))
    im = ax2.imshow(err, origin="lower", aspect="auto", cmap="magma",
                    extent=(-3, 3, -cc.w_max, cc.w_max))
    fig.colorbar(im, ax=ax2, label="|y - tanh(x) w|")
    ax2.set_xlabel("input x")
    ax2.set_ylabel("weight w")
    ax2.set_title(f"mean abs. error {err.mean():.3f}", fontsize=9)
    steps = meta.get("train", {}).get("steps", "?")
    fig.suptitle(f"Forward computation cloned into one VSML sub-LSTM ({steps} Adam steps) · "
                 f"scale: {meta.get('scale') or '?'}", fontsize=9)
    fig.tight_layout()
    paths = _save(fig, out)
    plt.close(fig)
    return paths


def _curves(paths: list[str]):
    import pandas as pd

    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise UserError(f"no clone-eval curves at {p} (run vsml clone-eval first)")
        frames.append(pd.read_csv(p))
    df = pd.concat(frames, ignore_index=True)
    need = {"method", "depth", "dataset", "seed", "step", "loss"}
    if not need <= set(df.columns):
        raise UserError(f"{paths}: not clone-eval curves (need columns {sorted(need)})")
    return df


_LABEL = {"cloned": "Cloned BP", "sgd": "Regular SGD"}
_TITLE = {"mnist": "Learning on MNIST\n(within distribution)",
          "fashion_mnist": "Learning on Fashion MNIST\n(out of distribution)"}


def _panel(ax, df, depths):
    colors = {("cloned", "shallow"): "C0", ("sgd", "shallow"): "C1",
              ("cloned", "deep"): "C2", ("sgd", "deep"): "C3"}
    for depth in depths:
        for method in ("cloned", "sgd"):
            sub = df[(df.method == method) & (df.depth == depth)]
            if sub.empty:
                continue
            g = sub.groupby("step")["loss"]
            mean, std = g.mean(), g.std().fillna(0.0)
            col = colors[(method, depth)]
            # regular SGD dashed: where the clone tracks it, both curves stay visible
            ax.plot(mean.index, mean.values, color=col, ls="--" if method == "sgd" else "-",
                    label=f"{_LABEL[method]} ({depth}), {sub.seed.nunique()} seeds")
            ax.fill_between(mean.index, mean - std, mean + std, color=col, alpha=0.2)
    ax.set_xlabel("Gradient step")


def _finish(fig, axes, df, title: str) -> None:
    """One legend below the panels (every curve once) and a title with the scale."""
    handles = {}
    for ax in np.ravel(axes):
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    scales = ", ".join(sorted({str(x) for x in df.get("scale", [])})) or "?"
    fig.suptitle(f"{title}\nmean ± std over seeds · scale: {scales}", fontsize=9)
    fig.tight_layout(rect=(0, 0.1 if len(np.ravel(axes)) <= 2 else 0.06, 1, 1))
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 4),
               fontsize=8, frameon=False)


def fig5(paths: list[str], out: str) -> list[Path]:
    """Training loss over steps, cloned BP vs regular SGD, per dataset (mean +- std).

    Each arrangement comes from the clone cloned for it (``cloning.fig5_rows``)."""
    from vsml.cloning.evaluate import fig5_rows

    df = fig5_rows(_curves(paths))
    plt = _plt()
    datasets = [d for d in ("mnist", "fashion_mnist") if d in set(df.dataset)]
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.4),
                             sharey=True, squeeze=False)
    for ax, d in zip(axes[0], datasets):
        _panel(ax, df[df.dataset == d], ("shallow", "deep"))
        ax.set_title(_TITLE[d], fontsize=9)
    axes[0][0].set_ylabel("Training loss")
    _finish(fig, axes, df, "Learning purely by unrolling the VSML RNN (cloned backprop) "
            "vs regular SGD")
    paths_out = _save(fig, out)
    plt.close(fig)
    return paths_out


def fig11(paths: list[str], out: str) -> list[Path]:
    """(a) shallow and (b) deep arrangements run by the same (deep-curriculum) clone."""
    df = _curves(paths)
    plt = _plt()
    datasets = [d for d in ("mnist", "fashion_mnist") if d in set(df.dataset)]
    depths = [d for d in ("shallow", "deep") if d in set(df.depth)]
    fig, axes = plt.subplots(len(depths), len(datasets), squeeze=False,
                             figsize=(4.5 * len(datasets), 3.2 * len(depths)), sharey=True)
    for i, depth in enumerate(depths):
        for ax, d in zip(axes[i], datasets):
            _panel(ax, df[df.dataset == d], (depth,))
            ax.set_title(f"({'ab'[i]}) {depth} arrangement — {_TITLE[d].splitlines()[0]}",
                         fontsize=8)
        axes[i][0].set_ylabel("Training loss")
    _finish(fig, axes, df, "One VSML RNN (deep curriculum) trains both arrangements")
    paths_out = _save(fig, out)
    plt.close(fig)
    return paths_out


def make_figure(name: str, inputs: list[str], out: str) -> list[Path]:
    """Dispatch for ``vsml clone-figure``."""
    if name == "fig10":
        if len(inputs) != 1:
            raise UserError("fig10 takes exactly one input: the clone-forward .npz")
        return fig10(inputs[0], out)
    if name == "fig5":
        return fig5(inputs, out)
    if name == "fig11":
        return fig11(inputs, out)
    raise UserError(f"unknown figure {name!r}; valid choices: fig5, fig10, fig11")
