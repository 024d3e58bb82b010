"""``vsml figure``: draw one of the paper's figures from the tidy tables of ``vsml aggregate``.

    vsml figure --figure fig8 --summary results/mini/fig8.csv --out figures/fig8.pdf
    vsml figure --figure fig6 --summary results/mini/fig6.csv \\
        --curves results/mini/fig6_curves.csv --out figures/fig6.pdf

Writes the PDF and a PNG next to it.  Styles follow the paper: cumulative accuracy curves
with mean +- std bands (Figs. 6, 12, 16), horizontal bars with std error bars (Fig. 7) and
the grid of meta-training distribution (rows) x meta-test dataset (columns) x method (bars)
of Figs. 8 and 13-15, where tasks seen in meta-training are pale and unseen ones opaque.
Cells that could not run are drawn as the text of their reason ("not run: data
unavailable") in place of the bar, never left out.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pandas as pd

from vsml.errors import UserError, check_choice
from vsml.io import write_bytes_atomic

METHOD_LABELS = {
    "vsml": "VSML", "metarnn": "Meta RNN", "hebbian": "Hebbian FW", "fwmemory": "FW Memory",
    "sgd-shallow": "SGD", "sgd-deep": "SGD (deep)", "adam-shallow": "Adam",
    "adam-deep": "Adam (deep)",
}
CURVE_LABELS = {"sgd-shallow": "Backprop + SGD", "adam-shallow": "Backprop + Adam",
                "sgd-deep": "Backprop + SGD (deep)", "adam-deep": "Backprop + Adam (deep)"}
DATASET_LABELS = {
    "mnist": "MNIST", "fashion_mnist": "Fashion MNIST", "kmnist": "KMNIST",
    "emnist": "EMNIST", "random": "Random", "sum_sign": "Sum Sign", "omniglot": "Omniglot",
    "cifar10": "CIFAR10",
}
COLORS = dict(zip(METHOD_LABELS, ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc",
                                  "#ca9161", "#949494", "#56b4e9"]))
# the conv VSML of Figs. 20 and 21 (vsml/repro/appendix_train.py)
METHOD_LABELS["vsml-conv"] = "VSML (conv)"
COLORS["vsml-conv"] = "#fbafe4"
TITLES = {
    "fig6": "VSML meta-trained on MNIST vs. online gradient descent",
    "fig7": "Robustness to unseen input/output configurations",
    "fig8": "Cumulative accuracy after {n} examples (random projections for VSML)",
    "fig12": "Meta-test learning curves on unseen tasks (leave-one-out meta-training)",
    "fig13": "Cumulative accuracy after {n} examples (random projections for VSML)",
    "fig14": "Cumulative accuracy after {n} examples, no random projections",
    "fig15": "Cumulative accuracy after {n} examples, random projections for all methods",
    "fig16": "Effect of the random projection augmentation (meta-trained on MNIST)",
}
GRID = ("fig8", "fig13", "fig14", "fig15")
CURVES = ("fig6", "fig12", "fig16")
FIGURES = ("fig6", "fig7", "fig8", "fig12", "fig13", "fig14", "fig15", "fig16")
LEGEND_COLUMNS = 4  # entries per row of a figure legend below the panels


def dataset_label(name: str) -> str:
    return DATASET_LABELS.get(name, name)


def dist_label(name: str) -> str:
    """"all_but_mnist" -> "All but MNIST"; a restricted pool keeps its "(available: ...)"."""
    name, sep, available = name.partition(" (available: ")
    suffix = f" (available: {available}" if sep else ""
    if name == "all":
        return "All" + suffix
    if name.startswith("all_but_"):
        return "All but " + dataset_label(name[len("all_but_"):]) + suffix
    return dataset_label(name) + suffix


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)
    plt.rcParams.update({"pdf.fonttype": 42, "axes.titlesize": 9, "axes.labelsize": 9,
                         "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8})
    return plt


def _metric(fig: str) -> tuple[str, str]:
    return ("acc100", "at_100") if fig == "fig13" else ("acc2000", "at_2000")


def _n_examples(summary: pd.DataFrame, at: str, default: int) -> int:
    ok = summary[summary.status == "ok"]
    return int(ok[at].max()) if len(ok) else default


def _curve_label(row: pd.Series, fig: str) -> str:
    label = CURVE_LABELS.get(row.method, METHOD_LABELS.get(row.method, row.method))
    if fig == "fig16" and row.variant in ("plain", "proj"):
        label += " + projection" if row.variant == "proj" else ""
    return label


def draw_curves(fig: str, summary: pd.DataFrame, curves: pd.DataFrame):
    plt = _style()
    panels = list(dict.fromkeys(summary.panel))
    ncols = min(3, len(panels)) if fig == "fig12" else len(panels)
    nrows = int(np.ceil(len(panels) / ncols))
    figure, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.8 * nrows), sharey=True,
                                squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels):
        cells = summary[summary.panel == panel]
        seen = set(cells[cells.method == "vsml"].seen) or set(cells.seen)
        where = "within distribution" if "seen" in seen else "out of distribution"
        ax.set_title(f"Meta Testing on {dataset_label(panel)}\n({where})")
        notes = []
        for _, cell in cells.iterrows():
            label = _curve_label(cell, fig)
            if cell.status != "ok":
                notes.append(f"{label}: {cell.reason}")
                continue
            sel = curves[(curves.panel == panel) & (curves.method == cell.method)
                         & (curves.variant == cell.variant) & (curves.train == cell.train)]
            color = COLORS.get(cell.method)
            dashed = fig == "fig16" and cell.variant == "proj"
            ax.plot(sel.step, sel.acc_mean, label=label, color=color,
                    ls="--" if dashed else "-", lw=1.3)
            ax.fill_between(sel.step, sel.acc_mean - sel.acc_std, sel.acc_mean + sel.acc_std,
                            color=color, alpha=0.2, lw=0)
        if notes:  # cells that did not run: say so where the curve would be
            drawn = bool(ax.get_lines())
            ax.text(0.5, 0.97 if drawn else 0.5, "\n".join(notes), transform=ax.transAxes,
                    ha="center", va="top" if drawn else "center", fontsize=6.5, color="0.3")
        ax.set_ylim(0, 1.0)
        ax.set_xlabel("Total examples seen")
        if ax in axes[:, 0]:
            ax.set_ylabel("Cumulative accuracy")
    # one legend below the panels: inside a panel it covered the curves (Fig. 16 at mini)
    legend = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        figure.legend(legend.values(), legend.keys(), loc="lower center",
                      ncol=min(LEGEND_COLUMNS, len(legend)), frameon=False)
    return figure


def tight_layout(figure) -> None:
    """tight_layout under the suptitle, with ~0.3 inch added below the panels per row of a
    figure legend (draw_curves) so it does not cover the x labels."""
    rows = sum(-(-len(lg.get_texts()) // LEGEND_COLUMNS) for lg in figure.legends)
    extra = 0.3 * rows
    figure.set_figheight(figure.get_figheight() + extra)
    figure.tight_layout(rect=(0, 0.02 + extra / figure.get_figheight(), 1, 0.97))


def draw_fig7(summary: pd.DataFrame):
    plt = _style()
    panels = list(dict.fromkeys(summary.panel))
    figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.0), sharey=True,
                                squeeze=False)
    for ax, panel in zip(axes[0], panels):
        cells = summary[summary.panel == panel].reset_index(drop=True)
        y = np.arange(len(cells))[::-1]
        where = "within distribution" if panel == "mnist" else "out of distribution"
        ax.set_title(f"Meta Testing on {dataset_label(panel)}\n({where})")
        for yi, (_, cell) in zip(y, cells.iterrows()):
            if cell.status != "ok":
                ax.text(0.02, yi, cell.reason, va="center", fontsize=7, color="0.3")
                continue
            color = COLORS["vsml"] if cell.variant == "augment" else "0.45"
            ax.barh(yi, cell.acc2000_mean, xerr=cell.acc2000_std, color=color, height=0.7,
                    error_kw={"lw": 0.8, "capsize": 2})
        ax.set_yticks(y, cells.test)
        ax.set_xlim(0, 1.0)
        n = _n_examples(summary, "at_2000", 2000)
        ax.set_xlabel(f"Accuracy of first {n} examples")
    return figure


def draw_grid(fig: str, summary: pd.DataFrame):
    plt = _style()
    metric, at = _metric(fig)
    rows = list(dict.fromkeys(summary.row))
    cols = list(dict.fromkeys(summary.panel))
    methods = list(dict.fromkeys(summary.method))
    figure, axes = plt.subplots(len(rows), len(cols), figsize=(2.1 * len(cols) + 1.2,
                                0.22 * len(methods) * len(rows) + 0.9), sharex=True,
                                sharey=True, squeeze=False)
    y = np.arange(len(methods))[::-1]
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            ax = axes[i, j]
            cells = summary[(summary.row == row) & (summary.panel == col)]
            for yi, method in zip(y, methods):
                sel = cells[cells.method == method]
                if not len(sel):
                    continue
                cell = sel.iloc[0]
                if cell.status != "ok":
                    ax.text(0.02, yi, cell.reason, va="center", fontsize=4.5, color="0.35")
                    continue
                # seen in meta-training: pale; unseen (and not meta-trained): opaque
                alpha = 0.35 if cell.seen == "seen" else 1.0
                mean, std = cell[f"{metric}_mean"], cell[f"{metric}_std"]
                ax.barh(yi, mean, xerr=std, color=COLORS.get(method), alpha=alpha, height=0.8,
                        error_kw={"lw": 0.6, "capsize": 1.5, "alpha": alpha})
                ax.text(min(mean + std, 0.98) + 0.02, yi, f"{100 * mean:.0f}", va="center",
                        fontsize=5)
            ax.set_xlim(0, 1.15)
            ax.set_xticks([0, 0.5, 1.0])
            ax.tick_params(axis="both", labelsize=6, pad=1)
            ax.grid(axis="y", visible=False)
            if i == 0:
                ax.set_title(dataset_label(col), fontsize=8)
            if j == 0:
                ax.set_yticks(y, [METHOD_LABELS.get(m, m) for m in methods], fontsize=6)
                ax.set_ylabel(dist_label(row), fontsize=7, rotation=0, ha="right",
                              va="center", labelpad=4)
    figure.text(0.5, 0.005, "Meta test on (columns)  ·  meta trained on (rows)  ·  pale: "
                "task seen in meta-training, opaque: unseen", ha="center", fontsize=6)
    return figure


def draw(fig: str, summary: pd.DataFrame, curves: pd.DataFrame | None = None,
         scale: str = ""):
    """The matplotlib figure ``fig`` (see FIGURES) from the aggregated tables."""
    check_choice("figure", fig, FIGURES)
    if fig in CURVES:
        if curves is None:
            raise UserError(f"{fig} is drawn from learning curves: pass --curves")
        figure = draw_curves(fig, summary, curves)
    elif fig == "fig7":
        figure = draw_fig7(summary)
    else:
        figure = draw_grid(fig, summary)
    metric, at = _metric(fig)
    n = _n_examples(summary, at, 100 if fig == "fig13" else 2000)
    title = TITLES[fig].format(n=n)
    ok = summary[summary.status == "ok"]
    seeds = sorted(set(ok.seeds.astype(int))) if len(ok) else [0]
    seeds_text = "/".join(map(str, seeds))
    figure.suptitle(f"{title}\nmean ± std over {seeds_text} seeds · scale: {scale or '?'}",
                    fontsize=9)
    tight_layout(figure)
    return figure


def save(figure, out: str | Path) -> list[Path]:
    """Write ``out`` (PDF) and the PNG next to it, atomically."""
    out = Path(out)
    paths = []
    for path, fmt in ((out, out.suffix.lstrip(".") or "pdf"), (out.with_suffix(".png"), "png")):
        buf = io.BytesIO()
        figure.savefig(buf, format=fmt, dpi=150, metadata={"CreationDate": None}
                       if fmt == "pdf" else None)
        paths.append(write_bytes_atomic(path, buf.getvalue()))
    return paths


def read_tables(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """(summary, curves or None, scale) of a figure command's --summary/--curves/--scale."""
    summary = pd.read_csv(args.summary, keep_default_na=False, na_values=[""])
    summary["reason"] = summary["reason"].fillna("")
    curves = pd.read_csv(args.curves) if args.curves else None
    scale = args.scale or (str(summary.scale.iloc[0]) if len(summary) else "")
    return summary, curves, scale


def run_cli(args: argparse.Namespace) -> int:
    paths = save(draw(args.figure, *read_tables(args)), args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "figure", help="draw a paper figure (PDF + PNG) from vsml aggregate tables",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figure", required=True, choices=FIGURES)
    parser.add_argument("--summary", required=True, help="summary CSV from vsml aggregate")
    parser.add_argument("--curves", default=None, help="curves CSV (figures 6, 12, 16)")
    parser.add_argument("--scale", default="", help="scale shown on the figure")
    parser.add_argument("--out", required=True, help="PDF path (the PNG goes next to it)")
    parser.set_defaults(func=run_cli)
    return parser
