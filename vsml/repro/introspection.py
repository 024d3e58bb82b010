"""Figs. 9 and 17 (introspection) and Fig. 19 (short-horizon bias) of the paper's App. B.

All three meta-test Fig. 6's MNIST-meta-trained VSML (the same ``TrainJob``, so nothing
trains twice) beside online gradient descent, with the settings of ``appendix_mnist`` in
``config/pipeline.yaml`` (``DEFAULTS`` are the paper's values):

* Fig. 9: ``fig9.streams`` streams of ``fig9.length`` = 20 steps in which one MNIST test
  image of every class is shown twice in a row (``vsml meta-test --repeat 2
  --one-per-class --probabilities``; our reading of "the same digit is always repeated
  twice" is documented in ``vsml/data/streams.py``).  Fig. 17: ``fig17.streams`` plain
  test streams of ``fig17.length`` = 100 examples (``--probabilities``).  The learners are
  ``introspection_methods`` (VSML above online Adam, as in the paper).
  ``vsml introspect-table`` -> summary (accuracy on the first and the second showing, the
  probability of the true class at the second showing, the share of first-showing
  mistakes fixed at the second) and the per-step probability table the heat maps are
  drawn from (``vsml introspect-figure``).
* Fig. 19: ``fig19.seeds`` episodes of ``fig19.length`` = 12,000 examples for
  ``fig19.methods``.  ``vsml horizon-table`` -> summary (cumulative accuracy after 100
  examples, at the meta-training horizon T and at the end; for each gradient-descent
  learner the step from which its mean curve stays above VSML's, with a bootstrap 95%
  interval over episodes) and curves (``vsml horizon-figure``).  T is read from the
  checkpoint's ``run.json`` (``meta_train.length``).

Every table row carries the cell columns and provenance (scale, config hash, git commit,
versions); cells whose data is missing are "not run" rows with the reason.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vsml.errors import UserError, check_choice
from vsml.methods import METHODS
from vsml.repro import aggregate
from vsml.repro.aggregate import CELL_COLUMNS, NOT_RUN, PROVENANCE_COLUMNS

DEFAULTS: dict[str, Any] = {
    "introspection_methods": ["vsml", "adam-shallow"],
    "fig9": {"streams": 32, "length": 20, "repeat": 2},
    "fig17": {"streams": 32, "length": 100},
    "fig19": {"seeds": 32, "length": 12000, "methods": ["vsml", "sgd-shallow", "adam-shallow"]},
}
INTROSPECTION_FIGURES = ("fig9", "fig17")
REFERENCE = "vsml"  # the learner the gradient-descent curves of Fig. 19 are compared with
INTRO_SUMMARY_COLUMNS = [
    *CELL_COLUMNS, "status", "reason", "seeds", "length", "repeat", "acc_mean", "acc_std",
    "first_mean", "first_std", "second_mean", "second_std", "second_p_true_mean",
    "second_p_true_std", "fixed_mean", "fixed_std", "fixed_seeds", *PROVENANCE_COLUMNS]
STEP_COLUMNS = [*CELL_COLUMNS, "episode", "step", "label", "predicted", "showing", "correct"]
HORIZON_SUMMARY_COLUMNS = [
    *CELL_COLUMNS, "status", "reason", "seeds", "length", "horizon", "at_early", "early_mean",
    "early_std", "horizon_mean", "horizon_std", "final_mean", "final_std", "versus",
    "cross_step", "cross_low", "cross_high", "cross_share", *PROVENANCE_COLUMNS]
BOOTSTRAP = 1000  # resamples of the episodes for the crossing interval
EARLY = 100  # "fast in the beginning": cumulative accuracy after 100 examples


# ----------------------------------------------------------------------------- the plan


def settings(scale_settings: Mapping[str, Any]) -> dict[str, Any]:
    """``appendix_mnist`` of a scale merged over ``DEFAULTS`` (keys checked)."""
    given = scale_settings.get("appendix_mnist") or {}
    out = copy.deepcopy(DEFAULTS)
    for key, value in given.items():
        check_choice("appendix_mnist key", key, sorted(DEFAULTS))
        if isinstance(DEFAULTS[key], dict):
            if not isinstance(value, Mapping):
                raise UserError(f"appendix_mnist.{key} must be a mapping with keys "
                                f"{sorted(DEFAULTS[key])}, got {value!r}")
            for sub in value:
                check_choice(f"appendix_mnist.{key} key", sub, sorted(DEFAULTS[key]))
            out[key].update(value)
        else:
            out[key] = list(value)
    return out


def test_specs(scale_settings: Mapping[str, Any], fig: str) -> list[tuple[str, dict[str, Any]]]:
    """(method, meta-test keywords of ``Plan._cell``) for every learner of ``fig``.

    Meta-learned methods are tested from their plain MNIST run (Fig. 6's ``TrainJob``)."""
    cfg = settings(scale_settings)
    if fig == "fig19":
        f = cfg["fig19"]
        methods = list(f["methods"])
        if REFERENCE not in methods:
            raise UserError(f"appendix_mnist.fig19.methods must include {REFERENCE!r} (the "
                            f"curves are compared with it), got {methods}")
        test = {"label": "MNIST long", "episodes": int(f["seeds"]), "length": int(f["length"])}
    else:
        check_choice("introspection figure", fig, INTROSPECTION_FIGURES)
        f = cfg[fig]
        methods = list(cfg["introspection_methods"])
        if fig == "fig9":
            options = ("--probabilities", "--repeat", str(int(f["repeat"])), "--one-per-class")
            label = "MNIST, every image twice"
        else:
            options, label = ("--probabilities",), "MNIST stream"
        test = {"label": label, "episodes": int(f["streams"]), "length": int(f["length"]),
                "options": options}
    for method in methods:
        check_choice(f"appendix_mnist {fig} method", method, METHODS)
    return [(method, dict(test)) for method in methods]


# ----------------------------------------------------------------------------- tables


def _provenance(frame: pd.DataFrame, scale: str, vers: str, here: str) -> dict[str, Any]:
    return {"scale": scale,
            "config_hash": str(frame["config_hash"].iloc[0]) if "config_hash" in frame else "",
            "git_commit": str(frame["git_commit"].iloc[0]) if "git_commit" in frame else here,
            "versions": vers}


def _not_run_row(cell: Mapping[str, Any], reason: str, columns: Sequence[str], scale: str,
                 vers: str, here: str) -> dict[str, Any]:
    row = {c: "" for c in columns}
    row.update({c: cell.get(c, "") for c in CELL_COLUMNS})
    row.update({"status": NOT_RUN, "reason": reason, "seeds": 0,
                "length": cell.get("length", ""), "scale": scale,
                "config_hash": cell.get("train_config_hash", ""), "git_commit": here,
                "versions": vers})
    return row


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, np.float64)
    if not values.size:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std())


