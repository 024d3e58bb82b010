"""App. B Figs. 9, 17, 19: repeated streams, probability recording, tables, claims, figures."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
import yaml

from vsml import data
from vsml.data.datasets import RawSplit
from vsml.data.streams import repeated_episode
from vsml.errors import UserError
from vsml.meta.meta_test import COLUMNS, PROBABILITY_COLUMNS, meta_test
from vsml.repro import aggregate, claims, figures, figures_appendix_a, introspection, pipeline

ROOT = Path(__file__).resolve().parent.parent
HAVE_MNIST = data.available("mnist")


def fake_mnist(per_class: int = 5, image_size: int | None = 4):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class).astype(np.int32)
    images = rng.integers(0, 256, (labels.size, 28, 28, 1), np.uint8)
    spec = data.TaskSpec("mnist", "test", image_size)
    return data.prepare_arrays(RawSplit(images, labels), spec), spec


# ----------------------------------------------------------------------------- streams


def test_repeat_stream_shows_one_image_per_class_twice_in_a_row():
    task, spec = fake_mnist()
    for seed in range(3):
        ep = repeated_episode(jax.random.PRNGKey(seed), task, 40, spec, 2, True)
        x, y = np.asarray(ep.x), np.asarray(ep.y)
        assert x.shape == (40, 16)
        np.testing.assert_array_equal(x[0::2], x[1::2])  # image k at steps 2k+1, 2k+2
        np.testing.assert_array_equal(y[0::2], y[1::2])
        for block in (y[0:20:2], y[20:40:2]):  # every 10 distinct images: each class once
            assert sorted(block) == list(range(10))
        distinct = {x[i].tobytes() for i in range(0, 40, 2)}
        assert len(distinct) == 20  # without replacement within a class while examples last
        # the label is the class of the image shown
        rows = {task.x[i].tobytes(): int(task.y[i]) for i in range(task.x.shape[0])}
        assert [rows[x[i].tobytes()] for i in range(40)] == list(y)


def test_plain_repeat_is_the_normal_stream_shown_twice():
    task, spec = fake_mnist()
    key = jax.random.PRNGKey(3)
    once = data.sample_episode(key, task, 10, spec)
    same = repeated_episode(key, task, 10, spec, 1, False)
    np.testing.assert_array_equal(once.x, same.x)
    twice = repeated_episode(key, task, 20, spec, 2, False)
    np.testing.assert_array_equal(np.asarray(twice.x)[::2], once.x)


def test_stream_options_are_checked():
    task, spec = fake_mnist()
    with pytest.raises(UserError, match="multiple of --repeat"):
        repeated_episode(jax.random.PRNGKey(0), task, 21, spec, 2, True)
    with pytest.raises(UserError, match="one-per-class"):
        meta_test(dataset="sum_sign", method="sgd-shallow", episodes=1, length=4,
                  one_per_class=True, sets=["task.image_size=2"], log=lambda *_: None)
    with pytest.raises(UserError, match=">= 1"):
        meta_test(dataset="sum_sign", method="sgd-shallow", episodes=1, length=4, repeat=0,
                  sets=["task.image_size=2"], log=lambda *_: None)


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST not in $VSML_DATA_DIR")
def test_meta_test_records_probabilities_of_the_same_stream_for_every_learner(tmp_path):
    kwargs = dict(dataset="mnist", episodes=3, length=20, seed=2, repeat=2,
                  one_per_class=True, probabilities=True, sets=["task.image_size=4"],
                  log=lambda *_: None)
    sgd = meta_test(method="sgd-shallow", **kwargs)["rows"]
    meta_test(method="adam-shallow", out=tmp_path / "adam.csv", **kwargs)
    adam = pd.read_csv(tmp_path / "adam.csv")
    probs = [f"p{c}" for c in range(10)]
    assert list(adam.columns) == [*COLUMNS, *PROBABILITY_COLUMNS, *probs]
    np.testing.assert_allclose(adam[probs].sum(axis=1), 1.0, atol=1e-5)
    assert (adam.predicted == adam[probs].to_numpy().argmax(axis=1)).all()
    assert (adam.correct == (adam.predicted == adam.label)).all()
    assert list(adam.showing[:4]) == [1, 2, 1, 2]
    np.testing.assert_array_equal(sgd.label, adam.label)  # same seed: the same streams
    # the loss is the cross-entropy of the recorded probabilities
    p_true = adam[probs].to_numpy()[np.arange(len(adam)), adam.label]
    np.testing.assert_allclose(adam.loss, -np.log(p_true), rtol=1e-3, atol=1e-4)


# ----------------------------------------------------------------------------- plan


def plan(**overrides) -> pipeline.Plan:
    config = yaml.safe_load((ROOT / "config/pipeline.yaml").read_text())
    config.update(overrides)
    scale, settings = pipeline.resolve_scale(config)
    return pipeline.Plan(settings, scale, lambda d: d in {"mnist", "fashion_mnist"},
                         resolve=False)


def test_figures_reuse_the_fig6_run_and_train_nothing_new():
    p = plan(scale="paper")
    fig6_run = p.train_job("vsml", "plain", "mnist").id
    for fig in ("fig9", "fig17", "fig19"):
        runs = {p.test[c.test_job].train for c in p.cells[fig]} - {None}
        assert runs == {fig6_run}
    fig9 = [p.test[c.test_job] for c in p.cells["fig9"]]
    assert [j.method for j in fig9] == ["vsml", "adam-shallow"]
    assert all(j.length == 20 and j.episodes == 32 for j in fig9)
    assert fig9[0].options == ("--probabilities", "--repeat", "2", "--one-per-class")
    fig17 = [p.test[c.test_job] for c in p.cells["fig17"]]
    assert all(j.length == 100 and j.options == ("--probabilities",) for j in fig17)
    fig19 = [p.test[c.test_job] for c in p.cells["fig19"]]
    assert [j.method for j in fig19] == ["vsml", "sgd-shallow", "adam-shallow"]
    assert all(j.length == 12000 and j.episodes == 32 and not j.options for j in fig19)
    assert len({c.test_job for f in ("fig9", "fig17", "fig19") for c in p.cells[f]}) == 7


def test_options_change_only_their_own_test_ids():
    p = plan(scale="smoke")
    run = p.train_job("vsml", "plain", "mnist")
    plain = p.test_job("vsml", "mnist", train=run, label="x", length=20)
    recorded = p.test_job("vsml", "mnist", train=run, label="x", length=20,
                          options=("--probabilities",))
    assert plain.id != recorded.id
    # no options: the id hashes exactly what it did before options existed
    h = pipeline.short_hash([run.id, "mnist", plain.episodes, 20, plain.seed, list(plain.sets)])
    assert plain.id.endswith(h)
    assert "options" not in repr(recorded)  # the rules' rerun fingerprint of old jobs holds


def test_appendix_settings_are_checked():
    with pytest.raises(UserError, match="fig19"):
        plan(scale="smoke", appendix_mnist={"fig91": {}})
    with pytest.raises(UserError, match="streams"):
        plan(scale="smoke", appendix_mnist={"fig9": {"stream": 3}})
    with pytest.raises(UserError, match="must include 'vsml'"):
        plan(scale="smoke", appendix_mnist={"fig19": {"methods": ["sgd-shallow"]}})
    p = plan(scale="smoke", appendix_mnist={"fig17": {"streams": 5}})
    assert {p.test[c.test_job].episodes for c in p.cells["fig17"]} == {5}


# ----------------------------------------------------------------------------- tables


def _write(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def _intro_frame(method: str, correct_by_showing: dict[int, list[list[int]]],
                 p_true: float = 0.9) -> pd.DataFrame:
    """A per-step introspection CSV: episodes x images, showings 1 and 2 in a row."""
    first, second = (np.asarray(correct_by_showing[k]) for k in (1, 2))
    episodes, images = first.shape
    rows = []
    for e in range(episodes):
        for i in range(images):
            label = i % 10
            for showing, ok in ((1, first[e, i]), (2, second[e, i])):
                probs = np.full(10, (1 - p_true) / 9)
                probs[label if ok else (label + 1) % 10] = p_true
                rows.append({"episode": e, "step": 2 * i + showing, "correct": int(ok),
                             "loss": 0.0, "method": method, "checkpoint": "", "dataset": "mnist",
                             "seed": 0, "scale": "t", "git_commit": "abc", "config_hash": "h",
                             "label": label, "predicted": int(np.argmax(probs)),
                             "showing": showing, **{f"p{c}": probs[c] for c in range(10)}})
    return pd.DataFrame(rows)


def _cell(fig, method, test_job, **kw):
    base = {"figure": fig, "row": "", "panel": "mnist", "method": method,
            "train": "mnist" if method == "vsml" else "none", "variant": "plain",
            "test": "t", "dataset": "mnist", "seen": "seen", "test_job": test_job,
            "length": 20, "train_config_hash": "h"}
    return {**base, **kw}


def test_introspection_table_counts_showings(tmp_path):
    vsml = _intro_frame("vsml", {1: [[0, 0, 1, 1], [0, 1, 1, 1]], 2: [[1, 0, 1, 1], [1, 1, 1, 1]]})
    _write(tmp_path / "v.csv", vsml)
    (tmp_path / "a.csv").write_text(aggregate.not_run_csv("not run: data unavailable (mnist)"))
    tables = introspection.introspection_tables(
        [_cell("fig9", "vsml", "v"), _cell("fig9", "adam-shallow", "a")], tmp_path, "t")
    s = tables["summary"]
    assert list(s.columns) == introspection.INTRO_SUMMARY_COLUMNS
    row = s.iloc[0]
    assert row.seeds == 2 and row.length == 8 and row["repeat"] == 2
    assert row.first_mean == pytest.approx(np.mean([0.5, 0.75]))
    assert row.second_mean == pytest.approx(np.mean([0.75, 1.0]))
    assert row.second_std == pytest.approx(np.std([0.75, 1.0]))
    # episode 0 missed images 0 and 1 first and fixed one of them; episode 1 fixed its one
    assert row.fixed_mean == pytest.approx(np.mean([0.5, 1.0])) and row.fixed_seeds == 2
    p_true = np.mean([(0.75 * 0.9 + 0.25 * 0.1 / 9), 0.9])
    assert row.second_p_true_mean == pytest.approx(p_true)
    assert s.iloc[1].status == "not run" and "mnist" in s.iloc[1].reason
    steps = tables["steps"]
    assert len(steps) == 16 and list(steps.columns[-14:-4]) == [f"p{c}" for c in range(10)]


def test_crossing_step_and_its_bootstrap():
    behind = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    assert introspection.crossing_step(behind, np.array([0.1, 0.9, 0.6, 0.7, 0.8])) == 4
    assert introspection.crossing_step(behind, behind + 0.1) == 1
    assert introspection.crossing_step(behind, behind - 0.1) == float("inf")
    steps = 400
    t = np.arange(1, steps + 1)
    rng = np.random.default_rng(0)
    vsml = np.tile(0.6 + 0.0 * t, (16, 1)) + rng.normal(0, 0.01, (16, 1))
    gd = np.tile(0.3 + 0.5 * t / steps, (16, 1)) + rng.normal(0, 0.01, (16, 1))
    point, low, high, share = introspection.bootstrap_crossing(vsml, gd, resamples=200)
    assert 230 <= low <= point <= high <= 260 and share == 1.0
    point, low, high, share = introspection.bootstrap_crossing(gd, vsml * 0 + 0.1, 50)
    assert point == low == high == float("inf") and share == 0.0


def test_horizon_table_reads_t_from_the_checkpoint(tmp_path):
    run = tmp_path / "runs/vsml"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"config": {"meta_train": {"length": 50}}}))
    steps, episodes = 300, 4
    rng = np.random.default_rng(1)
    for name, prob in (("v", np.where(np.arange(steps) < 150, 0.8, 0.1)),
                       ("g", np.linspace(0.2, 1.0, steps))):
        correct = rng.random((episodes, steps)) < prob
        frame = pd.DataFrame({"episode": np.repeat(np.arange(episodes), steps),
                              "step": np.tile(np.arange(1, steps + 1), episodes),
                              "correct": correct.reshape(-1).astype(int),
                              "checkpoint": str(run) if name == "v" else "",
                              "config_hash": "h", "git_commit": "abc", "seed": 0})
        _write(tmp_path / f"{name}.csv", frame)
    cells = [_cell("fig19", "vsml", "v", length=steps),
             _cell("fig19", "sgd-shallow", "g", length=steps)]
    tables = introspection.horizon_tables(cells, tmp_path, "t", resamples=100)
    s = tables["summary"].set_index("method")
    assert list(tables["summary"].columns) == introspection.HORIZON_SUMMARY_COLUMNS
    assert (s.horizon == 50).all() and s.loc["vsml", "length"] == steps
    assert s.loc["vsml", "cross_step"] == "" and s.loc["sgd-shallow", "versus"] == "vsml"
    assert 1 < s.loc["sgd-shallow", "cross_step"] < steps
    assert s.loc["sgd-shallow", "cross_low"] <= s.loc["sgd-shallow", "cross_step"]
    assert list(tables["curves"].columns) == aggregate.CURVE_COLUMNS
    assert tables["curves"].step.max() == steps
    kept = introspection.curve_steps(12000)
    assert kept[:100] == list(range(100)) and kept[-1] == 11999 and len(kept) < 600
    assert {109, 119, 1999} <= set(kept) and 2049 in kept and 2059 not in kept


# ----------------------------------------------------------------------------- claims


def _intro_summary(fig, second=(0.9, 0.3), acc=(0.6, 0.3), seeds=32):
    rows = []
    for method, s2, a in zip(("vsml", "adam-shallow"), second, acc):
        rows.append({"figure": fig, "row": "", "panel": "mnist", "method": method,
                     "status": "ok", "reason": "", "seeds": seeds, "length": 20,
                     "second_mean": s2, "second_std": 0.1, "acc_mean": a, "acc_std": 0.1,
                     "second_p_true_mean": 0.8, "fixed_mean": 0.9})
    return pd.DataFrame(rows)


def _horizon_summary(early=(0.6, 0.4), final=(0.7, 0.8), cross=5000.0):
    rows = []
    for method, e, f in zip(("vsml", "sgd-shallow"), early, final):
        rows.append({"figure": "fig19", "row": "", "panel": "mnist", "method": method,
                     "status": "ok", "reason": "", "seeds": 32, "length": 12000,
                     "horizon": 500, "at_early": 100, "early_mean": e, "early_std": 0.02,
                     "final_mean": f, "final_std": 0.01,
                     "cross_step": cross if method != "vsml" else np.nan,
                     "cross_low": 4000.0, "cross_high": 6000.0})
    return pd.DataFrame(rows)


def _verdicts(summaries):
    return claims.evaluate(summaries, "t").set_index("id").verdict


def test_claims_of_figs_9_17_19_follow_their_rules():
    v = _verdicts({"fig9": _intro_summary("fig9"), "fig17": _intro_summary("fig17"),
                   "fig19": _horizon_summary()})
    assert v["fig9-second-showing"] == claims.REPRODUCED
    assert v["fig17-associates-quickly"] == claims.REPRODUCED
    assert v["fig19-gd-overtakes"] == claims.REPRODUCED
    v = _verdicts({"fig9": _intro_summary("fig9", second=(0.5, 0.5)),
                   "fig17": _intro_summary("fig17", acc=(0.3, 0.6)),
                   "fig19": _horizon_summary(final=(0.8, 0.7), cross=np.nan)})
    assert v["fig9-second-showing"] == claims.NOT_REPRODUCED
    assert v["fig17-associates-quickly"] == claims.NOT_REPRODUCED
    assert v["fig19-gd-overtakes"] == claims.NOT_REPRODUCED
    # GD ahead from the start: it never overtakes
    assert _verdicts({"fig19": _horizon_summary(early=(0.4, 0.6))})["fig19-gd-overtakes"] \
        == claims.NOT_REPRODUCED
    table = claims.evaluate({"fig9": _intro_summary("fig9", seeds=8)}, "t").set_index("id")
    assert table.loc["fig9-second-showing", "verdict"] == claims.NOT_RUN
    assert "needs >= 32" in table.loc["fig9-second-showing", "reason"]
    assert table.loc["fig19-gd-overtakes", "verdict"] == claims.NOT_RUN


# ----------------------------------------------------------------------------- figures


def test_figures_render_and_refuse_different_streams(tmp_path):
    first = [[0, 1, 1, 0, 1]]
    frames = {m: _intro_frame(m, {1: first, 2: [[1, 1, 1, 1, 1]]}) for m in ("vsml", "adam")}
    frames["adam-shallow"] = frames.pop("adam")
    for name, frame in frames.items():
        _write(tmp_path / f"{name}.csv", frame)
    cells = [_cell("fig9", m, m) for m in frames]
    tables = introspection.introspection_tables(cells, tmp_path, "t")
    figure = figures_appendix_a.draw_introspection("fig9", tables["summary"], tables["steps"])
    paths = figures.save(figure, tmp_path / "fig9.pdf")
    assert all(p.stat().st_size > 1000 for p in paths)
    steps = tables["steps"].copy()
    steps.loc[steps.method == "vsml", "label"] = 3
    with pytest.raises(UserError, match="different streams"):
        figures_appendix_a.draw_introspection("fig9", tables["summary"], steps)
    summary = _horizon_summary().assign(versus=["", "vsml"], variant="plain", train="mnist")
    curves = pd.concat([summary[["method", "train"]].assign(step=s, acc_mean=0.5, acc_std=0.1)
                        for s in (1, 100, 12000)])
    paths = figures.save(figures_appendix_a.draw_horizon(summary, curves, "t"),
                         tmp_path / "fig19.pdf")
    assert (tmp_path / "fig19.png").stat().st_size > 1000


# ----------------------------------------------------------------------------- Snakemake DAG


def test_paper_dry_run_lists_the_appendix_mnist_jobs(snakemake_dry_run):
    counts = snakemake_dry_run("figures/fig9.pdf", "figures/fig17.pdf", "figures/fig19.pdf",
                               scale="paper")
    assert counts.get("meta_train") == 1  # Fig. 6's VSML run, nothing else
    assert counts.get("meta_test") == 7
    assert counts.get("introspect_table") == 2 and counts.get("horizon_table") == 1
    assert counts.get("introspect_figure") == 2 and counts.get("horizon_figure") == 1
