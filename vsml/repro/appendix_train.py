"""App. B figures with their own meta-training runs: Figs. 18 (Omniglot), 20 (conv), 21 (CIFAR-10).

The plan (``fig18_cells`` etc., called by ``vsml.repro.pipeline.Plan``), the few-shot
aggregation (``vsml fewshot-aggregate``) and the figures (``vsml appendix-figure``).  Settings
per scale: the ``appendix_train`` mapping of ``config/pipeline.yaml`` (one sub-mapping per
figure; keys left out take ``DEFAULTS``, the paper's values).

* Fig. 18, Omniglot 5-way 1-shot (../shared/REFERENCE.md): VSML (``config/omniglot.yaml``:
  reverse sweep, feed-label, layer norm) and the Meta RNN, FW memory and Hebbian baselines
  meta-trained with ES on 6-step episodes (5 support examples with feedback, then one query;
  meta-loss: cross-entropy of the query only) of the background alphabets; meta-tested on
  the disjoint alphabets of the test split; online Adam with one hidden layer of 160
  (``adam-deep``) on the same episodes.  Metric: the query's accuracy, over ``seeds`` blocks
  of ``episodes_per_seed`` episodes (the paper reports 100 episodes).  Deviation: the
  baselines read the flattened image (no conv front-end as in the authors' runs); see
  docs/pipeline.md.
* Fig. 20, conv VSML (``config/conv.yaml``) meta-trained like the dense VSML of Fig. 8 (same
  distributions, projection variant, ES settings), meta-tested on Fig. 8's datasets beside
  that dense VSML (the same runs and meta-test jobs as Fig. 8: nothing trains twice).
* Fig. 21, the conv VSML meta-trained on CIFAR-10 (``config/cifar10.yaml``), meta-tested on
  MNIST, Fashion MNIST and CIFAR-10 against online SGD/Adam.  Without the CIFAR-10 files its
  cells say "not run: data unavailable (cifar10)".
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vsml.errors import UserError, check_choice

FIGURES = ("fig18", "fig20", "fig21")
CONV_METHOD = "vsml-conv"  # the cells' method name of the conv VSML (meta-trained as vsml)
FEWSHOT_LABEL = "5-way 1-shot"
DEFAULTS: dict[str, dict[str, Any]] = {
    "fig18": {
        "dataset": "omniglot_small",  # the background subsets here; "omniglot": official split
        "image_size": None,           # None: 28x28, the paper's
        "ways": 5, "shots": 1,
        "methods": ["vsml", "metarnn", "fwmemory", "hebbian", "adam-deep"],
        "seeds": 32, "episodes_per_seed": 100,
        "train": {},                  # meta-train --set keys for every Fig. 18 run
        "method_sets": {},            # per method: meta-train (or meta-test) --set keys
    },
    "fig20": {"distributions": ["mnist"], "variant": "proj", "datasets": None, "train": {}},
    "fig21": {"image_size": 32, "datasets": ["mnist", "fashion_mnist", "cifar10"],
              "methods": [CONV_METHOD, "sgd-shallow", "adam-shallow"], "train": {}},
}
CONFIG_FILES = {"fig18": "config/omniglot.yaml", "fig20": "config/conv.yaml",
                "fig21": "config/cifar10.yaml"}
FEWSHOT_SUMMARY_COLUMNS = ["figure", "row", "panel", "method", "train", "variant", "test",
                           "dataset", "seen", "status", "reason", "seeds", "episodes_per_seed",
                           "length", "query_acc_mean", "query_acc_std", "support_acc_mean",
                           "scale", "config_hash", "git_commit", "versions"]
FEWSHOT_RAW_COLUMNS = ["figure", "method", "train", "dataset", "seed_block", "episodes",
                       "query_acc", "scale", "config_hash", "git_commit", "versions"]
TRAIN_CURVE_COLUMNS = ["figure", "method", "train_run", "step", "meta_loss", "scale"]
PADDING = ("model.pad_inputs_to", "model.pad_outputs_to")
CURVE_POINTS = 200  # meta-training curves are binned to at most this many points


def claims_figures(plan) -> tuple[str, ...]:
    """Figures the App. B claims table (``appendix_claims`` rule) is judged on."""
    figs = (plan.s.get("appendix_train") or {}).get("claims_figures") or FIGURES
    for fig in figs:
        check_choice("appendix_train.claims_figures entry", fig, FIGURES)
    return tuple(figs)


def settings(plan, fig: str) -> dict[str, Any]:
    """The scale's ``appendix_train.<fig>`` settings over ``DEFAULTS[fig]`` (key by key: a
    given ``train`` or ``method_sets`` mapping replaces the default one)."""
    for key in plan.s.get("appendix_train") or {}:
        check_choice("appendix_train key", key, (*FIGURES, "claims_figures"))
    given = (plan.s.get("appendix_train") or {}).get(fig) or {}
    if not isinstance(given, Mapping):
        raise UserError(f"pipeline config appendix_train.{fig} must be a mapping")
    for key in given:
        check_choice(f"appendix_train.{fig} key", key, DEFAULTS[fig])
    return copy.deepcopy({**DEFAULTS[fig], **given})


# ------------------------------------------------------------------------------ plan


def fig18_cells(plan) -> list:
    s = settings(plan, "fig18")
    dataset, size = s["dataset"], s["image_size"]
    ways, shots = int(s["ways"]), int(s["shots"])
    spec = {"dataset": dataset, "fewshot_ways": ways, "fewshot_shots": shots,
            **({"image_size": size} if size else {})}
    task = {"task.fewshot_ways": ways, "task.fewshot_shots": shots,
            **({"task.image_size": size} if size else {"task.image_size": None})}
    episodes = int(s["seeds"]) * int(s["episodes_per_seed"])
    length = ways * shots + 1
    label = f"{ways}-way {shots}-shot"
    cells = []
    for method in s["methods"]:
        check_choice("appendix_train.fig18 method", method,
                     [*plan.meta_learned, *plan.online])
        own = dict((s["method_sets"] or {}).get(method) or {})
        if method in plan.online:
            job = plan.test_job(method, dataset, label=label, extra={**own, **task},
                                episodes=episodes, length=length)
            cells.append(plan.custom_cell("fig18", method, job, None))
            continue
        # the scale's per-method keys (ablations) apply, but not the output padding to
        # EMNIST's 62 classes that mixing datasets needs: an Omniglot episode has 5
        shared = {k: v for k, v in plan._method_sets(method).items() if k not in PADDING}
        values = {**(plan.s.get("train") or {}), "tasks.random_projection_fraction": 0.0,
                  **s["train"], "meta_train.length": length, "meta_train.loss": "last",
                  **shared, **own}
        config = CONFIG_FILES["fig18"] if method == "vsml" else None  # None: its usual
        train = plan.custom_train_job(method, "fewshot", dataset, [spec], values, config)
        job = plan.test_job(method, dataset, train=train, label=label, extra=task,
                            episodes=episodes, length=length)
        # meta-tested on the test split's alphabets, none of which meta-training saw
        cells.append(plan.custom_cell("fig18", method, job, train, seen="unseen"))
    return cells


def conv_train_job(plan, dist: str, variant: str):
    """The conv VSML meta-trained on ``dist`` like Fig. 8's dense VSML (``variant``)."""
    check_choice("appendix_train.fig20 variant", variant, ("plain", "proj"))
    size = plan.s.get("image_size")
    specs = [{"dataset": d, "input_layout": "image", **({"image_size": size} if size else {})}
             for d in plan.distribution_datasets(dist)]
    fraction = plan.projection_fraction if variant == "proj" else 0.0
    values = {**(plan.s.get("train") or {}), "tasks.random_projection_fraction": fraction,
              **settings(plan, "fig20")["train"], **plan._method_sets("vsml")}
    return plan.custom_train_job("vsml", f"conv-{variant}", dist, specs, values,
                                 CONFIG_FILES["fig20"])


