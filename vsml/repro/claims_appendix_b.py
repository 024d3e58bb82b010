"""Claims of App. B's Figs. 18, 20 and 21, judged by the rules of ``vsml.repro.claims``.

Fixed here before any result of these figures was looked at (issue 14):

* Fig. 18 (Omniglot 5-way 1-shot), on the query accuracy over seed blocks of episodes:
  VSML beats online Adam (95% interval of the difference > 0); VSML and each meta-learned
  baseline learn (interval above chance, 1/5); "VSML learns more slowly than the
  baselines" (the best baseline minus VSML, at the same meta-training budget: interval > 0).
* Fig. 20: the conv VSML is comparable to the dense VSML: the mean of conv - dense over every
  cell where both ran (cumulative accuracy after 2,000) has its interval above -10 points.
* Fig. 21: meta-test learning on CIFAR-10 is initially faster than SGD (conv VSML - SGD after
  100 examples > 0) while still generalizing to Fashion MNIST (conv VSML's interval above
  chance after 2,000).

``appendix_claims()`` imports ``vsml.repro.claims`` lazily, so this module can be imported
from there (``claims.CLAIMS`` ends with these rows).
"""

from __future__ import annotations

CONV = "vsml-conv"
BASELINES = (("metarnn", "Meta RNN"), ("fwmemory", "FW Memory"), ("hebbian", "Hebbian FW"))
FEWSHOT_CHANCE = 1 / 5


def appendix_claims() -> list:
    from vsml.repro import claims as C

    def query(t, method):
        return t.one("fig18", "query_acc", method=method)

    def fig18_vsml_vs_adam(t):
        vsml, adam = query(t, "vsml"), query(t, "adam-deep")
        d = C.difference(vsml, adam)
        return d, (f"query accuracy VSML {100 * vsml.mean:.1f}% vs Adam "
                   f"{100 * adam.mean:.1f}%; difference {C._pct(d)}"), d.low > 0

    def fig18_learns(methods):
        def check(t):
            parts, margins, ok = [], [], True
            for method, label in methods:
                e = query(t, method)
                margins.append(C.Estimate(e.mean - FEWSHOT_CHANCE, e.se))
                ok &= e.low > FEWSHOT_CHANCE
                parts.append(f"{label} {100 * e.mean:.1f}% [{100 * e.low:.1f}, "
                             f"{100 * e.high:.1f}]")
            worst = min(margins, key=lambda e: e.low)
            return worst, "; ".join(parts) + f" (chance {100 * FEWSHOT_CHANCE:.0f}%)", ok
        return check

    def fig18_vsml_slower(t):
        ran = []
        for method, label in BASELINES:
            try:
                ran.append((query(t, method), label))
            except C.NotRun:
                continue
        if not ran:
            raise C.NotRun("no meta-learned baseline ran on Omniglot")
        best, label = max(ran, key=lambda r: r[0].mean)
        vsml = query(t, "vsml")
        d = C.difference(best, vsml)
        return d, (f"best baseline {label} {100 * best.mean:.1f}% vs VSML "
                   f"{100 * vsml.mean:.1f}%; difference {C._pct(d)}"), d.low > 0

    def fig20_comparable(t):
        frame = t.fig("fig20")
        diffs = []
        for _, conv in frame[(frame.method == CONV) & (frame.status == "ok")].iterrows():
            dense = t.cells("fig20", row=conv.row, panel=conv.panel, method="vsml")
            if len(dense) and dense.iloc[0].status == "ok":
                diffs.append(C.difference(C.cell_estimate(conv, "acc2000"),
                                          C.cell_estimate(dense.iloc[0], "acc2000")))
        if not diffs:
            raise C.NotRun("no fig20 cell ran for both the conv and the dense VSML")
        d = C.average(diffs)
        return d, f"mean conv - dense over {d.n_cells} cells: {C._pct(d)}", d.low > -C.MARGIN

    def fig21_fashion(t):
        e = t.one("fig21", "acc2000", method=CONV, panel="fashion_mnist")
        chance = C.CHANCE["fashion_mnist"]
        return (C.Estimate(e.mean - chance, e.se),
                f"{100 * e.mean:.1f}% [{100 * e.low:.1f}, {100 * e.high:.1f}] "
                f"(chance {100 * chance:.0f}%)", e.low > chance)

    return [
        C.Claim("fig18-vsml-faster-than-adam", "fig18",
                "VSML learns significantly faster on Omniglot than SGD with Adam (App. B).",
                "5-way 1-shot query accuracy on unseen alphabets, VSML - Adam (one hidden "
                "layer of 160): 95% CI > 0", fig18_vsml_vs_adam),
        C.Claim("fig18-vsml-learns", "fig18",
                "VSML learns 5-way 1-shot Omniglot tasks of unseen alphabets (App. B).",
                "VSML's query accuracy: 95% CI above chance (20%)",
                fig18_learns([("vsml", "VSML")])),
        C.Claim("fig18-baselines-work", "fig18",
                "The Meta RNN and the fast-weight baselines work well in an Omniglot setting "
                "(App. B).", "each of Meta RNN, FW Memory, Hebbian FW: query accuracy 95% CI "
                "above chance (20%)", fig18_learns(BASELINES)),
        C.Claim("fig18-vsml-slower", "fig18",
                "VSML learns more slowly on Omniglot than those baselines (App. B).",
                "best baseline - VSML query accuracy at the same meta-training budget: "
                "95% CI > 0", fig18_vsml_slower),
        C.Claim("fig20-conv-comparable", "fig20",
                "Convolutional VSML performs similar to the fully connected architecture on "
                "the existing datasets (App. B).",
                f"mean over cells of conv - dense VSML after 2,000: 95% CI > -{C.MARGIN:.2f}",
                fig20_comparable),
        C.Claim("fig21-cifar-faster-than-sgd", "fig21",
                "Meta-trained on CIFAR-10, the conv VSML's meta-test learning on CIFAR-10 is "
                "initially faster than SGD (App. B).",
                "conv VSML - SGD, cumulative accuracy after 100 examples on CIFAR-10: 95% CI "
                "> 0", C._beats("fig21", {"method": CONV, "panel": "cifar10"},
                                {"method": "sgd-shallow", "panel": "cifar10"}, 100)),
        C.Claim("fig21-generalizes-fashion", "fig21",
                "... while still generalizing to Fashion MNIST (App. B).",
                "conv VSML meta-trained on CIFAR-10, Fashion MNIST after 2,000: 95% CI above "
                "chance (10%)", fig21_fashion),
    ]