def showing_statistics(frame: pd.DataFrame) -> dict[str, Any]:
    """Per-episode accuracies of one introspection test, mean and std over episodes.

    first/second: accuracy on the first/second showing of an image (second: NaN without
    repeats); second_p_true: mean probability of the true class at the second showing;
    fixed: share of first-showing mistakes that are correct at the second showing, over
    the episodes that made any (fixed_seeds of them)."""
    frame = frame.sort_values(["episode", "step"])
    probs = frame[[c for c in frame.columns if c[:1] == "p" and c[1:].isdigit()]].to_numpy()
    frame = frame.assign(p_true=probs[np.arange(len(frame)), frame.label.to_numpy()])
    by = frame.groupby("episode")
    out: dict[str, Any] = {"seeds": by.ngroups, "length": int(by.size().max()),
                           "repeat": int(frame.showing.max())}
    out["acc_mean"], out["acc_std"] = _mean_std(by.correct.mean())
    first = frame[frame.showing == 1]
    out["first_mean"], out["first_std"] = _mean_std(first.groupby("episode").correct.mean())
    second = frame[frame.showing == 2]
    out["second_mean"], out["second_std"] = _mean_std(second.groupby("episode").correct.mean())
    out["second_p_true_mean"], out["second_p_true_std"] = _mean_std(
        second.groupby("episode").p_true.mean())
    fixed = []
    if len(second):
        # showing 1 and 2 of an image are consecutive rows of an episode
        pairs = pd.DataFrame({"episode": first.episode.to_numpy(),
                              "miss": first.correct.to_numpy() == 0,
                              "fixed": second.correct.to_numpy() == 1})
        for _, g in pairs[pairs.miss].groupby("episode"):
            fixed.append(g.fixed.mean())
    out["fixed_mean"], out["fixed_std"] = _mean_std(np.asarray(fixed))
    out["fixed_seeds"] = len(fixed)
    return out