def fig20_cells(plan) -> list:
    s = settings(plan, "fig20")
    cells = []
    for dist in s["distributions"]:
        conv = conv_train_job(plan, dist, s["variant"])
        for d in s["datasets"] or plan.s["datasets"]:
            # the dense VSML: exactly Fig. 8's cell (same run, same meta-test job)
            dense = plan._cell("fig20", "vsml", d, dist=dist, variant=s["variant"], panel=d)
            cells.append(dataclasses.replace(dense, row=dist))
            job = plan.test_job("vsml", d, train=conv)
            cells.append(plan.custom_cell("fig20", CONV_METHOD, job, conv, row=dist))
    return cells


def fig21_cells(plan) -> list:
    s = settings(plan, "fig21")
    size = s["image_size"]
    task = {"task.image_size": size}
    spec = {"dataset": "cifar10", "input_layout": "image", **({"image_size": size} if size
                                                                else {})}
    values = {**(plan.s.get("train") or {}), "tasks.random_projection_fraction": 0.0,
              **s["train"], **plan._method_sets("vsml")}
    train = plan.custom_train_job("vsml", "conv", "cifar10", [spec], values,
                                  CONFIG_FILES["fig21"])
    cells = []
    for d in s["datasets"]:
        for method in s["methods"]:
            check_choice("appendix_train.fig21 method", method, [CONV_METHOD, *plan.online])
            if method == CONV_METHOD:
                job = plan.test_job("vsml", d, train=train, extra=task)
                cells.append(plan.custom_cell("fig21", method, job, train))
            else:
                job = plan.test_job(method, d, extra=task)
                cells.append(plan.custom_cell("fig21", method, job, None))
    return cells


