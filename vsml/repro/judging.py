"""How a claim is judged: estimates, intervals, verdicts, and the claims table's formats.

The rules were fixed in code before any result was looked at, and are not to be tuned to
results:

* A cell's estimate is its mean cumulative accuracy over the meta-test episodes (seeds) and
  its standard error std * sqrt(1 / (n - 1)) (std over episodes, n episodes).
* "A beats B": the difference of means with a 95 % normal interval (1.96 standard errors of
  the difference); reproduced when the interval lies above 0.
* "A is close to / comparable to B": reproduced when the interval of A - B lies above
  -MARGIN (A at most 10 percentage points worse).
* Claims over many cells (e.g. "on unseen tasks") average the per-cell differences over
  every cell that ran; the interval uses the per-cell standard errors (cells independent).
* "A learns on task X": the interval of A's mean lies above chance level (1 / classes).
* A claim whose cells did not run (data unavailable, figure not built) is "not run" with
  the reason; a claim is never silently dropped.
* A "not reproduced" verdict carries its ``diagnosis`` when ``config/diagnoses.yaml`` has one
  for the claim at that scale: the cause in a few words and the experiment behind it,
  written after the verdict (it explains, the rule stays; docs/diagnosis.md).

The claims themselves: ``vsml.repro.claims`` (Sec. 4, Figs. 5-8, 12-16) and
``vsml.repro.claims_appendix`` (App. B, Figs. 9, 17-21).
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import yaml

from vsml.errors import UserError, check_choice
from vsml.repro.aggregate import versions

Z95 = 1.96
MARGIN = 0.10  # "comparable": at most 10 percentage points worse
LIMITED = 0.05  # "limited effect": the whole interval within +-5 points
CHANCE = {"mnist": 0.1, "fashion_mnist": 0.1, "kmnist": 0.1, "random": 0.1,
          "emnist": 1 / 62, "sum_sign": 0.5, "cifar10": 0.1}
COLUMNS = ["id", "figure", "claim", "rule", "value", "estimate", "ci_low", "ci_high",
           "cells", "verdict", "reason", "diagnosis", "scale", "versions"]
REPRODUCED, NOT_REPRODUCED, NOT_RUN = "reproduced", "not reproduced", "not run"


@dataclasses.dataclass
class Estimate:
    mean: float
    se: float
    n_cells: int = 1

    @property
    def low(self) -> float:
        return self.mean - Z95 * self.se

    @property
    def high(self) -> float:
        return self.mean + Z95 * self.se


class NotRun(Exception):
    """The cells a claim needs did not run; the message is the reason."""


def metric_at(at: int) -> str:
    return "acc100" if at == 100 else "acc2000"


def cell_estimate(row: pd.Series, metric: str) -> Estimate:
    n = int(row.seeds)
    std = float(row[f"{metric}_std"])
    se = std * math.sqrt(1.0 / (n - 1)) if n > 1 else float("inf")
    return Estimate(float(row[f"{metric}_mean"]), se)


def difference(a: Estimate, b: Estimate) -> Estimate:
    return Estimate(a.mean - b.mean, math.hypot(a.se, b.se))


def average(estimates: Sequence[Estimate]) -> Estimate:
    if not estimates:
        raise NotRun("no cell ran")
    k = len(estimates)
    return Estimate(sum(e.mean for e in estimates) / k,
                    math.sqrt(sum(e.se ** 2 for e in estimates)) / k, k)


class Tables:
    """Summary tables by figure, with lookups that raise ``NotRun`` with the reason."""

    def __init__(self, summaries: dict[str, pd.DataFrame]) -> None:
        self.s = summaries

    def fig(self, name: str) -> pd.DataFrame:
        if name not in self.s:
            raise NotRun(f"{name} not built")
        return self.s[name]

    def cells(self, fig: str, **where) -> pd.DataFrame:
        frame = self.fig(fig)
        mask = pd.Series(True, index=frame.index)
        for key, value in where.items():
            mask &= frame[key] == value
        return frame[mask]

    def one(self, fig: str, metric: str, **where) -> Estimate:
        sel = self.cells(fig, **where)
        if not len(sel):
            raise NotRun(f"no {fig} cell with {where}")
        row = sel.iloc[0]
        if row.status != "ok":
            raise NotRun(row.reason or "not run")
        return cell_estimate(row, metric)


def pct(e: Estimate) -> str:
    return f"{100 * e.mean:+.1f} [{100 * e.low:+.1f}, {100 * e.high:+.1f}] pts"


@dataclasses.dataclass
class Claim:
    id: str
    figure: str
    claim: str
    rule: str
    check: Callable[[Tables], tuple[Estimate, str, bool]]


# ----------------------------------------------------------------------------- the claims


def beats(fig: str, a: dict, b: dict, at: int, margin: float = 0.0):
    def check(t: Tables):
        m = metric_at(at)
        ea, eb = t.one(fig, m, **a), t.one(fig, m, **b)
        d = difference(ea, eb)
        value = f"{100 * ea.mean:.1f}% vs {100 * eb.mean:.1f}%; difference {pct(d)}"
        return d, value, d.low > -margin
    return check


def load_diagnoses(path: str | Path, scale: str, claims: Sequence[Claim]) -> dict[str, str]:
    """``{claim id: "cause (evidence)"}`` of ``scale`` in a diagnoses file (YAML).

    The file maps scale -> claim id -> ``{diagnosis: ..., evidence: ...}``; the evidence
    names where the experiment is written up (docs/diagnosis.md#section).  Unknown claim ids
    and entries without both fields are refused, naming the valid choices."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except OSError as err:
        raise UserError(f"diagnoses file {path}: {err.strerror}") from None
    if not isinstance(raw, Mapping) or not all(isinstance(v, Mapping) or v is None
                                               for v in raw.values()):
        raise UserError(f"diagnoses file {path} must map scale -> claim id -> "
                        "{diagnosis, evidence}")
    ids = [c.id for c in claims]
    out = {}
    for claim_id, entry in (raw.get(scale) or {}).items():
        check_choice(f"claim id in {path} ({scale})", claim_id, ids)
        if not isinstance(entry, Mapping) or not entry.get("diagnosis") or not entry.get(
                "evidence"):
            raise UserError(f"{path}: {scale}.{claim_id} needs a 'diagnosis' (the cause) and "
                            "an 'evidence' (where the experiment is written up)")
        out[claim_id] = f"{' '.join(str(entry['diagnosis']).split())} ({entry['evidence']})"
    return out


def judge(claims: Sequence[Claim], summaries: dict[str, pd.DataFrame], scale: str = "",
          figures: Sequence[str] | None = None,
          diagnoses: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The claims table (``COLUMNS``) of ``claims`` for the figures in ``summaries``.

    ``figures``: only the claims about these figures (default: every claim).
    ``diagnoses``: claim id -> diagnosis, shown for "not reproduced" verdicts only."""
    tables = Tables(summaries)
    diagnoses = diagnoses or {}
    vers = versions()
    rows = []
    for claim in claims:
        if figures is not None and claim.figure not in figures:
            continue
        row = {"id": claim.id, "figure": claim.figure, "claim": claim.claim,
               "rule": claim.rule, "scale": scale, "versions": vers}
        try:
            est, value, ok = claim.check(tables)
        except NotRun as err:
            reason = str(err).removeprefix(NOT_RUN + ": ")  # the verdict says "not run"
            row.update(value="", verdict=NOT_RUN, reason=reason)
        else:
            finite = math.isfinite(est.se)
            row.update(value=value, estimate=est.mean, ci_low=est.low if finite else None,
                       ci_high=est.high if finite else None, cells=est.n_cells,
                       verdict=REPRODUCED if ok else NOT_REPRODUCED,
                       reason="" if finite else "one seed: no interval",
                       diagnosis="" if ok else diagnoses.get(claim.id, ""))
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def to_markdown(claims: pd.DataFrame) -> str:
    lines = ["| claim | figure | our value | rule | verdict | diagnosis |",
             "|---|---|---|---|---|---|"]
    for _, r in claims.iterrows():
        verdict = r.verdict + (f" ({r.reason})" if _text(r.reason) else "")
        cells = [r.claim, r.figure, _text(r.value), r.rule, verdict, _text(r.get("diagnosis"))]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_html(claims: pd.DataFrame, scale: str = "") -> str:
    colors = {REPRODUCED: "#d4edda", NOT_REPRODUCED: "#f8d7da", NOT_RUN: "#e2e3e5"}
    rows = []
    for _, r in claims.iterrows():
        reason = r.reason if isinstance(r.reason, str) else ""
        value = r.value if isinstance(r.value, str) else ""
        verdict = html.escape(r.verdict + (f" ({reason})" if reason else ""))
        rows.append(f"<tr><td>{html.escape(r.claim)}</td><td>{r.figure}</td>"
                    f"<td>{html.escape(value)}</td><td>{html.escape(r.rule)}</td>"
                    f"<td style='background:{colors.get(r.verdict, '#fff')}'>{verdict}</td>"
                    f"<td>{html.escape(_text(r.get('diagnosis')))}</td></tr>")
    counts = claims.verdict.value_counts().to_dict()
    summary = ", ".join(f"{v}: {counts.get(v, 0)}" for v in (REPRODUCED, NOT_REPRODUCED, NOT_RUN))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Claims</title>"
            "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
            "td,th{border:1px solid #bbb;padding:4px;vertical-align:top}</style></head><body>"
            f"<h2>Claims of the paper checked at scale {html.escape(scale)}</h2>"
            f"<p>{summary}. Rules fixed in vsml/repro/claims.py and claims_appendix.py "
            "before results were seen.</p>"
            "<table><tr><th>claim</th><th>figure</th><th>our value</th><th>rule</th>"
            "<th>verdict</th><th>diagnosis (why not reproduced, and the experiment)</th></tr>"
            + "".join(rows) + "</table></body></html>\n")