def introspection_tables(cells: list[dict[str, Any]], tests_dir: str | Path,
                         scale: str) -> dict[str, pd.DataFrame]:
    """Summary (``INTRO_SUMMARY_COLUMNS``) and per-step probability table of Fig. 9 / 17."""
    vers, tests_dir = aggregate.versions(), Path(tests_dir)
    from vsml.meta.checkpoint import git_commit

    here = git_commit()
    summary, steps = [], []
    for cell in cells:
        frame, reason = aggregate.read_test(tests_dir / f"{cell['test_job']}.csv")
        if frame is None:
            summary.append(_not_run_row(cell, reason, INTRO_SUMMARY_COLUMNS, scale, vers, here))
            continue
        missing = {"label", "predicted", "showing"} - set(frame.columns)
        if missing:
            raise UserError(f"{cell['test_job']}.csv lacks {sorted(missing)}: the test must "
                            "run with vsml meta-test --probabilities")
        base = {c: cell.get(c, "") for c in CELL_COLUMNS}
        prov = _provenance(frame, scale, vers, here)
        summary.append({**base, "status": "ok", "reason": "", **showing_statistics(frame),
                        **prov})
        probs = [c for c in frame.columns if c[:1] == "p" and c[1:].isdigit()]
        part = frame[["episode", "step", "label", "predicted", "showing", "correct", *probs]]
        steps.append(part.assign(**base, **prov))
    step_table = pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(
        columns=[*STEP_COLUMNS, *PROVENANCE_COLUMNS])
    probs = sorted((c for c in step_table.columns if c[:1] == "p" and c[1:].isdigit()),
                   key=lambda c: int(c[1:]))
    step_table = step_table[[*STEP_COLUMNS, *probs, *PROVENANCE_COLUMNS]]
    return {"summary": pd.DataFrame(summary, columns=INTRO_SUMMARY_COLUMNS),
            "steps": step_table}


def crossing_step(behind: np.ndarray, ahead: np.ndarray) -> float:
    """First step (1-based) from which ``ahead``'s curve stays above ``behind``'s to the end.

    inf when it is not above at the last step; 1 when it is above everywhere."""
    diff = np.asarray(ahead, np.float64) - np.asarray(behind, np.float64)
    if diff[-1] <= 0:
        return float("inf")
    below = np.flatnonzero(diff <= 0)
    return float(below[-1] + 2) if below.size else 1.0


def bootstrap_crossing(reference: np.ndarray, other: np.ndarray, resamples: int = BOOTSTRAP,
                       seed: int = 0) -> tuple[float, float, float, float]:
    """(crossing step of the mean curves, 95% interval low, high, share of resamples with a
    crossing) for [episodes, steps] cumulative accuracies; episodes resampled with
    replacement, each learner on its own (inf: no crossing within the episode)."""
    rng = np.random.default_rng(seed)
    point = crossing_step(reference.mean(axis=0), other.mean(axis=0))

    def resampled_means(acc: np.ndarray) -> np.ndarray:
        n = acc.shape[0]
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n)
                           for _ in range(resamples)]).astype(np.float32)
        return counts @ acc.astype(np.float32) / n

    ref, oth = resampled_means(reference), resampled_means(other)
    steps = np.array([crossing_step(r, o) for r, o in zip(ref, oth)])
    low = float(np.quantile(steps, 0.025, method="lower"))
    high = float(np.quantile(steps, 0.975, method="higher"))
    return point, low, high, float(np.isfinite(steps).mean())