def train_runs(plan, fig: str) -> list[str]:
    """Meta-training run ids of a figure's cells (unique, in cell order)."""
    runs = []
    for cell in plan.cells[fig]:
        job = plan.test[cell.test_job]
        if job.train:
            runs.append(job.train)
    return list(dict.fromkeys(runs))


# ------------------------------------------------------------------------------ fig18 tables


def _train_run_of(test_job: str) -> str | None:
    # test job ids are <train run id>/<label>-<hash>; train run ids have three parts
    parts = test_job.split("/")
    return "/".join(parts[:3]) if len(parts) == 4 else None


def binned_curve(metrics: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """(step, meta_loss) binned to at most ``points`` rows (mean loss, last step per bin)."""
    frame = metrics[["step", "meta_loss"]].sort_values("step").reset_index(drop=True)
    if len(frame) <= points:
        return frame
    bins = np.arange(len(frame)) * points // len(frame)
    grouped = frame.groupby(bins)
    return pd.DataFrame({"step": grouped.step.max().to_numpy(),
                         "meta_loss": grouped.meta_loss.mean().to_numpy()})


def fewshot_tables(cells: list[dict[str, Any]], tests_dir: str | Path, runs_dir: str | Path,
                   scale: str, episodes_per_seed: int) -> dict[str, pd.DataFrame]:
    """Summary (query accuracy over seed blocks), raw (per block) and meta-training curves."""
    from vsml.meta.checkpoint import git_commit
    from vsml.repro.aggregate import NOT_RUN, read_test, versions

    if episodes_per_seed < 1:
        raise UserError(f"--episodes-per-seed must be >= 1, got {episodes_per_seed}")
    vers, here = versions(), git_commit()
    summary, raw, curves = [], [], []
    for cell in cells:
        base = {c: cell.get(c, "") for c in FEWSHOT_SUMMARY_COLUMNS[:9]}
        frame, reason = read_test(Path(tests_dir) / f"{cell['test_job']}.csv")
        prov = {"scale": scale, "config_hash": cell.get("train_config_hash", ""),
                "git_commit": here, "versions": vers}
        if frame is None:
            summary.append({**base, "status": NOT_RUN, "reason": reason, "seeds": 0,
                            "episodes_per_seed": episodes_per_seed,
                            "length": cell.get("length", ""), **prov})
        else:
            wide = frame.pivot(index="episode", columns="step", values="correct")
            correct = wide.sort_index(axis=1).to_numpy(np.float64)
            blocks = correct.shape[0] // episodes_per_seed
            if blocks < 1:
                raise UserError(f"{cell['test_job']}: {correct.shape[0]} episodes, fewer than "
                                f"one block of {episodes_per_seed}")
            query = correct[: blocks * episodes_per_seed, -1].reshape(blocks, -1).mean(axis=1)
            if "config_hash" in frame:
                prov["config_hash"] = str(frame["config_hash"].iloc[0])
            summary.append({**base, "status": "ok", "reason": "", "seeds": blocks,
                            "episodes_per_seed": episodes_per_seed, "length": correct.shape[1],
                            "query_acc_mean": query.mean(), "query_acc_std": query.std(),
                            "support_acc_mean": correct[:, :-1].mean(), **prov})
            raw += [{"figure": cell["figure"], "method": cell["method"], "train": cell["train"],
                     "dataset": cell["dataset"], "seed_block": b, "episodes": episodes_per_seed,
                     "query_acc": q, **prov} for b, q in enumerate(query)]
        run = _train_run_of(cell["test_job"])
        metrics = Path(runs_dir) / run / "metrics.csv" if run else None
        if metrics is not None and metrics.is_file():
            for _, r in binned_curve(pd.read_csv(metrics)).iterrows():
                curves.append({"figure": cell["figure"], "method": cell["method"],
                               "train_run": run, "step": int(r.step),
                               "meta_loss": float(r.meta_loss), "scale": scale})
    return {"summary": pd.DataFrame(summary, columns=FEWSHOT_SUMMARY_COLUMNS),
            "raw": pd.DataFrame(raw, columns=FEWSHOT_RAW_COLUMNS),
            "curves": pd.DataFrame(curves, columns=TRAIN_CURVE_COLUMNS)}


def run_fewshot_aggregate(args: argparse.Namespace) -> int:
    from vsml.repro.aggregate import load_cells, write_csv

    tables = fewshot_tables(load_cells(args.cells), args.tests, args.runs, args.scale,
                            args.episodes_per_seed)
    write_csv(tables["summary"], args.out)
    write_csv(tables["raw"], args.raw)
    write_csv(tables["curves"], args.curves)
    s = tables["summary"]
    print(f"{len(s)} cells ({int((s.status == 'ok').sum())} ok) -> {args.out}")
    return 0


# ------------------------------------------------------------------------------ figures


def _ci95(mean: float, std: float, n: int) -> float:
    """Half width of the 95% interval of a mean (the claims' standard error)."""
    return 1.96 * std * math.sqrt(1.0 / (n - 1)) if n > 1 else 0.0


def draw_fig18(summary: pd.DataFrame, curves: pd.DataFrame):
    from vsml.repro import figures as F

    plt = F._style()
    figure, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.2),
                                         gridspec_kw={"width_ratios": [1.2, 1]})
    ways = 5
    for method in dict.fromkeys(curves.method):
        sel = curves[curves.method == method].sort_values("step")
        left.plot(sel.step, sel.meta_loss, lw=1.2, color=F.COLORS.get(method),
                  label=F.METHOD_LABELS.get(method, method))
    left.axhline(math.log(ways), color="0.5", ls=":", lw=1, label=f"chance (ln {ways})")
    left.set_xlabel("Meta-training step (ES)")
    left.set_ylabel("Meta-loss: query cross-entropy")
    left.set_title("Meta-training on the background alphabets")
    if left.get_legend_handles_labels()[0]:
        left.legend(loc="best", frameon=True, fontsize=7)
    cells = summary.reset_index(drop=True)
    y = np.arange(len(cells))[::-1]
    for yi, (_, cell) in zip(y, cells.iterrows()):
        if cell.status != "ok":
            right.text(0.02, yi, cell.reason, va="center", fontsize=7, color="0.3")
            continue
        half = _ci95(cell.query_acc_mean, cell.query_acc_std, int(cell.seeds))
        right.barh(yi, cell.query_acc_mean, xerr=half, color=F.COLORS.get(cell.method),
                   height=0.7, error_kw={"lw": 0.8, "capsize": 2})
        right.text(min(cell.query_acc_mean + half, 0.9) + 0.02, yi,
                   f"{100 * cell.query_acc_mean:.1f}%", va="center", fontsize=7)
    right.axvline(1 / ways, color="0.5", ls=":", lw=1)
    right.set_yticks(y, [F.METHOD_LABELS.get(m, m).replace("Adam (deep)", "Adam (160 hidden)")
                         for m in cells.method])
    right.set_xlim(0, 1.0)
    right.set_xlabel("Query accuracy (chance: dotted)")
    right.set_title("Meta-test on unseen alphabets")
    return figure


