"""The reproduction pipeline: plan, aggregation, claims, figures, and the Snakemake DAG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vsml.errors import UserError
from vsml.repro import aggregate, claims, figures, pipeline

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"mnist", "fashion_mnist", "random", "sum_sign"}  # what this machine has


def pipeline_config(**overrides):
    config = yaml.safe_load((ROOT / "config/pipeline.yaml").read_text())
    config.update(overrides)
    return config


def plan(**overrides) -> pipeline.Plan:
    scale, settings = pipeline.resolve_scale(pipeline_config(**overrides))
    return pipeline.Plan(settings, scale, lambda d: d in LOCAL)


# ----------------------------------------------------------------------------- plan


def test_scales_exist_and_default_is_mini():
    config = pipeline_config()
    assert config["scale"] == "mini"
    assert set(config["scales"]) == set(pipeline.SCALES)
    paper = config["scales"]["paper"]
    assert (paper["seeds"], paper["seeds_fig6"], paper["length"]) == (32, 128, 2000)
    assert paper["train"] == {}  # config/default.yaml holds the paper's ES values
    assert config["scales"]["mini"]["image_size"] == 7


def test_overrides_merge_mappings_and_replace_lists():
    _, s = pipeline.resolve_scale(pipeline_config(
        scale="smoke", seeds=5, datasets=["mnist"], vsml={"model.micro_ticks": "1"},
        train={"es.pairs": 6}))
    assert s["seeds"] == 5 and s["datasets"] == ["mnist"]
    assert s["vsml"] == {"model.micro_ticks": 1}
    assert s["train"]["es.pairs"] == 6 and s["train"]["meta_train.steps"] == 3  # merged


def test_overrides_get_numbers_and_booleans_back():
    # what snakemake passes for --config 'threads={train: 2, test: 1}' pool_available_only=false
    # 'adam-shallow={model.learning_rate: 0.003, tag: fast}': every nested scalar a string
    _, s = pipeline.resolve_scale(pipeline_config(
        threads={"train": "2", "test": "1"}, pool_available_only="false",
        **{"adam-shallow": {"model.learning_rate": "0.003", "tag": "fast"}}))
    assert s["threads"] == {"train": 2, "test": 1}
    assert s["pool_available_only"] is False
    assert s["adam-shallow"] == {"model.learning_rate": 0.003, "tag": "fast"}


def test_bad_scale_and_key_are_user_errors():
    with pytest.raises(UserError, match="smoke"):
        pipeline.resolve_scale(pipeline_config(scale="smok"))
    with pytest.raises(UserError, match="seeds"):
        pipeline.resolve_scale(pipeline_config(seedz=3))


def test_claims_figures_default_to_every_figure_and_are_checked():
    assert plan(scale="smoke").claims_figures == pipeline.FIGURES
    assert plan(scale="smoke", claims_figures=["fig6", "fig8"]).claims_figures == ("fig6", "fig8")
    with pytest.raises(UserError, match="fig8"):
        plan(scale="smoke", claims_figures=["fig6", "fig99"])


def test_one_changed_value_changes_only_the_affected_jobs():
    base = plan(scale="smoke")
    ablation = plan(scale="smoke", vsml={"model.micro_ticks": 1})
    changed = set(base.train) ^ set(ablation.train)
    assert changed and all(run.startswith("vsml/") for run in changed)
    same_tests = set(base.test) & set(ablation.test)
    assert all(not t.startswith("vsml/") for t in same_tests)
    assert any(t.startswith("metarnn/") for t in same_tests)
    more_seeds = plan(scale="smoke", seeds=3)
    assert set(more_seeds.train) == set(base.train)  # meta-training untouched
    fig8 = {c.test_job for c in base.cells["fig8"]}
    assert not {c.test_job for c in more_seeds.cells["fig8"]} & fig8  # every test reruns
    assert {c.test_job for c in more_seeds.cells["fig6"]} <= set(base.test)  # fig6: own seeds


def test_unavailable_data_is_planned_not_dropped():
    p = plan(scale="smoke")
    cells = p.cells["fig8"]
    assert {c.dataset for c in cells} >= {"emnist", "kmnist"}
    emnist = [p.test[c.test_job] for c in cells if c.dataset == "emnist"]
    assert emnist and all("emnist" in j.missing for j in emnist)
    all_runs = [j for j in p.train.values() if j.distribution == "all"]
    assert all_runs and all(j.missing == ("emnist", "kmnist") for j in all_runs)
    mnist_vsml = [c for c in cells if c.method == "vsml" and c.row == "mnist"]
    assert {c.seen for c in mnist_vsml} == {"seen", "unseen"}
    assert {c.variant for c in mnist_vsml} == {"proj"}  # Fig. 8: projection for VSML only


def test_pool_available_only_trains_all_rows_on_the_available_part():
    p = plan(scale="smoke", pool_available_only=True)  # smoke: kmnist and emnist missing
    runs = {j.distribution: j for j in p.train.values() if j.distribution.startswith("all")}
    label = "all (available: mnist, fashion_mnist, random)"
    assert label in runs and all("(available: " in d and not j.missing for d, j in runs.items())
    job = runs[label]
    assert job.datasets == ("mnist", "fashion_mnist", "random") and job.missing == ()
    assert "all" not in job.id.split("/")[2]  # the id names what it trains on
    rows = {c.row for c in p.cells["fig8"]}
    assert label in rows and "all" not in rows  # SGD/Adam cells sit in the same labelled row
    sgd = [c for c in p.cells["fig8"] if c.method == "sgd-shallow" and c.row == label]
    assert sgd and {c.train for c in sgd} == {"none"}
    # rows that restrict to the same datasets share one training: nothing trains twice
    q = plan(scale="smoke", pool_available_only=True,
             distributions=["all", "all_but_kmnist", "all_but_mnist"])
    vsml = {c.row: q.test[c.test_job].train for c in q.cells["fig8"] if c.method == "vsml"}
    assert vsml["all (available: mnist, fashion_mnist, random)"] == \
        vsml["all_but_kmnist (available: mnist, fashion_mnist, random)"]
    assert q.train[vsml["all_but_mnist (available: fashion_mnist, random)"]].datasets == (
        "fashion_mnist", "random")
    # off (the paper scale): the full pool, not run where data is missing
    assert all(j.missing for j in plan(scale="smoke").train.values()
               if j.distribution == "all")
    assert figures.dist_label(label) == "All (available: mnist, fashion_mnist, random)"
    assert figures.dist_label("all_but_mnist (available: fashion_mnist, random)") == (
        "All but MNIST (available: fashion_mnist, random)")


def test_method_variants_set_values_for_one_variant_only():
    def hebbian_mnist(p):
        return {j.variant: j for j in p.train.values()
                if j.method == "hebbian" and j.distribution == "mnist"}

    hebbian = hebbian_mnist(
        plan(scale="smoke", hebbian={"variants": {"proj": {"es.learning_rate": 0.005}}}))
    assert "es.learning_rate=0.005" in hebbian["proj"].sets
    assert not any(x.startswith("es.learning_rate=0.005") for x in hebbian["plain"].sets)
    # the plain runs keep their ids: nothing else retrains
    assert hebbian["plain"].id == hebbian_mnist(plan(scale="smoke"))["plain"].id
    with pytest.raises(UserError, match="hebbian.variants entry"):
        plan(scale="smoke", hebbian={"variants": {"projected": {"es.learning_rate": 0.005}}})


def test_paper_grid_is_complete():
    p = plan(scale="paper")
    cells = p.cells["fig8"]
    assert len(cells) == 11 * 6 * 8
    runs = {p.test[c.test_job].train for c in cells} - {None}
    assert len(runs) == 11 * 4
    assert {c.row for c in cells} >= {"all", "all_but_mnist", "all_but_random", "kmnist"}
    assert pipeline.distribution("all_but_emnist", p.s["pool"]) == (
        "mnist", "fashion_mnist", "kmnist", "random")
    job = p.train[next(iter(runs))]
    assert not any(s.startswith("es.pairs") for s in job.sets)  # paper: default 1024 pairs
    assert p.cells["fig6"][0].test_job in p.test
    assert p.test[p.cells["fig6"][0].test_job].episodes == 128


# ----------------------------------------------------------------------------- aggregate


def _write_test_csv(path: Path, correct: np.ndarray) -> None:
    episodes, steps = correct.shape
    frame = pd.DataFrame({
        "episode": np.repeat(np.arange(episodes), steps),
        "step": np.tile(np.arange(1, steps + 1), episodes),
        "correct": correct.reshape(-1).astype(int), "loss": 0.0, "method": "vsml",
        "checkpoint": "x", "dataset": "mnist", "seed": 0, "scale": "test",
        "git_commit": "abc", "config_hash": "h"})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _cell(test_job, method="vsml", panel="mnist", **kw):
    base = {"figure": "fig6", "row": "", "panel": panel, "method": method, "train": "mnist",
            "variant": "plain", "test": panel, "dataset": panel, "seen": "seen",
            "test_job": test_job, "length": 150, "train_config_hash": "h"}
    return {**base, **kw}


def test_aggregate_cumulative_accuracy_and_not_run(tmp_path):
    correct = np.zeros((4, 150), bool)
    correct[:, 50:] = True  # cumulative accuracy after 100: 0.5; after 150: 100/150
    correct[0, :] = True
    _write_test_csv(tmp_path / "a/x.csv", correct)
    (tmp_path / "b.csv").write_text(aggregate.not_run_csv("not run: data unavailable (a, b)"))
    cells = [_cell("a/x"), _cell("b", panel="emnist")]
    tables = aggregate.aggregate(cells, tmp_path, "test", curves=True)
    s = tables["summary"]
    assert list(s.columns) == aggregate.SUMMARY_COLUMNS
    ok = s.iloc[0]
    assert ok.status == "ok" and ok.seeds == 4 and ok.at_100 == 100 and ok.at_2000 == 150
    expect100 = np.array([1.0, 0.5, 0.5, 0.5])
    assert ok.acc100_mean == pytest.approx(expect100.mean())
    assert ok.acc100_std == pytest.approx(expect100.std())
    assert s.iloc[1].status == "not run" and "(a, b)" in s.iloc[1].reason
    assert list(tables["raw"].columns) == aggregate.RAW_COLUMNS and len(tables["raw"]) == 4
    curves = tables["curves"]
    assert list(curves.step[98:]) == [99, 100, 110, 120, 130, 140, 150]
    assert curves.acc_mean.iloc[-1] == pytest.approx(
        correct.mean(axis=1).mean())
    assert {"scale", "config_hash", "git_commit", "versions"} <= set(s.columns)


# ----------------------------------------------------------------------------- claims


def _summary(fig, rows):
    out = []
    for r in rows:
        base = {"figure": fig, "row": "", "train": "mnist", "variant": "plain",
                "seen": "unseen", "status": "ok", "reason": "", "seeds": 32, "at_100": 100,
                "at_2000": 2000, "acc100_std": 0.02, "acc2000_std": 0.02}
        r = {**base, **r}
        r.setdefault("test", r["panel"])
        r.setdefault("dataset", r["panel"])
        out.append(r)
    return pd.DataFrame(out)


def test_claims_verdicts_follow_fixed_rules():
    fig6 = _summary("fig6", [
        {"method": "vsml", "panel": "mnist", "acc100_mean": 0.6, "acc2000_mean": 0.8},
        {"method": "adam-shallow", "panel": "mnist", "acc100_mean": 0.3, "acc2000_mean": 0.85},
        {"method": "vsml", "panel": "fashion_mnist", "acc100_mean": 0.5, "acc2000_mean": 0.6},
        {"method": "metarnn", "panel": "fashion_mnist", "acc100_mean": 0.5,
         "acc2000_mean": 0.62},
        {"method": "sgd-shallow", "panel": "fashion_mnist", "acc100_mean": 0.4,
         "acc2000_mean": 0.9},
        {"method": "adam-shallow", "panel": "fashion_mnist", "acc100_mean": 0.4,
         "acc2000_mean": 0.7},
    ])
    fig8 = _summary("fig8", [
        {"method": "vsml", "panel": "random", "row": "mnist", "acc2000_mean": 0.5},
        {"method": "vsml", "panel": "sum_sign", "row": "mnist", "status": "not run",
         "reason": "not run: data unavailable (kmnist)", "seeds": 0},
    ])
    table = claims.evaluate({"fig6": fig6, "fig8": fig8}, "test").set_index("id")
    assert list(table.reset_index().columns) == claims.COLUMNS
    assert table.loc["fig6-faster-than-adam", "verdict"] == claims.REPRODUCED
    assert table.loc["fig6-vsml-beats-metarnn-fashion", "verdict"] == claims.NOT_REPRODUCED
    assert table.loc["fig6-fashion-close-to-sgd", "verdict"] == claims.NOT_REPRODUCED
    assert table.loc["fig8-vsml-learns-random", "verdict"] == claims.REPRODUCED
    sum_sign = table.loc["fig8-vsml-learns-sum-sign"]
    assert sum_sign.verdict == claims.NOT_RUN and "data unavailable" in sum_sign.reason
    assert table.loc["fig16-projection-vsml-fashion", "verdict"] == claims.NOT_RUN
    assert "fig16 not built" in table.loc["fig16-projection-vsml-fashion", "reason"]
    html = claims.to_html(table.reset_index(), "test")
    assert "reproduced" in html and "<table>" in html
    # a diagnosis explains a "not reproduced" verdict and never a reproduced one
    diagnoses = {"fig6-fashion-close-to-sgd": "horizon (docs/x.md)",
                 "fig6-faster-than-adam": "unused (docs/y.md)"}
    table = claims.evaluate({"fig6": fig6, "fig8": fig8}, "test", diagnoses=diagnoses)
    table = table.set_index("id")
    assert table.loc["fig6-fashion-close-to-sgd", "diagnosis"] == "horizon (docs/x.md)"
    assert table.loc["fig6-faster-than-adam", "diagnosis"] == ""
    assert table.loc["fig6-vsml-beats-metarnn-fashion", "diagnosis"] == ""
    assert "horizon (docs/x.md)" in claims.to_markdown(table.reset_index())
    assert "horizon (docs/x.md)" in claims.to_html(table.reset_index(), "test")


def test_diagnoses_file_is_checked(tmp_path):
    path = tmp_path / "diagnoses.yaml"
    path.write_text("mini:\n  fig6-fashion-close-to-sgd:\n    diagnosis: horizon\n"
                    "    evidence: docs/diagnosis.md#fig-6\n")
    assert claims.load_diagnoses(path, "mini", claims.CLAIMS) == {
        "fig6-fashion-close-to-sgd": "horizon (docs/diagnosis.md#fig-6)"}
    assert claims.load_diagnoses(path, "paper", claims.CLAIMS) == {}
    path.write_text("mini:\n  fig6-fashion-close-to-sdg:\n    diagnosis: x\n    evidence: y\n")
    with pytest.raises(UserError, match="did you mean 'fig6-fashion-close-to-sgd'"):
        claims.load_diagnoses(path, "mini", claims.CLAIMS)
    path.write_text("mini:\n  fig6-fashion-close-to-sgd:\n    diagnosis: horizon\n")
    with pytest.raises(UserError, match="needs a 'diagnosis'.*and an 'evidence'"):
        claims.load_diagnoses(path, "mini", claims.CLAIMS)


# ----------------------------------------------------------------------------- figures


def test_grid_and_curve_figures_render(tmp_path):
    p = plan(scale="smoke")
    rng = np.random.default_rng(0)
    rows = []
    for rec in p.cell_records("fig8"):
        ok = not rec["missing"]
        rows.append({**{k: rec[k] for k in aggregate.CELL_COLUMNS},
                     "status": "ok" if ok else "not run",
                     "reason": "" if ok else "not run: data unavailable (kmnist)",
                     "seeds": 2 if ok else 0, "at_100": 100, "at_2000": 120,
                     "acc100_mean": rng.uniform(), "acc100_std": 0.05,
                     "acc2000_mean": rng.uniform(), "acc2000_std": 0.05, "scale": "smoke"})
    summary = pd.DataFrame(rows)
    paths = figures.save(figures.draw("fig8", summary, scale="smoke"), tmp_path / "fig8.pdf")
    assert all(path.stat().st_size > 1000 for path in paths)
    curve_summary = summary[summary.row == "mnist"].head(2).assign(figure="fig6")
    curves = pd.concat([curve_summary.assign(step=t, acc_mean=0.5, acc_std=0.1)
                        for t in range(1, 11)])
    drawn = figures.draw("fig6", curve_summary, curves, "smoke")
    # one legend below the panels, none inside a panel (it covered the curves)
    assert len(drawn.legends) == 1 and not any(ax.get_legend() for ax in drawn.axes)
    figures.save(drawn, tmp_path / "fig6.pdf")
    assert (tmp_path / "fig6.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- Snakemake DAG


def test_paper_dry_run_lists_the_full_grid(snakemake_dry_run):
    counts = snakemake_dry_run("figures/fig8.pdf", scale="paper")
    assert counts.get("meta_train") == 11 * 4  # every distribution x meta-learned method
    # 44 runs x 6 datasets + 4 online methods x 6 datasets
    assert counts.get("meta_test") == 11 * 4 * 6 + 4 * 6


def test_job_times_gathers_benchmark_files(tmp_path, capsys):
    import runpy

    job_times = runpy.run_path(str(ROOT / "workflow/scripts/job_times.py"))
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {
        "train/vsml/plain/mnist-abc.tsv": "390.5\t0:06:30\t812.1\t1\t1\t1\t0\t0\t99\t388.0\n",
        "test/vsml/mnist-def.tsv": "4.0\t0:00:04\t300.0\t1\t1\t1\t0\t0\t120\t5.0\n",
        "test/adam-shallow/mnist-123.tsv": "NA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n",
        "cloning/forward.tsv": "60\t0:01:00\t500\t1\t1\t1\t0\t0\t100\t61\n",
    }
    for name, line in files.items():
        path = tmp_path / "mini" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + line)
    out = tmp_path / "times.csv"
    assert job_times["main"]([str(tmp_path / "mini"), "--out", str(out)]) == 0
    table = pd.read_csv(out).set_index("job")
    assert table.loc["vsml/plain/mnist-abc", "kind"] == "train"
    assert table.loc["vsml/plain/mnist-abc", "method"] == "vsml"
    assert table.loc["vsml/plain/mnist-abc", "cpu_s"] == 388.0
    assert table.loc["adam-shallow/mnist-123", "wall_s"] == 0.0  # NA: not measured
    assert table.loc["forward", "method"] == "cloning"
    printed = capsys.readouterr().out
    assert "train" in printed and f"{(390.5 + 4 + 60) / 60:.1f}" in printed
    assert job_times["main"]([str(tmp_path / "missing")]) == 2


def test_publish_checkpoints_copies_the_planned_runs_only(tmp_path, monkeypatch):
    import json
    import runpy

    from vsml.repro import appendix_train

    monkeypatch.chdir(ROOT)  # the script reads config/pipeline.yaml
    publish = runpy.run_path(str(ROOT / "workflow/scripts/publish_checkpoints.py"))
    p = plan(scale="mini")
    runs = tmp_path / "runs"
    ids = [p.train_job("vsml", v, d).id for v, d in publish["CHECKPOINTS"].values()]
    ids.append(appendix_train.conv_train_job(p, "mnist", "proj").id)
    for i, run_id in enumerate(ids):
        run_dir = runs / "mini" / "train" / run_id
        run_dir.mkdir(parents=True)
        (run_dir / "run.json").write_text(json.dumps({"status": "done", "i": i}))
        (run_dir / "meta_params.npz").write_bytes(b"npz")
        (run_dir / "metrics.csv").write_text(f"step,meta_loss\n1,{i}\n")
        (run_dir / "checkpoint.npz").write_bytes(b"optimizer state")
    # an older run of another config beside them is not published
    (runs / "mini" / "train" / "vsml" / "plain" / "mnist-0000000000").mkdir()
    out = tmp_path / "published"
    args = ["--scale", "mini", "--runs", str(runs), "--out", str(out)]
    assert publish["main"](args) == 0
    mnist = out / "mini" / "checkpoints" / "vsml-mnist"
    assert sorted(f.name for f in mnist.iterdir()) == ["meta_params.npz", "metrics.csv",
                                                        "run.json"]
    assert json.loads((mnist / "run.json").read_text())["i"] == 0
    conv = (out / "mini" / "appendix_train" / "fig20-conv-meta-training.csv").read_text()
    assert conv.endswith("1,4\n")
    # an unfinished run is named and fails the command
    (runs / "mini" / "train" / ids[1] / "run.json").write_text('{"status": "running"}')
    assert publish["main"](args) == 1
