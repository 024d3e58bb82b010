"""``vsml meta-test``: protocol, tidy CSV, user .npz validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vsml.meta.meta_test import COLUMNS, main, meta_test, summarize


def run(tmp_path, *args: str) -> tuple[int, pd.DataFrame | None]:
    out = tmp_path / "out.csv"
    code = main([*args, "--out", str(out)])
    return code, (pd.read_csv(out) if code == 0 else None)


def test_method_without_meta_params_needs_no_checkpoint(tmp_path, capsys):
    code, frame = run(tmp_path, "--method", "sgd-shallow", "--dataset", "sum_sign",
                      "--set", "task.image_size=3", "--episodes", "3", "--length", "120",
                      "--seed", "4")
    assert code == 0
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 3 * 120
    assert sorted(frame["episode"].unique()) == [0, 1, 2]
    assert list(frame["step"][:3]) == [1, 2, 3] and frame["step"].max() == 120
    assert set(frame["correct"].unique()) <= {0, 1}
    assert (frame["loss"] >= 0).all()
    assert set(frame["seed"]) == {4} and set(frame["scale"]) == {"adhoc"}
    assert set(frame["dataset"]) == {"sum_sign"} and set(frame["checkpoint"].fillna("")) == {""}
    printed = capsys.readouterr().out
    acc = frame.groupby("episode")["correct"].mean()
    assert f"after 120: {100 * acc.mean():.1f} ± {100 * acc.std(ddof=0):.1f} %" in printed
    assert "after 100:" in printed
    assert not list(tmp_path.glob(".*tmp"))


def test_results_do_not_depend_on_chunking(tmp_path):
    kwargs = dict(dataset="sum_sign", method="sgd-shallow", episodes=5, length=30,
                  sets=["task.image_size=2"], log=lambda *_: None)
    a = meta_test(chunk=2, **kwargs)
    b = meta_test(chunk=5, **kwargs)
    np.testing.assert_array_equal(a["correct"], b["correct"])
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-6)
    c = meta_test(chunk=5, seed=1, **{k: v for k, v in kwargs.items() if k != "seed"})
    assert not np.array_equal(a["loss"], c["loss"])  # seeds matter


def test_meta_learned_method_needs_a_checkpoint(tmp_path, capsys):
    code, _ = run(tmp_path, "--method", "vsml", "--dataset", "sum_sign")
    assert code == 2 and "--checkpoint" in capsys.readouterr().err
    code, _ = run(tmp_path, "--dataset", "sum_sign")
    assert code == 2 and "--method" in capsys.readouterr().err
    code, _ = run(tmp_path, "--method", "sgd-shallow", "--dataset", "mnistt")
    assert code == 2 and "did you mean 'mnist'" in capsys.readouterr().err
    code, _ = run(tmp_path, "--method", "sgd-shallow", "--dataset", "sum_sign", "--set",
                  "lr=0.1")
    assert code == 2 and "model.KEY" in capsys.readouterr().err
    code, _ = run(tmp_path, "--checkpoint", str(tmp_path / "nothing"), "--dataset", "sum_sign")
    assert code == 2 and "not found" in capsys.readouterr().err


def test_user_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3, 3)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    code, frame = run(tmp_path, "--method", "sgd-shallow", "--dataset",
                      str(tmp_path / "mine.npz"), "--episodes", "2", "--length", "50")
    assert code == 0 and len(frame) == 100 and set(frame["dataset"]) == {"mine.npz"}
    # standardized by the file's own mean/std: an affine change of units changes nothing
    np.savez(tmp_path / "scaled.npz", x=1000 * x + 7, y=y)
    np.savez(tmp_path / "flat.npz", x=x.reshape(40, 9), y=y)
    kwargs = dict(method="sgd-shallow", episodes=2, length=50, log=lambda *_: None)
    base = meta_test(dataset=str(tmp_path / "mine.npz"), **kwargs)
    for other in ("scaled.npz", "flat.npz"):
        result = meta_test(dataset=str(tmp_path / other), **kwargs)
        np.testing.assert_array_equal(base["correct"], result["correct"])
        np.testing.assert_allclose(base["loss"], result["loss"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((5, 4))}, "'x' and 'y'"),
        ({"x": np.zeros((5, 4)), "y": np.zeros(4, int)}, "one label per row"),
        ({"x": np.full((5, 4), np.nan), "y": np.arange(5) % 2}, "non-finite"),
        ({"x": np.random.rand(5, 4), "y": np.array([0, 1, -1, 0, 1])}, ">= 0"),
        ({"x": np.random.rand(5, 4), "y": np.array([0.5, 1, 0, 0, 1])}, "integer"),
        ({"x": np.random.rand(5), "y": np.arange(5) % 2}, "[N, D]"),
        ({"x": np.random.rand(5, 4), "y": np.zeros(5, int)}, "two classes"),
        ({"x": np.ones((5, 4)), "y": np.arange(5) % 2}, "constant"),
    ],
)
def test_user_npz_validation(tmp_path, capsys, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    code, _ = run(tmp_path, "--method", "sgd-shallow", "--dataset", str(tmp_path / "bad.npz"))
    assert code == 2
    assert message in capsys.readouterr().err


def test_not_an_npz(tmp_path, capsys):
    (tmp_path / "junk.npz").write_text("hello")
    code, _ = run(tmp_path, "--method", "sgd-shallow", "--dataset", str(tmp_path / "junk.npz"))
    assert code == 2 and "junk.npz" in capsys.readouterr().err


def test_summarize():
    correct = np.zeros((2, 200), bool)
    correct[0, :100] = True
    s = summarize(correct)
    assert s[100] == {"mean": 0.5, "std": 0.5}
    assert s[200]["mean"] == pytest.approx(0.25)


def test_plot_draws_the_cumulative_accuracy_curve(tmp_path, capsys):
    plot = tmp_path / "curve.png"
    code, frame = run(tmp_path, "--method", "sgd-shallow", "--dataset", "sum_sign",
                      "--set", "task.image_size=3", "--episodes", "2", "--length", "40",
                      "--plot", str(plot))
    assert code == 0 and len(frame) == 80
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a bad suffix is refused before anything runs, naming the valid ones
    code = main(["--method", "sgd-shallow", "--dataset", "sum_sign", "--out",
                 str(tmp_path / "x.csv"), "--plot", str(tmp_path / "curve.jpg")])
    assert code == 2 and ".png, .pdf, .svg" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