def curve_steps(steps: int) -> list[int]:
    """0-based steps kept in Fig. 19's curves: every step up to 100, every 10th up to 2,000
    (where the curves cross), then every 50th, and the last (a 12,000-step curve: ~500 rows)."""
    keep = (set(range(min(steps, 100))) | set(range(109, min(steps, 2000), 10))
            | set(range(2049, steps, 50)) | {steps - 1})
    return sorted(keep)


def _horizon(frame: pd.DataFrame) -> int | None:
    """meta_train.length of the checkpoint a test CSV names (None: no checkpoint)."""
    checkpoint = str(frame["checkpoint"].iloc[0]) if "checkpoint" in frame else ""
    if not checkpoint or checkpoint == "nan":
        return None
    path = Path(checkpoint) / "run.json"
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the meta-training horizon from {path}: {err}") from None
    return int(run["config"]["meta_train"]["length"])


def horizon_tables(cells: list[dict[str, Any]], tests_dir: str | Path, scale: str,
                   resamples: int = BOOTSTRAP) -> dict[str, pd.DataFrame]:
    """Summary (``HORIZON_SUMMARY_COLUMNS``) and curves (``aggregate.CURVE_COLUMNS``) of
    Fig. 19."""
    vers, tests_dir = aggregate.versions(), Path(tests_dir)
    from vsml.meta.checkpoint import git_commit

    here = git_commit()
    loaded = []
    for cell in cells:
        frame, reason = aggregate.read_test(tests_dir / f"{cell['test_job']}.csv")
        loaded.append((cell, frame, reason))
    horizon = next((h for c, f, _ in loaded if f is not None and c["method"] == REFERENCE
                    for h in [_horizon(f)] if h is not None), None)
    reference = next((aggregate.cumulative(f) for c, f, _ in loaded
                      if f is not None and c["method"] == REFERENCE), None)
    summary, curve_rows = [], []
    for cell, frame, reason in loaded:
        if frame is None:
            summary.append(_not_run_row(cell, reason, HORIZON_SUMMARY_COLUMNS, scale, vers,
                                        here))
            continue
        acc = aggregate.cumulative(frame)
        steps = acc.shape[1]
        base = {c: cell.get(c, "") for c in CELL_COLUMNS}
        prov = _provenance(frame, scale, vers, here)
        early = min(EARLY, steps)
        at_h = min(horizon, steps) if horizon else None
        row = {**base, "status": "ok", "reason": "", "seeds": acc.shape[0], "length": steps,
               "horizon": horizon or "", "at_early": early,
               "early_mean": acc[:, early - 1].mean(), "early_std": acc[:, early - 1].std(),
               "horizon_mean": acc[:, at_h - 1].mean() if at_h else "",
               "horizon_std": acc[:, at_h - 1].std() if at_h else "",
               "final_mean": acc[:, -1].mean(), "final_std": acc[:, -1].std(),
               "versus": "", "cross_step": "", "cross_low": "", "cross_high": "",
               "cross_share": "", **prov}
        if cell["method"] != REFERENCE and reference is not None:
            if reference.shape[1] != steps:
                raise UserError(f"Fig. 19: {cell['method']} has {steps} steps, {REFERENCE} "
                                f"{reference.shape[1]}; the curves must be equally long")
            point, low, high, share = bootstrap_crossing(reference, acc, resamples)
            row.update({"versus": REFERENCE, "cross_share": share,
                        **{k: int(v) if np.isfinite(v) else "" for k, v in
                           (("cross_step", point), ("cross_low", low), ("cross_high", high))}})
        summary.append(row)
        mean, std = acc.mean(axis=0), acc.std(axis=0)
        for t in curve_steps(steps):
            curve_rows.append({**base, "step": t + 1, "acc_mean": mean[t], "acc_std": std[t],
                               "seeds": acc.shape[0], **prov})
    return {"summary": pd.DataFrame(summary, columns=HORIZON_SUMMARY_COLUMNS),
            "curves": pd.DataFrame(curve_rows, columns=aggregate.CURVE_COLUMNS)}


