"""``vsml meta-train`` end to end on a tiny method: checkpoints, exact resume, guards."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vsml.meta import checkpoint as ckpt
from vsml.meta import meta_train
from vsml.meta.config import CONFIG_DIR, load_config
from vsml.meta.meta_test import main as meta_test_main
from vsml.methods import METHODS

# --------------------------------------------------------------------------- a tiny method
# This module doubles as the method "tiny" (registered per test through METHODS).


@dataclasses.dataclass(frozen=True)
class Config:
    log_lr: float = -2.0


@dataclasses.dataclass(frozen=True)
class Tiny:
    config: Config
    input_shape: tuple[int, ...]
    num_outputs: int
    name: str = "tiny"

    def init_meta_params(self, key):
        return {"w0": 0.01 * jax.random.normal(key, (self.input_shape[0], self.num_outputs)),
                "log_lr": jnp.asarray(self.config.log_lr, jnp.float32)}

    def init_state(self, meta_params, key):
        noise = 0.01 * jax.random.normal(key, meta_params["w0"].shape)
        return {"w": meta_params["w0"] + noise, "x": jnp.zeros(self.input_shape)}

    def step(self, meta_params, state, x, feedback):
        w = state["w"] - jnp.exp(meta_params["log_lr"]) * jnp.outer(state["x"], feedback.error)
        return x @ w, {"w": w, "x": x}


def make_learner(config, input_shape, num_outputs):
    return Tiny(config, tuple(input_shape), num_outputs)


@pytest.fixture(autouse=True)
def tiny_method(monkeypatch):
    monkeypatch.setitem(METHODS, "tiny", (__name__, {}))


SETS = ["tasks.datasets=[{dataset: sum_sign, image_size: 2}]", "meta_train.length=16",
        "meta_train.chunk=4", "es.pairs=4", "gradient.batch=4", "meta_train.checkpoint_every=2"]
TINY = ["--method", "tiny", "--no-progress"] + [a for s in SETS for a in ("--set", s)]


def run(out: Path, *extra: str) -> int:
    return meta_train.main([*TINY, "--out", str(out), *extra])


def read_metrics(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def params_of(out: Path) -> dict[str, np.ndarray]:
    return ckpt.load_npz(out / "meta_params.npz")


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("algorithm", ["es", "gradient"])
def test_end_to_end_then_meta_test(tmp_path, algorithm, capsys):
    out = tmp_path / "run"
    assert run(out, "--set", "meta_train.steps=3", "--set",
               f"meta_train.algorithm={algorithm}") == 0
    assert {p.name for p in out.iterdir()} >= {"run.json", "checkpoint.npz", "metrics.csv",
                                                "meta_params.npz"}
    assert not list(out.glob(".*tmp"))  # no leftovers of atomic writes
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "done" and info["step"] == 3 and info["method"] == "tiny"
    assert len(info["config_hash"]) == 64 and "git_commit" in info and "jax" in info["versions"]
    rows = read_metrics(out)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert set(meta_train.BASE_COLUMNS) <= set(rows[0])
    assert all(np.isfinite(float(r["meta_loss"])) for r in rows)
    assert float(rows[-1]["examples_per_s"]) > 0
    assert set(params_of(out)) == {"meta_params/w0", "meta_params/log_lr"}

    csv_path = tmp_path / "test.csv"
    assert meta_test_main(["--checkpoint", str(out), "--dataset", "sum_sign", "--episodes", "3",
                           "--length", "20", "--out", str(csv_path), "--scale", "unit"]) == 0
    import pandas as pd

    frame = pd.read_csv(csv_path)
    assert list(frame.columns) == ["episode", "step", "correct", "loss", "method", "checkpoint",
                                   "dataset", "seed", "scale", "git_commit", "config_hash"]
    assert len(frame) == 3 * 20 and set(frame["method"]) == {"tiny"}
    assert set(frame["config_hash"]) == {info["config_hash"]}
    assert set(frame["scale"]) == {"unit"}
    assert "cumulative accuracy after 20" in capsys.readouterr().out


def test_resume_is_bit_identical(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    steps = ["--set", "meta_train.steps=5"]
    assert run(straight, *steps) == 0
    assert run(resumed, *steps, "--stop-after", "3") == 0
    assert json.loads((resumed / "run.json").read_text())["status"] == "stopped"
    assert not (resumed / "meta_params.npz").exists()
    assert int(ckpt.load_npz(resumed / "checkpoint.npz")["step"]) == 3
    # as if the process died after logging steps 4-5, before their checkpoint, mid-line
    with open(resumed / "metrics.csv", "a") as f:
        f.write("4,1.0,1.0,1.0,1.0,1.0,1.0\n5,1.0,1.0,1.0,1.0,1.0,1.0\n6,1.0,1.0")
    assert run(resumed, *steps) == 0
    a, b = params_of(straight), params_of(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k  # bit-identical, not merely close
    ca, cb = ckpt.load_npz(straight / "checkpoint.npz"), ckpt.load_npz(resumed / "checkpoint.npz")
    for k in ca:
        if k != "__wall_time__":
            assert np.array_equal(ca[k], cb[k]), k
    ra, rb = read_metrics(straight), read_metrics(resumed)
    assert [r["step"] for r in rb] == ["1", "2", "3", "4", "5"]
    assert [r["meta_loss"] for r in ra] == [r["meta_loss"] for r in rb]


def test_finished_run_can_be_extended_but_not_changed(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(out, "--set", "meta_train.steps=2") == 0
    before = (out / "checkpoint.npz").read_bytes()
    assert run(out, "--set", "meta_train.steps=2", "--set", "es.noise_std=0.1") == 2
    err = capsys.readouterr().err
    assert "different config" in err and "es.noise_std" in err
    assert (out / "checkpoint.npz").read_bytes() == before
    assert run(out, "--set", "meta_train.steps=3") == 0  # steps do not change the trajectory
    assert [int(r["step"]) for r in read_metrics(out)] == [1, 2, 3]
    # rerunning a finished run does no step and keeps its final meta-loss (was NaN)
    assert run(out, "--set", "meta_train.steps=3") == 0
    final = json.loads((out / "run.json").read_text())["final_meta_loss"]
    assert final == float(read_metrics(out)[-1]["meta_loss"])
    assert json.loads((out / "run.json").read_text())["config"]["meta_train"]["steps"] == 3


def test_non_finite_meta_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch, capsys):
    original = meta_train.build_trainer

    def poisoned(config, groups, mesh=None):
        trainer = original(config, groups, mesh)

        def step(state, key):
            new, metrics = trainer.step(state, key)
            bad = jnp.where(state.step >= 2, jnp.nan, metrics["meta_loss"])
            return new, {**metrics, "meta_loss": bad}

        return dataclasses.replace(trainer, step=step)

    monkeypatch.setattr(meta_train, "build_trainer", poisoned)
    out = tmp_path / "run"
    assert run(out, "--set", "meta_train.steps=6") == 1
    err = capsys.readouterr().err
    assert "meta-loss became nan" in err and "at step 3" in err and "(step 2)" in err
    assert int(ckpt.load_npz(out / "checkpoint.npz")["step"]) == 2
    assert not (out / "meta_params.npz").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "diverged"
    with pytest.raises(meta_train.Diverged):
        meta_train.train(load_config(None, [*SETS, "meta_train.steps=6"], "tiny"),
                         out, progress=False, log=lambda *_: None)


def test_interrupted_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert run(out, "--set", "meta_train.steps=2") == 0
    before = (out / "checkpoint.npz").read_bytes()

    def killed(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")  # the process dies in the middle of writing
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    state = {"step": jnp.asarray(5), "meta_params": {"w": jnp.ones(3)}}
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(out, state, jax.random.PRNGKey(0), wall_time=1.0, config_hash="x")
    assert (out / "checkpoint.npz").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "meta_params.npz",
                                                      "metrics.csv", "run.json"]


def test_refusals(tmp_path, capsys):
    assert run(tmp_path / "a", "--set", "meta_train.steps=2", "--set", "es.pairs=0") == 2
    assert "es.pairs" in capsys.readouterr().err
    assert meta_train.main(["--method", "sgd-shallow", "--no-progress", "--set",
                            "tasks.datasets=[{dataset: sum_sign, image_size: 2}]", "--out",
                            str(tmp_path / "b")]) == 2
    assert "no meta-parameters" in capsys.readouterr().err
    assert run(tmp_path / "c", "--set", "meta_train.steps=2", "--stop-after", "0") == 2


def test_population_split_over_tasks():
    cfg = load_config(None, ["tasks.datasets=[{dataset: random}, {dataset: sum_sign}]",
                             "tasks.random_projection_fraction=0.5", "es.pairs=10"], "tiny")
    variants = meta_train.task_variants(cfg)
    assert [(s.dataset, s.random_projection) for s, _ in variants] == [
        ("random", False), ("random", True), ("sum_sign", False), ("sum_sign", True)]
    assert sum(w for _, w in variants) == pytest.approx(1.0)
    grid = meta_train.task_variants(load_config(CONFIG_DIR / "invariances.yaml"))
    assert len(grid) == 4 * 3 * 2
    assert {(s.num_classes, s.image_size) for s, _ in grid} == {
        (k, s) for k in (3, 4, 6, 7) for s in (14, 28, 32)}
    assert sum(s.random_projection for s, _ in grid) == 12


def test_vsml_end_to_end(tmp_path):
    """The real VSML learner through meta-train and meta-test (tiny sizes)."""
    out = tmp_path / "vsml"
    assert meta_train.main([
        "--method", "vsml", "--no-progress", "--out", str(out),
        "--set", "tasks.datasets=[{dataset: sum_sign, image_size: 2}]",
        "--set", "meta_train.length=6", "--set", "meta_train.steps=2",
        "--set", "es.pairs=2", "--set", "meta_train.chunk=2",
    ]) == 0
    assert [int(r["step"]) for r in read_metrics(out)] == [1, 2]
    assert "meta_params/lstm/w" in params_of(out)
    assert meta_test_main(["--checkpoint", str(out), "--dataset", "sum_sign", "--episodes", "2",
                           "--length", "8", "--chunk", "2", "--out", str(tmp_path / "t.csv")]) == 0