def draw(fig: str, summary: pd.DataFrame, curves: pd.DataFrame | None, scale: str):
    from vsml.repro import figures as F

    check_choice("figure", fig, FIGURES)
    ok = summary[summary.status == "ok"]
    seeds = "/".join(map(str, sorted(set(ok.seeds.astype(int))))) if len(ok) else "0"
    if fig == "fig18":
        if curves is None:
            raise UserError("fig18 needs --curves (the meta-training curves)")
        figure = draw_fig18(summary, curves)
        per = int(ok.episodes_per_seed.iloc[0]) if len(ok) else 0
        title = (f"Omniglot {FEWSHOT_LABEL} (App. B)\nmean ± 95% interval over {seeds} seeds "
                 f"of {per} episodes · scale: {scale}")
    elif fig == "fig20":
        figure = F.draw_grid("fig20", summary)
        n = F._n_examples(summary, "at_2000", 2000)
        title = (f"Conv VSML vs. fully connected VSML: cumulative accuracy after {n} "
                 f"examples\nmean ± std over {seeds} seeds · scale: {scale}")
    else:
        if curves is None:
            raise UserError("fig21 is drawn from learning curves: pass --curves")
        figure = F.draw_curves("fig21", summary, curves)
        title = (f"Conv VSML meta-trained on CIFAR-10 vs. online gradient descent\n"
                 f"mean ± std over {seeds} seeds · scale: {scale}")
    figure.suptitle(title, fontsize=9)
    F.tight_layout(figure)
    return figure


