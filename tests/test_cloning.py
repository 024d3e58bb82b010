"""Learning-algorithm cloning (vsml/cloning/): small clones trained inside the tests."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vsml import cloning as cl
from vsml import model as vm
from vsml.errors import UserError
from vsml.learner import Feedback

DATA = Path(os.environ.get("VSML_DATA_DIR", "/work/shared/data"))
HAVE_MNIST = (DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def _train_clean(cc: cl.CloneConfig, steps: int, batch: int, seed: int = 0):
    """Clone the rule on random data from clean states (the first curriculum stage)."""
    ts = cl.TrainSettings(steps, batch, lr=1e-2, seed=seed)
    opt, step = cl.make_clone_step(cc, ts, cl.Mixture(shadow=0.0, fresh_state=1.0, fresh_wb=1.0))
    params = cl.init_params(cc, jax.random.PRNGKey(seed))
    opt_state = opt.init(params)
    buffer = cl.fresh_states(cc, jax.random.PRNGKey(seed + 1), 1024)
    no_rows, no_rollout = jnp.zeros((1, 5)), jnp.zeros((1, 3))
    for i in range(steps):
        params, opt_state, buffer, _, _ = step(params, opt_state, buffer, no_rows, no_rollout,
                                               jax.random.PRNGKey(1000 + i))
    return params


@functools.lru_cache(maxsize=1)
def _clean_clone():
    cc = cl.CloneConfig()
    return cc, _train_clean(cc, steps=500, batch=384)


def test_forward_clone_reproduces_tanh_x_w():
    """300 Adam steps: held-out mean |y - tanh(x) w| < 0.3 (a zero output scores ~1.5)."""
    cc = cl.CloneConfig()
    params, history = cl.train_forward(cc, cl.TrainSettings(300, 256, lr=1e-2))
    kx, kw = jax.random.split(jax.random.PRNGKey(123))
    x = jax.random.uniform(kx, (2000,), minval=-3, maxval=3)
    w = jax.random.uniform(kw, (2000,), minval=-cc.w_max, maxval=cc.w_max)
    err = float(jnp.mean(jnp.abs(cl.forward_predict(params, cc, x, w) - cl.forward_target(x, w))))
    baseline = float(jnp.mean(jnp.abs(cl.forward_target(x, w))))
    assert err < 0.3, err
    assert err < 0.2 * baseline, (err, baseline)
    assert history[-1]["loss"] < history[0]["loss"]


def _direction(params, cc, key):
    """Sign agreement / correlation of one forward + backward tick with the rule's update,
    on random rows whose true update is clear (|delta w| >= 0.05, i.e. 1/6 of alpha)."""
    x, e, w, b = cl.random_inputs(cc, key, 20000)
    tgt = cl.rule(cc, w, b, x, e)
    keep = jnp.abs(tgt.w - w) >= 0.05
    rows = jnp.stack([x, e, w, b], axis=1)[keep]
    q = cl.clone_errors(params, cc, rows, jax.random.fold_in(key, 1))
    return rows.shape[0], {k: float(v) for k, v in q.items()}


def _batch_direction(params, cc, key, groups=256, batch=64):
    """Sign agreement of batch-averaged updates (as with merged states, App. C.1).

    Each group is one synapse state (fresh, with random w, b) that sees ``batch`` random
    (x, e); the clone's mean delta w / delta b over the batch is compared with the rule's.
    """
    kx, ks = jax.random.split(key)
    x, e, _, _ = cl.random_inputs(cc, kx, groups * batch)
    _, _, w, b = cl.random_inputs(cc, ks, groups)
    st = cl.fresh_states(cc, jax.random.fold_in(key, 2), groups)
    c = cl.write_wb(st.c, w, b)
    rep = lambda a: jnp.repeat(a, batch, axis=0)  # noqa: E731
    _, _, _, (_, c2) = cl.forward_backward(params, cc, rep(st.h), rep(c), x, e)
    w2, b2 = cl.read_wb(c2)
    tgt = cl.rule(cc, rep(w), rep(b), x, e)
    mean = lambda a: a.reshape(groups, batch).mean(axis=1)  # noqa: E731
    dw, dw_true = mean(w2) - w, mean(tgt.w) - w
    db, db_true = mean(b2) - b, mean(tgt.b) - b
    return (float(jnp.mean(jnp.sign(dw) == jnp.sign(dw_true))),
            float(jnp.mean(jnp.sign(db) == jnp.sign(db_true))))


def test_cloned_update_follows_backprop_direction():
    """One forward + backward tick moves w and b like the rule (backprop) does.

    Per example, on random rows with a clear update: correlation of delta w with the
    rule's >= 0.75 (measured 0.87), of delta b >= 0.9, and the forward tick (e = 0) moves w
    by < 0.01.
    Averaged over batches of 64 (state merging): sign agreement >= 0.6 for delta w and
    >= 0.8 for delta b.
    """
    cc, params = _clean_clone()
    n, q = _direction(params, cc, jax.random.PRNGKey(7))
    assert n > 300
    assert q["corr_dw"] >= 0.75, q
    assert q["corr_db"] >= 0.9, q
    assert q["drift_dw"] < 0.01, q
    sign_w, sign_b = _batch_direction(params, cc, jax.random.PRNGKey(9))
    assert sign_w >= 0.6, (sign_w, q)
    assert sign_b >= 0.8, (sign_b, q)


def test_untrained_clone_fails_the_direction_check():
    """The checks above can fail: fresh meta-parameters do not implement the rule."""
    cc = cl.CloneConfig()
    params = cl.init_params(cc, jax.random.PRNGKey(0))
    _, q = _direction(params, cc, jax.random.PRNGKey(7))
    sign_w, sign_b = _batch_direction(params, cc, jax.random.PRNGKey(9))
    assert q["corr_dw"] < 0.5 or sign_w < 0.6 or sign_b < 0.8


def test_forward_sweep_freezes_and_backward_sweep_keeps_only_w_b():
    """App. C.1: the forward sweep leaves every state as it was; after the backward sweep
    only the (w, b) dimensions are non-zero, and they moved."""
    cc = cl.CloneConfig(state_size=8)
    params = cl.init_params(cc, jax.random.PRNGKey(0))
    state = cl.init_network_state(cc, (5, 4, 3), jax.random.PRNGKey(1))
    x = jax.random.normal(jax.random.PRNGKey(2), (5,))
    fwd, out = cl.forward_sweep(params, cc, state, x)
    for before, after in zip(state.layers, fwd.layers):
        np.testing.assert_array_equal(before.h, after.h)
        np.testing.assert_array_equal(before.c, after.c)
    back = cl.backward_sweep(params, cc, fwd, jnp.ones(3))
    for before, after in zip(state.layers, back.layers):
        assert not np.any(after.h) and not np.any(after.c[..., 2:])
        assert np.abs(after.c[..., :2] - before.c[..., :2]).max() > 1e-4
    carried = cl.backward_sweep(params, dataclasses.replace(cc, retain_wb_only=False), fwd,
                                jnp.ones(3))
    assert np.any(carried.layers[0].c[..., 2:])  # the check above can fail


def test_learning_with_progress_runs_in_chunks_with_identical_results():
    cc = cl.CloneConfig(state_size=8)
    params = cl.init_params(cc, jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (100, 6))
    y = jax.random.randint(jax.random.PRNGKey(2), (100,), 0, 3)
    run = functools.partial(cl.run_learning, params, cc, (6, 3), x, y, jax.random.PRNGKey(3),
                            120, 4)
    whole, s1 = run()
    calls = []
    chunked, s2 = run(progress=calls.append)
    assert calls == [2] * 60
    np.testing.assert_array_equal(whole.loss, chunked.loss)
    np.testing.assert_array_equal(s1.layers[0].c, s2.layers[0].c)


def test_one_layer_cloned_step_is_the_vsml_step():
    """Carrying the whole state, one layer of the cloned learner runs exactly VSML's
    dynamics (reverse sweep)."""
    cc = cl.CloneConfig(state_size=8, micro_ticks=2, retain_wb_only=False)
    sizes = (5, 3)
    cloned = cl.ClonedBackprop(cc, sizes)
    vsml = vm.VSML(cc.vsml_config(), (5,), 3)
    params = vsml.init_meta_params(jax.random.PRNGKey(0))
    s1 = cloned.init_state(params, jax.random.PRNGKey(1))
    s2 = vsml.init_state(params, jax.random.PRNGKey(1))
    fb = Feedback(jnp.zeros(3), jnp.zeros(3))
    for t in range(4):
        x = jax.random.normal(jax.random.PRNGKey(10 + t), (5,))
        l1, s1 = cloned.step(params, s1, x, fb)
        l2, s2 = vsml.step(params, s2, x, fb)
        np.testing.assert_allclose(l1, l2, rtol=1e-5, atol=1e-6)
        fb = Feedback(jax.nn.softmax(l1) - jax.nn.one_hot(t % 3, 3), jax.nn.one_hot(t % 3, 3))
    for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s2)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_rule_is_sgd_on_the_mean_network():
    """Unclipped, the rule = SGD with lr_k = alpha A_k / gain * prod_{j>k} A_j / B_j."""
    cc = cl.CloneConfig(w_max=1e6, gain=2.0, alpha=0.5)
    sizes = (6, 4, 3)
    params = [tuple(0.5 * jax.random.normal(k, (a, b)) for k in jax.random.split(kk, 2))
              for kk, a, b in zip(jax.random.split(jax.random.PRNGKey(0), 2), sizes[:-1],
                                  sizes[1:])]
    x = jax.random.normal(jax.random.PRNGKey(3), (1, 6))
    y = jnp.array([2])
    new, _, _, _, _ = cl.shadow_update(cc, params, x, y)

    def loss(p):  # cross-entropy of the unsquashed mean network (squash ~ identity here)
        logits, _ = cl.shadow_forward(cc, p, x[0])
        return -jax.nn.log_softmax(logits)[2]

    grads = jax.grad(loss)(params)
    lrs = [cc.alpha * sizes[0] / cc.gain * sizes[1] / sizes[2], cc.alpha * sizes[1] / cc.gain]
    for (w, b), (nw, nb), (gw, gb), lr in zip(params, new, grads, lrs):
        np.testing.assert_allclose(nw, w - lr * gw, rtol=2e-3, atol=1e-5)
        # every synapse's bias gets the same update: its mean moves like an SGD bias
        np.testing.assert_allclose(nb.mean(0), (b - lr * gb).mean(0), rtol=2e-3, atol=1e-5)


def test_params_roundtrip_and_errors(tmp_path):
    cc = cl.CloneConfig(state_size=8)
    params = cl.init_params(cc, jax.random.PRNGKey(0))
    path = cl.save_params(tmp_path / "p.npz", params, {"kind": "forward",
                                                        "clone_config": dataclasses.asdict(cc)})
    back, meta = cl.load_params(path)
    assert cl.config_from_meta(meta) == cc
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(back)):
        np.testing.assert_array_equal(a, b)
    with np.load(path, allow_pickle=False) as z:
        assert "lstm/w" in z.files
    with pytest.raises(UserError, match="no cloned parameters"):
        cl.load_params(tmp_path / "missing.npz")
    # clone-eval refuses a forward clone with a one-line error (exit 2)
    code = cl.main(["clone-eval", "--scale", "smoke", "--params", str(path),
                    "--out", str(tmp_path / "e.csv")])
    assert code == 2
    with pytest.raises(UserError, match="valid choices"):
        cl.preset("huge")


@pytest.mark.skipif(not HAVE_MNIST, reason="MNIST files absent")
def test_cloned_learner_learns_mnist_subset(monkeypatch):
    """Smoke scale: 7x7 MNIST, batch 8, 150 steps of pure unrolling (no gradients).

    The clone trained above (500 steps of clean states, random data only, ~5 s) must learn
    like the rule it imitates: test accuracy >= 0.45 on 300 test images (chance 0.1;
    measured 0.56) and at most 10 points below regular SGD on the same stream (0.49).
    """
    monkeypatch.setenv("VSML_DATA_DIR", str(DATA))
    cc, params = _clean_clone()
    x, y = cl.dataset_arrays(7)
    xt, yt = cl.dataset_arrays(7, "test")
    sizes = (49, 10)
    curve, state = cl.run_learning(params, cc, sizes, x, y, jax.random.PRNGKey(0), 150, 8)
    acc = cl.cloned_accuracy(params, cc, state, xt[:300], yt[:300])
    scurve, sp = cl.run_shadow_sgd(cc, sizes, x, y, jax.random.PRNGKey(0), 150, 8)
    sgd = cl.shadow_accuracy(cc, sp, xt[:300], yt[:300])
    assert np.isfinite(np.asarray(curve.loss)).all()
    assert acc >= 0.45, (acc, sgd)
    assert acc >= sgd - 0.10, (acc, sgd)


# ------------------------------------------------------- compilation, CLI options, tables


def test_curriculum_stages_and_rollout_refills_share_one_compilation():
    """Mixtures and the filled part of the rollout table are traced: one compile per shape."""
    cc = cl.CloneConfig(state_size=8)
    ts = cl.TrainSettings(4, 16, seed=3)
    params = cl.init_params(cc, jax.random.PRNGKey(0))
    buffer = cl.fresh_states(cc, jax.random.PRNGKey(1), 64)
    shadow, rollout = jnp.ones((32, 5)) * 0.1, jnp.zeros((128, 3))
    before = cl.clone_step._cache_size()
    opt_state = None
    for i, (mix, count) in enumerate([(cl.Mixture(fresh_state=1.0, fresh_wb=1.0), 0),
                                      (cl.Mixture(), 10),
                                      (cl.Mixture(shadow=0.35, rollout=0.35), 100)]):
        opt, step = cl.make_clone_step(cc, ts, mix)
        opt_state = opt.init(params) if opt_state is None else opt_state
        params, opt_state, buffer, loss, _ = step(params, opt_state, buffer, shadow, rollout,
                                                  jax.random.PRNGKey(i), count)
        assert np.isfinite(float(loss))
    assert cl.clone_step._cache_size() - before == 1


def _parse(argv):
    import argparse

    parser = argparse.ArgumentParser()
    cl.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_command_options_override_the_preset():
    args = _parse(["clone-eval", "--scale", "mini", "--params", "p.npz", "--out", "e.csv",
                   "--image-size", "native", "--test-examples", "0", "--batch", "64",
                   "--seeds", "6", "--hidden", "16"])
    pr = cl.preset_from_args(args, "eval")
    assert (pr.image_size, pr.test_examples, pr.eval_batch, pr.seeds, pr.hidden) == \
        (None, 0, 64, 6, 16)
    assert pr.eval_steps == cl.PRESETS["mini"].eval_steps  # not given: the preset's
    # nothing given: exactly the preset
    args = _parse(["clone-backprop", "--scale", "smoke", "--out", "x.npz"])
    assert cl.preset_from_args(args, "backprop") == cl.PRESETS["smoke"]
    args = _parse(["clone-backprop", "--scale", "smoke", "--out", "x.npz", "--batch", "-3"])
    with pytest.raises(UserError, match="--batch must be > 0"):
        cl.preset_from_args(args, "backprop")
    with pytest.raises(SystemExit):
        _parse(["clone-eval", "--params", "p", "--out", "o", "--image-size", "huge"])


ROOT = Path(__file__).resolve().parent.parent


def _cloning_config():
    import yaml

    return yaml.safe_load((ROOT / "config/cloning.yaml").read_text())


@pytest.mark.parametrize("scale", ["smoke", "mini", "paper"])
def test_pipeline_config_parses_and_reaches_the_commands(scale):
    """config/cloning.yaml: every scale is complete, and each job's options arrive in the
    preset the command runs with."""
    settings = cl.pipeline_settings(_cloning_config(), scale)
    for job, command, fields in (
            ("forward", "clone-forward", {"steps": "forward_steps", "batch": "forward_batch"}),
            ("shallow", "clone-backprop", {"steps": "backprop_steps", "batch": "clone_batch",
                                           "shadow_steps": "shadow_steps"}),
            ("deep", "clone-backprop", {"steps": "backprop_steps", "batch": "clone_batch",
                                        "shadow_steps": "shadow_steps", "hidden": "hidden"}),
            ("eval", "clone-eval", {"steps": "eval_steps", "batch": "eval_batch",
                                    "seeds": "seeds", "test_examples": "test_examples",
                                    "curve_every": "curve_every"})):
        extra = ["--params", "p.npz"] if command == "clone-eval" else []
        args = _parse([command, "--scale", scale, *cl.pipeline_args(settings, job), *extra,
                       "--out", "x"])
        pr = cl.preset_from_args(args, {"clone-forward": "forward", "clone-backprop":
                                        "backprop", "clone-eval": "eval"}[command])
        for key, field in fields.items():
            assert getattr(pr, field) == settings[job][key], (job, key)
        if job != "forward":
            assert pr.image_size == settings["image_size"]
        if job == "eval":
            assert args.datasets.split(",") == settings["eval"]["datasets"]
            assert pr.hidden == settings["deep"]["hidden"]
    if scale == "paper":  # the paper's values (Sec. 4.1, App. B.1, C.1, Figs. 5 and 11)
        ev = settings["eval"]
        assert settings["image_size"] is None and settings["deep"]["hidden"] == 32
        assert (ev["batch"], ev["seeds"], ev["steps"], ev["test_examples"]) == (64, 6, 40000, 0)
        assert ev["datasets"] == ["mnist", "fashion_mnist"]
    if scale == "mini":  # what docs/cloning.md measured
        assert settings["image_size"] == 14
        assert (settings["shallow"]["steps"], settings["shallow"]["batch"]) == (2500, 512)


def test_pipeline_config_mistakes_are_user_errors():
    import copy

    good = _cloning_config()
    with pytest.raises(UserError, match="smoke"):
        cl.pipeline_settings(good, "smok")
    cases = [
        (lambda s: s["eval"].update(datasets=["mnistt"]), "did you mean 'mnist'"),
        (lambda s: s["deep"].pop("hidden"), "lacks 'hidden'"),
        (lambda s: s["shallow"].update(stepz=3), "did you mean 'steps'"),
        (lambda s: s.update(forwardd={}), "did you mean 'forward'"),
        (lambda s: s["forward"].update(steps=-1), "positive integer"),
        (lambda s: s.update(image_size=0), "image_size"),
        (lambda s: s["deep"].update(init_from_shallow="yes"), "true or false"),
    ]
    for change, message in cases:
        config = copy.deepcopy(good)
        change(config["scales"]["smoke"])
        with pytest.raises(UserError, match=message):
            cl.pipeline_settings(config, "smoke")


def _eval_summary(rows):
    import pandas as pd

    base = {"steps": 400, "batch": 16, "image_size": 14, "test_examples": 1000,
            "final_train_loss": 1.0, "cpu_seconds": 1.0, "scale": "test", "params": "p.npz",
            "git_commit": "abc", "versions": "v"}
    return pd.DataFrame([{**base, **r} for r in rows])


def _synthetic_fig5(tmp_path):
    """Per-seed clone-eval summaries: the shallow clone (shallow arrangement), the deep clone
    (both arrangements; its shallow rows must not enter Fig. 5)."""
    rows = []
    for seed, acc in enumerate((0.90, 0.91, 0.89)):  # clearly within 10 points of 90%
        rows += [{"method": "cloned", "depth": "shallow", "clone_depth": "shallow",
                  "dataset": "mnist", "seed": seed, "test_accuracy": acc},
                 {"method": "sgd", "depth": "shallow", "clone_depth": "shallow",
                  "dataset": "mnist", "seed": seed, "test_accuracy": 0.93}]
    for seed, acc in enumerate((0.50, 0.52, 0.48)):  # far below 80%
        rows += [{"method": "cloned", "depth": "shallow", "clone_depth": "shallow",
                  "dataset": "fashion_mnist", "seed": seed, "test_accuracy": acc},
                 {"method": "sgd", "depth": "shallow", "clone_depth": "shallow",
                  "dataset": "fashion_mnist", "seed": seed, "test_accuracy": 0.70}]
    deep = [{"method": m, "depth": d, "clone_depth": "deep", "dataset": "mnist", "seed": 0,
             "test_accuracy": 0.99 if d == "shallow" else 0.95}
            for m in ("cloned", "sgd") for d in ("shallow", "deep")]  # one seed only
    shallow_path, deep_path = tmp_path / "shallow_summary.csv", tmp_path / "deep_summary.csv"
    _eval_summary(rows).to_csv(shallow_path, index=False)
    _eval_summary(deep).to_csv(deep_path, index=False)
    return shallow_path, deep_path


def test_fig5_table_and_cloning_claims(tmp_path):
    """clone-table fig5 takes each arrangement from its own clone; the four accuracy claims
    are judged on our estimate against the paper's number minus 10 points, the two
    "close to SGD" claims on the cloned-minus-SGD difference."""
    import pandas as pd

    from vsml.repro import claims

    shallow_path, deep_path = _synthetic_fig5(tmp_path)
    table_path = tmp_path / "fig5.csv"
    assert cl.main(["clone-table", "fig5", "--inputs", str(shallow_path), str(deep_path),
                    "--out", str(table_path)]) == 0
    table = pd.read_csv(table_path, keep_default_na=False)
    assert list(table.columns) == cl.TABLE_COLUMNS
    assert len(table) == 6  # shallow x 2 datasets x 2 methods + deep mnist x 2 methods
    sh = table[(table.depth == "shallow") & (table.dataset == "mnist")
               & (table.method == "cloned")].iloc[0]
    assert sh.clone_depth == "shallow" and sh.seeds == 3  # the deep clone's 0.99 is not in
    assert sh.test_acc_mean == pytest.approx(0.90)
    assert sh.test_acc_std == pytest.approx(np.std([0.90, 0.91, 0.89]))
    fig11 = cl.accuracy_table("fig11", cl.read_eval_summaries([str(deep_path)]))
    assert set(fig11.depth) == {"shallow", "deep"}

    out = tmp_path / "claims.csv"
    from vsml import cli

    assert cli.main(["claims", "--summary", str(table_path), "--figures", "fig5",
                     "--scale", "test", "--out", str(out)]) == 0
    result = pd.read_csv(out, keep_default_na=False).set_index("id")
    assert list(result.index) == [c.id for c in claims.CLONING_CLAIMS]
    assert result.loc["fig5-cloned-shallow-mnist", "verdict"] == claims.REPRODUCED
    assert float(result.loc["fig5-cloned-shallow-mnist", "estimate"]) == pytest.approx(0.90)
    assert "regular SGD (same architecture) 93.0%" in \
        result.loc["fig5-cloned-shallow-mnist", "value"]
    fashion = result.loc["fig5-cloned-shallow-fashion-mnist"]
    assert fashion.verdict == claims.NOT_REPRODUCED
    assert float(fashion.estimate) == pytest.approx(0.5)
    assert "regular SGD (same architecture) 70.0%" in fashion.value
    one_seed = result.loc["fig5-cloned-deep-mnist"]  # 95% but one seed: no interval
    assert one_seed.verdict == claims.NOT_REPRODUCED and "one seed" in one_seed.reason
    assert result.loc["fig5-cloned-deep-fashion-mnist", "verdict"] == claims.NOT_RUN
    # close to regular SGD on both datasets: MNIST -3 points, Fashion -20 points
    close = result.loc["fig5-cloned-close-to-sgd-shallow"]
    assert close.verdict == claims.NOT_REPRODUCED
    assert float(close.estimate) == pytest.approx(0.5 - 0.7)
    assert "MNIST -3.0" in close.value and "Fashion MNIST -20.0" in close.value
    assert result.loc["fig5-cloned-close-to-sgd-deep", "verdict"] == claims.NOT_RUN
    assert (tmp_path / "claims.md").is_file() and (tmp_path / "claims.html").is_file()

    # the main claims table keeps every claim; without the fig5 table the cloning rows say
    # where they are judged
    main = claims.evaluate({}, "test").set_index("id")
    assert len(main) == len(claims.CLAIMS)
    row = main.loc["fig5-cloned-deep-mnist"]
    assert row.verdict == claims.NOT_RUN and "cloning/claims.csv" in row.reason


def test_cloning_figures_render_from_curves(tmp_path):
    import pandas as pd

    from vsml.cloning import figures as fc

    rows = []
    for clone, depths in (("shallow", ("shallow",)), ("deep", ("shallow", "deep"))):
        for depth in depths:
            for method in ("cloned", "sgd"):
                for dataset in ("mnist", "fashion_mnist"):
                    for seed in range(2):
                        rows += [{"method": method, "depth": depth, "dataset": dataset,
                                  "seed": seed, "step": t, "loss": 2.3 - 0.01 * t,
                                  "clone_depth": clone, "scale": "test"} for t in range(1, 6)]
    curves = pd.DataFrame(rows)
    path = tmp_path / "curves.csv"
    curves.to_csv(path, index=False)
    # Fig. 5: the shallow curve of the deep clone is dropped (its own clone ran it)
    assert len(cl.fig5_rows(curves)) == len(curves) - 2 * 2 * 2 * 5
    for fig in ("fig5", "fig11"):
        out = fc.make_figure(fig, [str(path)], str(tmp_path / f"{fig}.pdf"))
        assert [p.suffix for p in out] == [".pdf", ".png"]
        assert all(p.stat().st_size > 1000 for p in out)
    with pytest.raises(UserError, match="not clone-eval curves"):
        pd.DataFrame({"x": [1]}).to_csv(tmp_path / "bad.csv", index=False)
        fc.make_figure("fig5", [str(tmp_path / "bad.csv")], str(tmp_path / "bad.pdf"))


def _snakemake():
    import shutil
    import sys

    exe = Path(sys.executable).parent / "snakemake"
    return str(exe) if exe.exists() else shutil.which("snakemake")


@pytest.mark.skipif(_snakemake() is None, reason="snakemake not installed")
@pytest.mark.parametrize("scale", ["paper", "smoke"])
def test_cloning_dry_run(tmp_path, scale):
    """snakemake -n figures/fig{5,10,11}.pdf plans the cloning jobs with the config's
    values (a copy of the workflow: reading the Snakefile writes results/<scale>/cells/)."""
    import shutil
    import subprocess

    work = tmp_path / "repo"
    for name in ("config", "workflow"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "Snakefile", work / "Snakefile")
    result = subprocess.run(
        [_snakemake(), "-n", "-p", "figures/fig5.pdf", "figures/fig10.pdf", "figures/fig11.pdf",
         "cloning", "--config", f"scale={scale}"],
        cwd=work, capture_output=True, text=True, timeout=180,
        env={**os.environ, "VSML_DATA_DIR": str(tmp_path / "no-data")})
    assert result.returncode == 0, result.stderr[-2000:]
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and not parts[0].endswith(":"):
            counts[parts[0]] = int(parts[1])
    assert counts == {"clone_forward": 1, "clone_backprop": 2, "clone_eval": 2,
                      "clone_table": 4, "clone_figure": 3, "clone_claims": 1, "cloning": 1,
                      "total": 14}, counts
    settings = cl.pipeline_settings(_cloning_config(), scale)
    eval_args = " ".join(cl.pipeline_args(settings, "eval"))
    assert eval_args in result.stdout
    assert f"--init runs/{scale}/cloning/shallow.npz" in result.stdout
    assert "vsml figure " not in result.stdout  # figs 5/10/11 are not the grid figures'
