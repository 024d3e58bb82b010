"""`make publish` (workflow/scripts/publish.py): all required outputs or nothing, in the
published layout that README and docs link into; optional ones reported, never fatal."""

from __future__ import annotations

import contextlib
import json
import re
import runpy
import shutil
from pathlib import Path

import pytest
import yaml

from vsml import data
from vsml.repro import appendix_train, pipeline

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "workflow/scripts/publish.py"
SCALE = "smoke"
LOCAL = {"mnist", "fashion_mnist", "random", "sum_sign"}  # datasets "here", for every test


@pytest.fixture(scope="module")
def publish():
    return runpy.run_path(str(SCRIPT))


def expected_layout(scale: str) -> dict[str, list[str]]:
    """Source (repository) -> published paths (under published/<scale>/), written out here
    from the rules' outputs and the layout of earlier `make publish` (not from the script)."""
    res = f"results/{scale}"
    out: dict[str, list[str]] = {}
    for fig in ("fig6", "fig7", "fig8", "fig12", "fig13", "fig14", "fig15", "fig16"):
        out[f"{res}/{fig}.csv"] = [f"{fig}.csv"]
        out[f"{res}/raw/{fig}.csv"] = [f"raw/{fig}.csv"]
    for fig in ("fig6", "fig12", "fig16"):
        out[f"{res}/curves/{fig}.csv"] = [f"curves/{fig}.csv"]
    for fig in ("fig18", "fig20", "fig21"):
        out[f"{res}/{fig}.csv"] = [f"appendix_train/{fig}.csv"]
        out[f"{res}/raw/{fig}.csv"] = [f"raw/{fig}.csv", f"appendix_train/raw/{fig}.csv"]
    for fig in ("fig18", "fig21"):
        out[f"{res}/curves/{fig}.csv"] = [f"curves/{fig}.csv", f"appendix_train/curves/{fig}.csv"]
    for fig in ("fig9", "fig17", "fig19"):
        out[f"{res}/{fig}.csv"] = [f"appendix_mnist/{fig}.csv"]
    for fig in ("fig9", "fig17"):
        out[f"{res}/introspection/{fig}.csv"] = [f"appendix_mnist/introspection/{fig}.csv"]
    out[f"{res}/curves/fig19.csv"] = ["curves/fig19.csv", "appendix_mnist/curves/fig19.csv"]
    for table in ("fig5", "fig10", "fig11", "clones"):
        out[f"{res}/cloning/{table}.csv"] = [f"cloning/{table}.csv"]
    for name in ("claims", "appendix_train/claims", "appendix_mnist/claims", "cloning/claims"):
        for ext in ("csv", "md", "html"):
            out[f"{res}/{name}.{ext}"] = [f"{name}.{ext}"]
    for n in range(5, 22):
        for ext in ("pdf", "png"):
            out[f"figures/fig{n}.{ext}"] = [f"figures/fig{n}.{ext}"]
    return out


def optional_runs() -> dict[str, dict[str, str]]:
    """Run folder (under runs/<scale>/train) -> {file: published path} of the optional copies."""
    config = yaml.safe_load((ROOT / "config/pipeline.yaml").read_text())
    scale, settings = pipeline.resolve_scale({**config, "scale": SCALE})
    runs = {}
    with contextlib.chdir(ROOT):  # the method configs behind the run folders' hashes
        plan = pipeline.Plan(settings, scale, data.available)
        for name, (variant, dist) in {"vsml-mnist": ("plain", "mnist"),
                                      "vsml-mnist-proj": ("proj", "mnist"),
                                      "vsml-fashion-mnist": ("plain", "fashion_mnist"),
                                      "vsml-fashion-mnist-proj": ("proj", "fashion_mnist")}.items():
            runs[plan.train_job("vsml", variant, dist).id] = {
                f: f"checkpoints/{name}/{f}" for f in ("meta_params.npz", "run.json",
                                                       "metrics.csv")}
        conv = appendix_train.conv_train_job(plan, "mnist", "proj").id
    runs[conv] = {"metrics.csv": "appendix_train/fig20-conv-meta-training.csv"}
    return runs


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repo(root, monkeypatch):
    """A repository copy (config/ only) with every output of a finished smoke run: each file
    holds its own path, so a copy to the wrong place shows.  cwd: elsewhere."""
    monkeypatch.setattr(data, "available", LOCAL.__contains__)
    repo = root.parent / "repo"
    shutil.copytree(ROOT / "config", repo / "config")
    for src in expected_layout(SCALE):
        write(repo / src, src)
    for run_id, files in optional_runs().items():
        run_dir = repo / "runs" / SCALE / "train" / run_id
        for name in files:
            write(run_dir / name, f"{run_id}/{name}")
        write(run_dir / "run.json", json.dumps({"status": "done", "id": run_id}))
        write(run_dir / "checkpoint.npz", "ES optimizer state: not published")
    bench = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    write(repo / "benchmarks" / SCALE / "train/vsml/plain/mnist-abc.tsv",
          bench + "390.5\t0:06:30\t812.1\t1\t1\t1\t0\t0\t99\t388.0\n")
    return repo


