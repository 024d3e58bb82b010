"""``vsml plan`` (vsml/repro/cost.py): job counts from a dry run, costs from job times / GPU.

Every dry run runs on a copy of the workflow whose only dataset is a stand-in MNIST (files of
the right size: ``available`` checks sizes), so the plan has runnable jobs and markers."""

import contextlib
import csv
import io
import json
import os
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from vsml.cli import run_command
from vsml.repro import cost

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    shutil.which("snakemake") is None and not (ROOT / ".venv/bin/snakemake").exists(),
    reason="snakemake not installed")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy of the workflow (cwd) with MNIST as the only dataset on disk."""
    from vsml.data.datasets import dataset_info

    work = tmp_path_factory.mktemp("plan") / "repo"
    for name in ("config", "workflow"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "Snakefile", work / "Snakefile")
    (work / "docs").mkdir()
    shutil.copy(ROOT / cost.GPU_BENCH, work / cost.GPU_BENCH)
    data = work.parent / "data"
    for f in dataset_info("mnist").files:
        (data / "mnist").mkdir(parents=True, exist_ok=True)
        with open(data / "mnist" / f.name, "wb") as out:
            out.truncate(f.size)  # sparse: only the size is checked
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.setenv("VSML_DATA_DIR", str(data))
        yield work


def plan_of(scale):
    """The pipeline's plan at ``scale`` as the Snakefile builds it (the reference)."""
    from vsml import data
    from vsml.repro import pipeline

    config = yaml.safe_load(open("config/pipeline.yaml"))
    name, settings = pipeline.resolve_scale({**config, "scale": scale})
    return pipeline.Plan(settings, name, data.available)


