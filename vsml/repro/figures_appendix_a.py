"""Drawing Figs. 9 and 17 (introspection heat maps) and Fig. 19 (short-horizon bias).

* Figs. 9/17: one heat map per learner (VSML on top, online Adam below, as in the paper) of
  the output probabilities of every class (rows) at every step (columns) of one meta-test
  stream; the true class is marked with an open square, the predicted class with a dot.
  Fig. 9 separates the two showings of each image with a thin line.  Both learners see the
  same stream (same meta-test seed); the figure refuses to draw streams whose labels differ.
* Fig. 19: cumulative accuracy curves (mean +- std over episodes) over the long meta-test,
  a dashed vertical line at the meta-training horizon T and, for each gradient-descent
  learner that overtakes VSML, its crossing step with the bootstrap 95% interval shaded.
Cells that did not run show their reason instead of a plot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from vsml.errors import UserError
from vsml.repro.figures import COLORS, CURVE_LABELS, METHOD_LABELS, _style, dataset_label

TITLES = {
    "fig9": "Introspection: output probabilities on MNIST, every image shown twice",
    "fig17": "Introspection: output probabilities on the MNIST test stream",
    "fig19": "Short-horizon bias: meta-testing far beyond the meta-training horizon",
}


def _learner_label(row: pd.Series) -> str:
    label = METHOD_LABELS.get(row.method, row.method)
    if row.train not in ("", "none"):
        label += f" (meta-trained on {dataset_label(row.train)})"
    return label.replace("Adam", "online Adam") if row.method.startswith("adam") else label


def _panel_title(fig: str, row: pd.Series) -> str:
    if row.status != "ok":
        return _learner_label(row)
    if fig == "fig9":
        stats = (f"{int(row.seeds)} streams: 1st showing {100 * row.first_mean:.0f}% correct, "
                 f"2nd {100 * row.second_mean:.0f}% (p true {row.second_p_true_mean:.2f})")
    else:
        stats = f"{int(row.seeds)} streams: {100 * row.acc_mean:.0f}% correct"
    return f"{_learner_label(row)} · {stats}"


def draw_introspection(fig: str, summary: pd.DataFrame, steps: pd.DataFrame, scale: str = "",
                       episode: int = 0):
    """Heat maps of one stream (``episode``) for every learner of ``summary``."""
    plt = _style()
    rows = summary.reset_index(drop=True)
    probs = sorted((c for c in steps.columns if c[:1] == "p" and c[1:].isdigit()),
                   key=lambda c: int(c[1:]))
    length = int(steps.step.max()) if len(steps) else 20
    classes = len(probs) or 10
    width = min(max(7.0, 0.13 * length + 2.0), 15.0)
    figure, axes = plt.subplots(len(rows), 1, figsize=(width, 1.9 * len(rows) + 1.1),
                                squeeze=False, sharex=True, layout="constrained")
    labels_seen = None
    image = None
    for ax, (_, row) in zip(axes[:, 0], rows.iterrows()):
        ax.grid(False)
        ax.set_title(_panel_title(fig, row), fontsize=8, loc="left")
        ax.set_ylabel("class")
        sel = steps[(steps.method == row.method) & (steps.train == row.train)
                    & (steps.episode == episode)].sort_values("step")
        if row.status != "ok" or not len(sel):
            reason = row.reason if row.status != "ok" else f"no stream {episode}"
            ax.text(0.5, 0.5, reason, transform=ax.transAxes, ha="center", va="center",
                    fontsize=8, color="0.3")
            ax.set_yticks([])
            continue
        labels = sel.label.to_numpy()
        if labels_seen is not None and not np.array_equal(labels, labels_seen):
            raise UserError(f"{fig}: the learners saw different streams (labels differ in "
                            f"episode {episode}); meta-test them with the same seed")
        labels_seen = labels
        x = sel.step.to_numpy()
        grid = sel[probs].to_numpy().T  # [classes, steps]
        image = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                          extent=(x[0] - 0.5, x[-1] + 0.5, -0.5, classes - 0.5),
                          interpolation="nearest")
        ax.scatter(x, labels, marker="s", s=46, facecolors="none", edgecolors="white",
                   linewidths=1.1, label="true class")
        ax.scatter(x, sel.predicted.to_numpy(), marker="o", s=10, color="#ff5a36",
                   label="predicted class")
        if fig == "fig9" and int(sel.showing.max()) > 1:
            for start in x[sel.showing.to_numpy() == 1][1:]:
                ax.axvline(start - 0.5, color="white", lw=0.6, alpha=0.6)
        ax.set_yticks(range(classes))
        ax.tick_params(axis="y", labelsize=6)
    axes[-1, 0].set_xlabel("examples seen (each column: the prediction for that input, made "
                           "before its label is revealed)")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    if image is not None:
        figure.colorbar(image, ax=axes[:, 0].tolist(), label="output probability",
                        fraction=0.03, pad=0.01)
    handles, names = axes[0, 0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, names, loc="outside lower center", ncol=2, fontsize=7,
                      frameon=True, facecolor="0.55")
    figure.suptitle(f"{TITLES[fig]}\nstream {episode} of the meta-test · scale: "
                    f"{scale or '?'}", fontsize=9)
    return figure


def _fmt_step(value) -> str:
    return f"{int(float(value)):,}" if value not in ("", None) and np.isfinite(
        float(value)) else ""


def draw_horizon(summary: pd.DataFrame, curves: pd.DataFrame, scale: str = ""):
    """Fig. 19: cumulative accuracy over the long meta-test with the horizon line."""
    plt = _style()
    figure, ax = plt.subplots(1, 1, figsize=(6.4, 4.0), layout="constrained")
    notes = []
    for _, cell in summary.iterrows():
        label = CURVE_LABELS.get(cell.method, METHOD_LABELS.get(cell.method, cell.method))
        if cell.status != "ok":
            notes.append(f"{label}: {cell.reason}")
            continue
        sel = curves[(curves.method == cell.method) & (curves.train == cell.train)]
        color = COLORS.get(cell.method)
        ax.plot(sel.step, sel.acc_mean, color=color, lw=1.3, label=label,
                ls="-" if cell.method == "vsml" else "--")
        ax.fill_between(sel.step, sel.acc_mean - sel.acc_std, sel.acc_mean + sel.acc_std,
                        color=color, alpha=0.2, lw=0)
        cross = _fmt_step(cell.get("cross_step", ""))
        if cross == "1":
            notes.append(f"{label} is ahead of VSML from the first example on")
        elif cross:
            low, high = _fmt_step(cell.cross_low), _fmt_step(cell.cross_high)
            ax.axvline(float(cell.cross_step), color=color, lw=0.8, ls=":")
            if low:
                ax.axvspan(float(cell.cross_low), float(cell.cross_high) if high else
                           float(cell.length), color=color, alpha=0.08, lw=0)
            notes.append(f"{label} overtakes VSML at {cross} (95% interval {low or '?'}-"
                         f"{high or 'beyond ' + f'{int(cell.length):,}'})")
        elif cell.method != "vsml" and cell.get("versus", "") == "vsml":
            notes.append(f"{label} does not overtake VSML within {int(cell.length):,}")
    horizons = [float(h) for h in summary.get("horizon", []) if h not in ("", None)
                and np.isfinite(float(h))]
    if horizons:
        ax.axvline(horizons[0], color="0.2", lw=1.0, ls="--")
        ax.text(horizons[0], 0.98, f" meta-training horizon T = {int(horizons[0])}",
                transform=ax.get_xaxis_transform(), fontsize=7, va="top", ha="left",
                color="0.2")
    if notes:  # below the axes, where no curve runs
        ax.set_xlabel("Total examples seen\n\n" + "\n".join(notes))
    ax.set_ylim(0, 1.0)
    if not notes:
        ax.set_xlabel("Total examples seen")
    ax.set_ylabel("Cumulative accuracy")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", frameon=True)
    ok = summary[summary.status == "ok"]
    seeds = "/".join(map(str, sorted(set(ok.seeds.astype(int))))) if len(ok) else "0"
    figure.suptitle(f"{TITLES['fig19']}\nmeta-trained on MNIST · mean ± std over {seeds} "
                    f"seeds · scale: {scale or '?'}", fontsize=9)
    return figure