def run(publish, repo: Path, *args: str) -> int:
    return publish["main"](["--scale", SCALE, "--root", str(repo),
                            "--dest", str(repo / "published"), *args])


def published_files(repo: Path) -> dict[str, str]:
    folder = repo / "published" / SCALE
    return {p.relative_to(folder).as_posix(): p.read_text(errors="replace")
            for p in folder.rglob("*") if p.is_file()}


def missing_listed(err: str) -> list[str]:
    """The paths of the 'missing' list (lines '  <path>  snakemake ... <path>')."""
    return [line.split()[0] for line in err.splitlines()
            if line.startswith("  ") and " snakemake " in line
            and not line.lstrip().startswith("snakemake")]


def test_a_complete_run_is_published_in_the_published_layout(publish, repo, capsys):
    # files that are there already: a hand-made one stays silently, a former output is stale
    write(repo / "published" / SCALE / "lr_search" / "sgd.csv", "by hand")
    write(repo / "published" / SCALE / "fig99.csv", "an old figure")
    assert run(publish, repo) == 0
    want = {dst: repo / src for src, dsts in expected_layout(SCALE).items() for dst in dsts}
    for run_id, files in optional_runs().items():
        run_dir = repo / "runs" / SCALE / "train" / run_id
        want.update({dst: run_dir / name for name, dst in files.items()})
    got = published_files(repo)
    assert set(got) == set(want) | {"job_times.csv", "lr_search/sgd.csv", "fig99.csv"}
    for dst, src in want.items():
        assert got[dst] == src.read_text(), dst  # every file from its own source
    assert json.loads(got["checkpoints/vsml-mnist/run.json"])["status"] == "done"
    assert not any("checkpoint.npz" in d for d in got)  # the ES state stays behind
    times = got["job_times.csv"]
    assert times.startswith("kind,method,job,") and "vsml/plain/mnist-abc" in times
    assert got["lr_search/sgd.csv"] == "by hand" and got["fig99.csv"] == "an old figure"
    out = capsys.readouterr().out
    assert "stale" in out and "    fig99.csv" in out and "lr_search" not in out
    n_required = sum(len(d) for d in expected_layout(SCALE).values())
    assert f"copied {n_required + 4 * 3 + 1 + 1} files ({n_required} required" in out
    assert "skipped 0 optional" in out


@pytest.mark.parametrize("gone", ["results/smoke/raw/fig12.csv", "figures/fig19.png",
                                  "results/smoke/appendix_mnist/claims.md",
                                  "results/smoke/cloning/clones.csv"])
def test_one_missing_required_output_publishes_nothing_and_names_it(publish, repo, capsys,
                                                                    gone):
    (repo / gone).unlink()
    assert run(publish, repo) == 1
    assert not (repo / "published").exists()
    err = capsys.readouterr().err
    assert missing_listed(err) == [gone]
    assert f"snakemake --cores all --config scale=smoke {gone}" in err
    assert "nothing was published" in err


def test_a_missing_figure_is_rebuilt_by_one_target(publish, repo, capsys):
    for src in expected_layout(SCALE):
        if "fig12" in src:
            (repo / src).unlink()
    assert run(publish, repo) == 1
    err = capsys.readouterr().err
    assert sorted(missing_listed(err)) == sorted(s for s in expected_layout(SCALE) if "fig12" in s)
    # the figure's job needs its table: naming the drawing rebuilds all of them
    assert err.rstrip().endswith("snakemake --cores all --config scale=smoke figures/fig12.pdf")