def read_rows(path):
    with open(path, newline="") as f:
        return {(r["kind"], r["job"]): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def smoke_fig6(repo, tmp_path_factory):
    """``vsml plan --scale smoke figures/fig6.pdf`` with made-up job times."""
    plan = plan_of("smoke")
    tests = [plan.test[t] for t in plan.figure_tests("fig6")]
    by = {(t.method, t.dataset): t for t in tests}
    augment = next(j for j in plan.train.values() if j.variant == "augment")  # Fig. 7's run
    sum_sign = next(t for t in plan.test.values()
                    if t.method == "sgd-shallow" and t.dataset == "sum_sign")
    times = {("train", augment.id): (500.0, 600.0),  # not Fig. 6's, the rate for its VSML run
             ("test", by["vsml", "mnist"].id): (11.0, 12.5),
             ("test", by["metarnn", "mnist"].id): (3.0, 3.25),
             ("test", by["adam-shallow", "mnist"].id): (1.0, 1.5),
             ("test", sum_sign.id): (6.0, 7.0)}  # sgd-shallow on MNIST: this median
    path = tmp_path_factory.mktemp("times") / "job_times.csv"
    lines = ["kind,method,job,wall_s,cpu_s,max_rss_mb"]
    lines += [f"{k},{j.split('/')[0]},{j},{w},{c},100" for (k, j), (w, c) in times.items()]
    path.write_text("\n".join(lines) + "\n")
    out = path.parent / "plan.csv"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = run_command("plan", ["--scale", "smoke", "--job-times", str(path), "--csv",
                                    str(out), "figures/fig6.pdf"])
    assert code == 0
    return plan, tests, by, read_rows(out), printed.getvalue()


def test_counts_match_the_plan(smoke_fig6):
    plan, tests, _, rows, _ = smoke_fig6
    trains = {t.train for t in tests if t.train}
    got = {}
    for r in rows.values():
        key = (r["rule"], r["method"])
        got.setdefault(key, [0, 0])
        got[key][0] += 1
        got[key][1] += r["status"] == "not-run"
    want = {}
    for t in tests:
        entry = want.setdefault(("meta_test", t.method), [0, 0])
        entry[0] += 1
        entry[1] += bool(t.missing)
    for run in trains:
        entry = want.setdefault(("meta_train", plan.train[run].method), [0, 0])
        entry[0] += 1
        entry[1] += bool(plan.train[run].missing)
    assert {k: v for k, v in got.items() if k[0] in ("meta_train", "meta_test")} == want
    assert sum(v[1] for v in want.values()) == 4  # the Fashion-MNIST meta-tests
    assert got[("figure", "-")] == [1, 0]


def test_job_times_measured_exactly_and_extrapolated(smoke_fig6):
    plan, _, by, rows, printed = smoke_fig6
    status = {j: r["status"] for (_, j), r in rows.items()}
    cpu = {j: float(r["cpu_s"] or 0) for (_, j), r in rows.items()}
    measured = [j for j, s in status.items() if s == "measured"]
    assert sorted(measured) == sorted(by[m, "mnist"].id for m in ("vsml", "metarnn",
                                                                    "adam-shallow"))
    assert sum(cpu[j] for j in measured) == 12.5 + 3.25 + 1.5
    assert status[by["sgd-shallow", "mnist"].id] == "extrapolated"
    assert cpu[by["sgd-shallow", "mnist"].id] == 7.0
    # Fig. 6's VSML run from the augment run's CPU s per ES step x pair x T x input size
    # (steps and T equal): pairs and mean input size from config/pipeline.yaml
    s = yaml.safe_load(open("config/pipeline.yaml"))["scales"]["smoke"]
    pairs, size = s["train"]["es.pairs"], s["image_size"]
    aug_pairs = s["fig7"]["train"]["es.pairs"]
    aug_size = statistics.mean(x * x for x in s["fig7"]["augment"]["image_sizes"])
    vsml_run = by["vsml", "mnist"].train
    assert status[vsml_run] == "extrapolated"
    assert cpu[vsml_run] == pytest.approx(600.0 * pairs * size**2 / (aug_pairs * aug_size),
                                          rel=1e-4)
    assert status[by["metarnn", "mnist"].train] == "unmeasured"  # no Meta RNN run measured
    assert all(status[t.id] == "not-run" for t in by.values() if t.dataset != "mnist")
    assert by["metarnn", "mnist"].train in printed  # the unmeasured job is listed


def test_paper_gpu_hours_from_the_measured_h200_step(repo, tmp_path):
    out = tmp_path / "paper.csv"
    assert run_command("plan", ["--scale", "paper", "--csv", str(out), "figures/fig6.pdf"]) == 0
    rows = read_rows(out)
    record = next(r for r in json.load(open(cost.GPU_BENCH))
                  if r["workload"] == "es-step" and r["implementation"] == "fast")
    default = yaml.safe_load(open("config/default.yaml"))
    steps, pairs, length = (default["meta_train"]["steps"], default["es"]["pairs"],
                            default["meta_train"]["length"])
    ticks = 28 * 28 * 10 * default["model"]["micro_ticks"]  # MNIST: 784 inputs, 10 classes
    size = record["inputs"] * record["outputs"]
    ref_micro = round(record["sub_lstm_ticks_per_s"] / record["episode_examples_per_s"] / size)
    want = (steps * record["step_s"] * pairs / record["pairs"] * length / record["length"]
            * ticks / (size * ref_micro))
    train = {r["method"]: r for (kind, _), r in rows.items() if kind == "train"}
    assert train["vsml"]["status"] == "extrapolated"
    assert float(train["vsml"]["gpu_s"]) == pytest.approx(want, rel=1e-6)
    assert train["metarnn"]["status"] == "unmeasured"
    assert "no GPU measurement" in train["metarnn"]["basis"]
    tests = [r for (kind, _), r in rows.items() if kind == "test"]
    assert tests and all(r["status"] in ("unmeasured", "not-run") for r in tests)


def test_paper_augment_run_scales_by_its_network_size(repo):
    plan = plan_of("paper")
    job = next(j for j in plan.train.values() if j.variant == "augment")
    step, _ = cost.read_gpu_step(cost.GPU_BENCH)
    aug = yaml.safe_load(open("config/pipeline.yaml"))["scales"]["paper"]["fig7"]["augment"]
    # every (classes, size) group an equal share: mean inputs x mean outputs x 2 micro ticks
    ticks = (statistics.mean(s * s for s in aug["image_sizes"])
             * statistics.mean(aug["num_classes"]) * 2)
    want = 10000 * step.seconds * ticks / (784 * 10 * 2)
    assert cost.gpu_seconds(cost.run_shape(job, repo), step) == pytest.approx(want, rel=1e-9)


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_scale_target_or_folder_exit_2(repo, tmp_path, capsys, monkeypatch):
    assert run_command("plan", ["--scale", "huge"]) == 2
    err = one_line_error(capsys)
    assert "unknown scale 'huge'" in err and "mini, paper, smoke" in err
    assert run_command("plan", ["--scale", "smoke", "figures/fig99.pdf"]) == 2
    err = one_line_error(capsys)
    assert "unknown target" in err and "'figures/fig99.pdf'" in err
    assert "figures/fig6.pdf" in err  # the valid choices
    monkeypatch.chdir(tmp_path)
    assert run_command("plan", []) == 2
    assert "no Snakefile" in one_line_error(capsys)
    assert os.getcwd() == str(tmp_path)
