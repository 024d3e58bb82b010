"""App. B Figs. 18 (Omniglot), 20 (conv VSML), 21 (CIFAR-10): data, plan, tables, claims."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
import yaml

from vsml import data as D
from vsml.errors import UserError
from vsml.repro import aggregate, appendix_train, claims, pipeline

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"mnist", "fashion_mnist", "random", "sum_sign", "omniglot_small"}
KEY = jax.random.PRNGKey(3)


def sha(path: Path) -> str:
    return D.files.file_sha256(path)


def write_omniglot_zip(path: Path, top: str, alphabets, chars: int, drawings: int) -> None:
    """A zip in the official layout: <top>/<alphabet>/characterNN/*.png, 105x105 1-bit."""
    from PIL import Image

    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for alphabet in alphabets:
            for c in range(1, chars + 1):
                for k in range(1, drawings + 1):
                    img = Image.fromarray((rng.random((105, 105)) < 0.9).astype(np.uint8) * 255)
                    buf = io.BytesIO()
                    img.convert("1").save(buf, format="PNG")
                    zf.writestr(f"{top}/{alphabet}/character{c:02d}/{c:04d}_{k:02d}.png",
                                buf.getvalue())


def point_registry_at(monkeypatch, name: str, folder: Path) -> None:
    info = D.DATASETS[name]
    files = tuple(dataclasses.replace(f, sha256=sha(folder / f.name),
                                      size=(folder / f.name).stat().st_size)
                  for f in info.files)
    monkeypatch.setitem(D.DATASETS, name, dataclasses.replace(info, files=files))


# ----------------------------------------------------------------------------- episodes


def omniglot_like(classes: int = 12, per_class: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class).astype(np.int32)
    images = rng.integers(0, 256, (len(labels), 28, 28, 1), np.uint8)
    return images, labels


def test_fewshot_spec_gives_the_fewshot_sampler_episodes():
    images, labels = omniglot_like()
    spec = D.TaskSpec("omniglot", fewshot_ways=5)
    data = D.prepare_arrays(D.RawSplit(images, labels), spec)
    assert D.num_classes(spec) == 5 and D.fewshot_length(spec) == 6
    for seed in range(3):
        key = jax.random.PRNGKey(seed)
        a = D.sample_episode(key, data, 6, spec)
        b = D.sample_fewshot_episode(key, data, 5, 1, spec)
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        y = np.asarray(a.y)
        assert sorted(y[:5].tolist()) == [0, 1, 2, 3, 4] and 0 <= y[5] < 5
    # two shots: 11 steps, every class twice in the support
    spec2 = D.TaskSpec("omniglot", fewshot_ways=5, fewshot_shots=2)
    ep = D.sample_episode(KEY, D.prepare_arrays(D.RawSplit(images, labels), spec2), 11, spec2)
    assert np.bincount(np.asarray(ep.y[:10]), minlength=5).tolist() == [2] * 5


def test_fewshot_spec_errors():
    images, labels = omniglot_like()
    spec = D.TaskSpec("omniglot", fewshot_ways=5)
    data = D.prepare_arrays(D.RawSplit(images, labels), spec)
    with pytest.raises(UserError, match="6 steps"):
        D.sample_episode(KEY, data, 7, spec)
    with pytest.raises(UserError, match="num_classes"):
        D.TaskSpec("omniglot", fewshot_ways=5, num_classes=5)
    with pytest.raises(UserError, match="fewshot_ways"):
        D.TaskSpec("sum_sign", fewshot_ways=2)
    with pytest.raises(UserError, match="fewshot_ways"):
        D.TaskSpec("omniglot", fewshot_ways=1)
    with pytest.raises(UserError, match="fewshot_shots"):
        D.TaskSpec("omniglot", fewshot_ways=5, fewshot_shots=0)


def test_meta_loss_last_and_fewshot_configs_resolve():
    from vsml.meta.config import load_config

    cfg = load_config(ROOT / "config/omniglot.yaml")
    assert cfg.meta_train.loss == "last" and cfg.meta_train.length == 6
    assert cfg.model.reverse_sweep and cfg.model.feed_label and cfg.model.layer_norm
    assert cfg.tasks.datasets[0].fewshot_ways == 5
    conv = load_config(ROOT / "config/conv.yaml")
    assert conv.model.conv_channels == (8,) and conv.model.conv_kernel == 3
    assert conv.model.conv_stride == 2 and conv.tasks.datasets[0].input_layout == "image"
    cifar = load_config(ROOT / "config/cifar10.yaml")
    assert cifar.tasks.datasets[0].dataset == "cifar10" and cifar.model == conv.model


# ----------------------------------------------------------------------------- official files


def test_official_omniglot_zips(root, monkeypatch):
    info = D.DATASETS["omniglot"]
    assert [(f.name, f.size, f.sha256[:8]) for f in info.files] == [
        ("images_background.zip", 9464212, "ad41ab67"),
        ("images_evaluation.zip", 6462886, "1f61a8f3")]
    folder = root / "omniglot"
    write_omniglot_zip(folder / "images_background.zip", "images_background",
                       ["Alpha", "Beta"], chars=3, drawings=2)
    write_omniglot_zip(folder / "images_evaluation.zip", "images_evaluation", ["Gamma"],
                       chars=2, drawings=4)
    with pytest.raises(UserError, match="expected sha256 ad41ab67"):  # not the canonical
        D.load_split("omniglot", "train")
    point_registry_at(monkeypatch, "omniglot", folder)
    train, test = D.load_split("omniglot", "train"), D.load_split("omniglot", "test")
    assert train.images.shape == (12, 28, 28, 1) and test.images.shape == (8, 28, 28, 1)
    assert np.bincount(train.labels).tolist() == [2] * 6
    assert np.bincount(test.labels).tolist() == [4] * 2
    # the drawings (black strokes on white) stay mostly white after the resize
    assert train.images.mean() > 128


def _cifar_python_tarball(path: Path, rng) -> dict[str, dict]:
    """A tarball in the official python format: cifar-10-batches-py/<batch> pickles."""
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {b"batch_label": name.encode(),
                         b"labels": rng.integers(0, 10, 3).tolist(),
                         b"data": rng.integers(0, 256, (3, 3072), np.uint8),
                         b"filenames": [b"a.png", b"b.png", b"c.png"]}
    batches["test_batch"][b"data"][0] = 0
    batches["test_batch"][b"data"][0, :1024] = 255  # an all-red first test image
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in batches.items():
            blob = pickle.dumps(batch, protocol=2)
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(blob)
            tar.addfile(member, io.BytesIO(blob))
        meta = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
        member = tarfile.TarInfo("cifar-10-batches-py/batches.meta")
        member.size = len(meta)
        tar.addfile(member, io.BytesIO(meta))
    return batches


def test_cifar10_python_tarball(root, monkeypatch):
    info = D.DATASETS["cifar10"]
    assert [(f.name, f.size) for f in info.files] == [("cifar-10-python.tar.gz", 170498071)]
    assert info.files[0].sha256 == (
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")
    assert info.files[0].url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert (info.mean, info.std, info.shape) == (0.4734, 0.2516, (32, 32, 1))
    assert not D.available("cifar10")
    folder = root / "cifar10"
    folder.mkdir()
    batches = _cifar_python_tarball(folder / "cifar-10-python.tar.gz", np.random.default_rng(1))
    point_registry_at(monkeypatch, "cifar10", folder)
    assert D.available("cifar10")
    train, test = D.load_split("cifar10", "train"), D.load_split("cifar10", "test")
    assert train.images.shape == (15, 32, 32, 1)
    np.testing.assert_array_equal(train.labels[:3], batches["data_batch_1"][b"labels"])
    assert np.all(test.images[0] == round(0.2989 * 255))
    rgb = batches["test_batch"][b"data"][1].reshape(3, 32, 32).astype(np.float64)
    gray = 0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]
    assert np.abs(test.images[1, ..., 0] - gray).max() <= 0.5 + 1e-3


def test_cifar10_pickle_may_not_run_code(root, monkeypatch):
    folder = root / "cifar10"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            blob = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(blob)
            tar.addfile(member, io.BytesIO(blob))
    point_registry_at(monkeypatch, "cifar10", folder)
    with pytest.raises(UserError, match="not allowed"):
        D.load_split("cifar10", "test")


def test_cifar10_download_is_atomic_and_checked(root, monkeypatch, tmp_path):
    made = tmp_path / "made.tar.gz"
    _cifar_python_tarball(made, np.random.default_rng(2))
    blob = made.read_bytes()
    info = D.DATASETS["cifar10"]
    good = dataclasses.replace(info.files[0], sha256=sha(made), size=len(blob))
    monkeypatch.setitem(D.DATASETS, "cifar10", dataclasses.replace(info, files=(good,)))
    served = []

    def serve(url, timeout=None):
        served.append(url)
        return io.BytesIO(blob[: len(blob) // 2] if len(served) == 1 else blob)

    monkeypatch.setattr(D.files, "_urlopen", serve)
    with pytest.raises(UserError, match="nothing was written"):  # a truncated download
        D.load_split("cifar10", "test")
    assert not list((root / "cifar10").glob("*"))  # no partial file left behind
    test = D.load_split("cifar10", "test")
    assert test.images.shape == (3, 32, 32, 1)
    assert served == [info.files[0].url] * 2
    assert sha(root / "cifar10" / "cifar-10-python.tar.gz") == sha(made)


# ----------------------------------------------------------------------------- plan


def plan(scale: str = "smoke", local=LOCAL, **overrides) -> pipeline.Plan:
    config = yaml.safe_load((ROOT / "config/pipeline.yaml").read_text())
    config.update(scale=scale, **overrides)
    name, settings = pipeline.resolve_scale(config)
    return pipeline.Plan(settings, name, lambda d: d in local)


def test_fig18_plan_fewshot_protocol():
    p = plan("mini")
    cells = p.cells["fig18"]
    assert [c.method for c in cells] == ["vsml", "metarnn", "fwmemory", "hebbian", "adam-deep"]
    for cell in cells:
        job = p.test[cell.test_job]
        assert (job.length, job.episodes, job.dataset) == (6, 32 * 100, "omniglot_small")
        assert "task.fewshot_ways=5" in job.sets and "task.image_size=7" in job.sets
        assert cell.seen == ("n/a" if cell.method == "adam-deep" else "unseen")
        if job.train:
            sets = p.train[job.train].sets
            assert "meta_train.loss=last" in sets and "meta_train.length=6" in sets
            assert "tasks.random_projection_fraction=0.0" in sets
            assert not any("pad_outputs_to" in s for s in sets)  # 5 outputs, unpadded
    vsml = p.train[p.test[cells[0].test_job].train]
    assert vsml.config_file == "config/omniglot.yaml"
    assert "adam-deep" in cells[-1].test_job  # one hidden layer of 160
    # without the files: planned, not run
    missing = plan("mini", local=LOCAL - {"omniglot_small"})
    assert all(missing.test[c.test_job].missing == ("omniglot_small",)
               for c in missing.cells["fig18"])


def test_fig18_paper_runs_and_official_split_option():
    p = plan("paper")
    runs = appendix_train.train_runs(p, "fig18")
    assert len(runs) == 4
    for run in runs:
        sets = p.train[run].sets
        assert "meta_train.steps=100001" in sets and not any("es.pairs" in s for s in sets)
    official = plan("paper", appendix_train={"fig18": {"dataset": "omniglot"}})
    job = official.test[official.cells["fig18"][0].test_job]
    assert job.dataset == "omniglot" and job.missing == ("omniglot",)
    with pytest.raises(UserError, match="appendix_train.fig18 key"):
        plan("smoke", appendix_train={"fig18": {"seedz": 3}})
    with pytest.raises(UserError, match="appendix_train key"):
        plan("smoke", appendix_train={"fig19": {}})
    assert appendix_train.claims_figures(p) == appendix_train.FIGURES
    assert appendix_train.claims_figures(plan("mini")) == appendix_train.FIGURES
    with pytest.raises(UserError, match="claims_figures entry"):
        appendix_train.claims_figures(plan("smoke", appendix_train={"claims_figures": ["fig8"]}))


def test_fig20_reuses_fig8_runs_and_tests():
    p = plan("mini")
    fig8_tests = {c.test_job for c in p.cells["fig8"]}
    dense = [c for c in p.cells["fig20"] if c.method == "vsml"]
    conv = [c for c in p.cells["fig20"] if c.method == appendix_train.CONV_METHOD]
    assert len(dense) == len(conv) == 6 and {c.row for c in conv} == {"mnist"}
    assert {c.test_job for c in dense} <= fig8_tests  # nothing trains or tests twice
    run = p.train[p.test[conv[0].test_job].train]
    assert run.config_file == "config/conv.yaml" and run.variant == "conv-proj"
    assert "tasks.random_projection_fraction=0.5" in run.sets
    assert '"input_layout": "image"' in run.sets[0]
    dense_run = p.train[p.test[dense[0].test_job].train]
    same = [s for s in dense_run.sets if not s.startswith("tasks.datasets")]
    assert same == [s for s in run.sets if not s.startswith("tasks.datasets")]


def test_fig21_cifar_cells_not_run_without_data():
    p = plan("mini")
    cells = p.cells["fig21"]
    assert {c.panel for c in cells} == {"mnist", "fashion_mnist", "cifar10"}
    for cell in cells:
        job = p.test[cell.test_job]
        needs_cifar = cell.method == appendix_train.CONV_METHOD or cell.dataset == "cifar10"
        assert bool(job.missing) == needs_cifar
    run = p.train[appendix_train.train_runs(p, "fig21")[0]]
    assert run.missing == ("cifar10",) and run.config_file == "config/cifar10.yaml"
    with_cifar = plan("mini", local=LOCAL | {"cifar10"})
    assert not any(with_cifar.test[c.test_job].missing for c in with_cifar.cells["fig21"])


# ----------------------------------------------------------------------------- tables


def _fewshot_csv(path: Path, correct: np.ndarray) -> None:
    episodes, steps = correct.shape
    frame = pd.DataFrame({"episode": np.repeat(np.arange(episodes), steps),
                          "step": np.tile(np.arange(1, steps + 1), episodes),
                          "correct": correct.reshape(-1).astype(int), "config_hash": "h"})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)


def test_fewshot_tables_use_the_query_only(tmp_path):
    correct = np.ones((40, 6), bool)  # support always right ...
    correct[:, 5] = False
    correct[:10, 5] = True  # ... the query right in the first block of 10 only
    _fewshot_csv(tmp_path / "tests/vsml/fewshot/o-h/q-1.csv", correct)
    (tmp_path / "tests/none.csv").write_text(aggregate.not_run_csv("not run: data unavailable"
                                                                   " (omniglot)"))
    run = tmp_path / "runs/vsml/fewshot/o-h"
    run.mkdir(parents=True)
    pd.DataFrame({"step": np.arange(1, 501), "meta_loss": np.linspace(1.6, 1.0, 500)}).to_csv(
        run / "metrics.csv", index=False)
    base = {"figure": "fig18", "row": "", "panel": "omniglot_small", "train": "omniglot_small",
            "variant": "fewshot", "test": "5-way 1-shot", "dataset": "omniglot_small",
            "seen": "unseen", "length": 6}
    cells = [{**base, "method": "vsml", "test_job": "vsml/fewshot/o-h/q-1"},
             {**base, "method": "adam-deep", "test_job": "none"}]
    tables = appendix_train.fewshot_tables(cells, tmp_path / "tests", tmp_path / "runs",
                                           "test", episodes_per_seed=10)
    s = tables["summary"]
    assert list(s.columns) == appendix_train.FEWSHOT_SUMMARY_COLUMNS
    assert s.iloc[0].seeds == 4 and s.iloc[0].query_acc_mean == pytest.approx(0.25)
    assert s.iloc[0].query_acc_std == pytest.approx(np.std([1, 0, 0, 0]))
    assert s.iloc[0].support_acc_mean == 1.0
    assert s.iloc[1].status == "not run" and "omniglot" in s.iloc[1].reason
    assert tables["raw"].query_acc.tolist() == [1.0, 0.0, 0.0, 0.0]
    curve = tables["curves"]
    assert len(curve) == appendix_train.CURVE_POINTS and curve.step.iloc[-1] == 500
    assert curve.meta_loss.iloc[0] == pytest.approx(np.linspace(1.6, 1.0, 500)[:3].mean())
    with pytest.raises(UserError, match="block"):
        appendix_train.fewshot_tables(cells[:1], tmp_path / "tests", tmp_path / "runs",
                                      "test", episodes_per_seed=41)


# ----------------------------------------------------------------------------- claims


def _fig18(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"figure": "fig18", "row": "", "panel": "omniglot_small",
                          "method": m, "status": "ok", "reason": "", "seeds": 32,
                          "query_acc_mean": v, "query_acc_std": 0.04}
                         for m, v in values.items()])


def _grid(fig: str, rows: list[dict]) -> pd.DataFrame:
    base = {"figure": fig, "row": "mnist", "status": "ok", "reason": "", "seeds": 32,
            "acc100_std": 0.02, "acc2000_std": 0.02, "seen": "unseen"}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_appendix_claims_follow_the_fixed_rules():
    fig18 = _fig18({"vsml": 0.40, "metarnn": 0.60, "fwmemory": 0.55, "hebbian": 0.21,
                    "adam-deep": 0.25})
    fig20 = _grid("fig20", [
        {"method": "vsml", "panel": "mnist", "acc2000_mean": 0.80},
        {"method": "vsml-conv", "panel": "mnist", "acc2000_mean": 0.75},
        {"method": "vsml", "panel": "random", "acc2000_mean": 0.40},
        {"method": "vsml-conv", "panel": "random", "acc2000_mean": 0.40},
        {"method": "vsml", "panel": "kmnist", "status": "not run", "seeds": 0,
         "reason": "not run: data unavailable (kmnist)"},
        {"method": "vsml-conv", "panel": "kmnist", "status": "not run", "seeds": 0,
         "reason": "not run: data unavailable (kmnist)"}])
    fig21 = _grid("fig21", [
        {"method": "vsml-conv", "panel": p, "status": "not run", "seeds": 0,
         "reason": "not run: data unavailable (cifar10)"} for p in ("fashion_mnist", "cifar10")]
        + [{"method": "sgd-shallow", "panel": "cifar10", "status": "not run", "seeds": 0,
            "reason": "not run: data unavailable (cifar10)"}])
    table = claims.evaluate({"fig18": fig18, "fig20": fig20, "fig21": fig21}, "test",
                            figures=appendix_train.FIGURES).set_index("id")
    assert table.loc["fig18-vsml-faster-than-adam", "verdict"] == claims.REPRODUCED
    assert table.loc["fig18-vsml-learns", "verdict"] == claims.REPRODUCED
    # Hebbian at 21% with a 95% interval reaching below 20%: not all baselines learn
    assert table.loc["fig18-baselines-work", "verdict"] == claims.NOT_REPRODUCED
    assert table.loc["fig18-vsml-slower", "verdict"] == claims.REPRODUCED
    conv = table.loc["fig20-conv-comparable"]
    assert conv.verdict == claims.REPRODUCED and conv.cells == 2
    assert conv.estimate == pytest.approx(-0.025)
    for cid in ("fig21-cifar-faster-than-sgd", "fig21-generalizes-fashion"):
        assert table.loc[cid, "verdict"] == claims.NOT_RUN
        assert "cifar10" in table.loc[cid, "reason"]
    worse = _fig18({"vsml": 0.22, "metarnn": 0.2, "fwmemory": 0.2, "hebbian": 0.2,
                    "adam-deep": 0.30})
    table = claims.evaluate({"fig18": worse}, "test", figures=["fig18"]).set_index("id")
    assert table.loc["fig18-vsml-faster-than-adam", "verdict"] == claims.NOT_REPRODUCED
    assert table.loc["fig18-vsml-slower", "verdict"] == claims.NOT_REPRODUCED


# ----------------------------------------------------------------------------- figures


def test_appendix_figures_render(tmp_path):
    p = plan("smoke")
    rows = []
    for rec in p.cell_records("fig18"):
        rows.append({**{k: rec[k] for k in appendix_train.FEWSHOT_SUMMARY_COLUMNS[:9]},
                     "status": "ok", "reason": "", "seeds": 4, "episodes_per_seed": 10,
                     "query_acc_mean": 0.3, "query_acc_std": 0.1})
    rows[-1].update(status="not run", reason="not run: data unavailable (omniglot_small)")
    curves = pd.DataFrame({"method": "vsml", "step": [1, 2, 3], "meta_loss": [1.7, 1.6, 1.5]})
    figure = appendix_train.draw("fig18", pd.DataFrame(rows), curves, "smoke")
    from vsml.repro.figures import save

    written = save(figure, tmp_path / "fig18.pdf")
    assert all(path.stat().st_size > 1000 for path in written)
    with pytest.raises(UserError, match="curves"):
        appendix_train.draw("fig18", pd.DataFrame(rows), None, "smoke")


# ----------------------------------------------------------------------------- DAG


def test_paper_dry_run_lists_fig18_jobs(snakemake_dry_run):
    counts = snakemake_dry_run("figures/fig18.pdf", "figures/fig21.pdf", scale="paper")
    # 4 Omniglot runs + the CIFAR-10 conv run; 5 Omniglot tests + 3 datasets x 3 methods
    assert counts.get("meta_train") == 5 and counts.get("meta_test") == 5 + 9
    assert counts.get("fewshot_aggregate") == 1 and counts.get("appendix_figure") == 2