def test_figures_publishes_those_figures_and_the_claims_they_feed(publish, repo, capsys):
    keep = {s for s in expected_layout(SCALE) if re.search(r"\bfig(6|10)\.", s)}
    keep |= {f"results/{SCALE}/claims.{ext}" for ext in ("csv", "md", "html")}
    for src in expected_layout(SCALE):
        if src not in keep:
            (repo / src).unlink()
    assert run(publish, repo, "--figures", "fig6", "fig10") == 0
    got = set(published_files(repo))
    assert {"fig6.csv", "raw/fig6.csv", "curves/fig6.csv", "figures/fig6.pdf",
            "figures/fig6.png", "cloning/fig10.csv", "figures/fig10.png", "claims.csv",
            "claims.md", "claims.html"} <= got
    assert not {"fig7.csv", "figures/fig7.pdf", "cloning/claims.csv", "cloning/clones.csv",
                "appendix_mnist/claims.csv", "appendix_train/fig20-conv-meta-training.csv"} & got
    out = capsys.readouterr().out
    assert "skipped (not in --figures): fig5, fig7, fig8, fig9, fig11," in out
    assert "appendix_train/claims, appendix_mnist/claims, cloning/claims" in out
    # the main claims table is fed by Fig. 6: required, so without it nothing is published
    shutil.rmtree(repo / "published")
    (repo / "results/smoke/claims.md").unlink()
    assert run(publish, repo, "--figures", "fig6") == 1
    assert missing_listed(capsys.readouterr().err) == ["results/smoke/claims.md"]
    assert not (repo / "published").exists()
    assert run(publish, repo, "--figures", "fig4") == 2


def test_missing_optional_outputs_are_skipped_with_their_reason(publish, repo, capsys):
    shutil.rmtree(repo / "benchmarks")
    runs = repo / "runs" / SCALE / "train"
    run_ids = list(optional_runs())
    shutil.rmtree(runs / run_ids[0])
    write(runs / run_ids[1] / "run.json", json.dumps({"status": "running"}))
    assert run(publish, repo) == 0
    out = capsys.readouterr().out
    assert f"skipped optional checkpoints/vsml-mnist: {runs / run_ids[0]} does not exist" in out
    assert "skipped optional checkpoints/vsml-mnist-proj:" in out
    assert "not finished (run.json status: running)" in out
    assert f"skipped optional job_times.csv: {repo / 'benchmarks' / SCALE} does not exist" in out
    assert "copied optional checkpoints/vsml-fashion-mnist (3 file(s))" in out
    assert "skipped 3 optional (checkpoints/vsml-mnist, checkpoints/vsml-mnist-proj, " \
           "job_times.csv)" in out
    got = set(published_files(repo))
    assert not any(d.startswith(("checkpoints/vsml-mnist/", "checkpoints/vsml-mnist-proj/"))
                   for d in got)
    assert "job_times.csv" not in got and "claims.csv" in got


def test_a_scale_without_cloning_settings_requires_no_cloning_outputs(publish, repo, capsys):
    cloning = repo / "config/cloning.yaml"
    config = yaml.safe_load(cloning.read_text())
    del config["scales"][SCALE]
    cloning.write_text(yaml.safe_dump(config))
    for src in expected_layout(SCALE):
        if "cloning" in src or src.startswith(("figures/fig5.", "figures/fig10.",
                                               "figures/fig11.")):
            (repo / src).unlink()
    assert run(publish, repo) == 0
    assert not any(d.startswith("cloning/") for d in published_files(repo))
    assert "config/cloning.yaml has no scale 'smoke'" in capsys.readouterr().out


def test_make_publish_runs_the_script():
    recipe = (ROOT / "Makefile").read_text().split("\npublish:")[1].split("\n\n")[0]
    assert "workflow/scripts/publish.py --scale $(SCALE)" in recipe
    assert recipe.count("\n\t") == 1  # one line, no step that ignores its errors