# ----------------------------------------------------------------------------- CLI


def _table_cli(args: argparse.Namespace) -> int:
    if getattr(args, "bootstrap", 1) < 1:
        raise UserError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    cells = aggregate.load_cells(args.cells)
    if args.command == "introspect-table":
        tables = introspection_tables(cells, args.tests, args.scale)
        aggregate.write_csv(tables["summary"], args.out)
        aggregate.write_csv(tables["steps"], args.steps)
    else:
        tables = horizon_tables(cells, args.tests, args.scale, args.bootstrap)
        aggregate.write_csv(tables["summary"], args.out)
        aggregate.write_csv(tables["curves"], args.curves)
    s = tables["summary"]
    print(f"{len(s)} cells ({int((s.status == 'ok').sum())} ok) -> {args.out}")
    return 0


def _figure_cli(args: argparse.Namespace) -> int:
    from vsml.repro import figures, figures_appendix_a

    summary = pd.read_csv(args.summary, keep_default_na=False, na_values=[""])
    summary["reason"] = summary["reason"].fillna("")
    scale = args.scale or (str(summary.scale.iloc[0]) if len(summary) else "")
    if args.command == "introspect-figure":
        figure = figures_appendix_a.draw_introspection(
            args.figure, summary, pd.read_csv(args.steps), scale, args.episode)
    else:
        figure = figures_appendix_a.draw_horizon(summary, pd.read_csv(args.curves), scale)
    paths = figures.save(figure, args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def register(subparsers) -> None:
    """``introspect-table``, ``introspect-figure``, ``horizon-table``, ``horizon-figure``."""
    for name, what in (("introspect-table", "Figs. 9/17: introspection tests -> summary + "
                        "per-step probability table"),
                       ("horizon-table", "Fig. 19: long meta-tests -> summary with the "
                        "crossing step + curves")):
        p = subparsers.add_parser(name, help=what, description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--cells", required=True, help="cells JSON of the figure")
        p.add_argument("--tests", required=True, help="folder of the meta-test CSVs")
        p.add_argument("--scale", default="adhoc", help="label for the provenance column")
        p.add_argument("--out", required=True, help="summary CSV (one row per cell)")
        if name == "introspect-table":
            p.add_argument("--steps", required=True, help="per-step probability CSV")
        else:
            p.add_argument("--curves", required=True, help="curves CSV (one row per step)")
            p.add_argument("--bootstrap", type=int, default=BOOTSTRAP,
                           help="resamples for the crossing interval")
        p.set_defaults(func=_table_cli)
    for name, what in (("introspect-figure", "draw Fig. 9 or 17 (PDF + PNG)"),
                       ("horizon-figure", "draw Fig. 19 (PDF + PNG)")):
        p = subparsers.add_parser(name, help=what, description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "introspect-figure":
            p.add_argument("--figure", required=True, choices=INTROSPECTION_FIGURES)
            p.add_argument("--steps", required=True, help="per-step table of introspect-table")
            p.add_argument("--episode", type=int, default=0, help="the stream drawn")
        p.add_argument("--summary", required=True, help="summary CSV of the table command")
        if name == "horizon-figure":
            p.add_argument("--curves", required=True, help="curves CSV of horizon-table")
        p.add_argument("--scale", default="", help="scale shown on the figure")
        p.add_argument("--out", required=True, help="PDF path (the PNG goes next to it)")
        p.set_defaults(func=_figure_cli)