def run_figure(args: argparse.Namespace) -> int:
    from vsml.repro.figures import read_tables, save

    paths = save(draw(args.figure, *read_tables(args)), args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fewshot-aggregate", help="few-shot meta-test CSVs (Fig. 18) -> tidy tables",
        description="Query accuracy per block of --episodes-per-seed meta-test episodes "
        "(summary: mean and std over blocks; raw: one row per block) and the binned "
        "meta-training curves of the cells' runs (metrics.csv under --runs).")
    parser.add_argument("--cells", required=True, help="cells JSON of the figure")
    parser.add_argument("--tests", required=True, help="folder of the meta-test CSVs")
    parser.add_argument("--runs", required=True, help="folder of the meta-training runs")
    parser.add_argument("--episodes-per-seed", type=int, default=100)
    parser.add_argument("--scale", default="adhoc")
    parser.add_argument("--out", required=True, help="summary CSV")
    parser.add_argument("--raw", required=True, help="raw CSV (one row per seed block)")
    parser.add_argument("--curves", required=True, help="meta-training curves CSV")
    parser.set_defaults(func=run_fewshot_aggregate)

    parser = subparsers.add_parser(
        "appendix-figure", help="draw Fig. 18, 20 or 21 (PDF + PNG) from its tidy tables",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figure", required=True, choices=FIGURES)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--curves", default=None, help="fig18: meta-training curves; fig21: "
                        "meta-test learning curves")
    parser.add_argument("--scale", default="")
    parser.add_argument("--out", required=True, help="PDF path (the PNG goes next to it)")
    parser.set_defaults(func=run_figure)
