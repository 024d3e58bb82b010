"""The pipeline and multi-process meta-training through a real SLURM cluster (slow).

``make test-slurm`` starts the single-node cluster of ``workflow/scripts/local_slurm.sh``,
runs these tests with VSML_TEST_SLURM=1 and stops the cluster.  Without that variable they
are skipped; with it, a cluster that does not answer is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "workflow" / "scripts" / "local_slurm.sh"
BIN = Path(sys.executable).parent  # the venv's bin: snakemake, vsml
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    if os.environ.get("VSML_TEST_SLURM") != "1":
        pytest.skip("needs the local SLURM cluster: `make test-slurm` (docs/cluster.md)")
    status = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True,
                            check=False)
    assert status.returncode == 0, "the local SLURM cluster is not up:\n" + status.stdout
    env = dict(os.environ)
    env.update(JAX_PLATFORMS="cpu", PATH=f"{BIN}{os.pathsep}{env['PATH']}")
    env.setdefault("VSML_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    return env


def _sacct(job_ids: list[str], env: dict[str, str]) -> dict[str, dict[str, str]]:
    fields = ["JobIdRaw", "State", "Account", "Partition", "Comment"]
    out = subprocess.run(["sacct", "-X", "-P", "-n", "-j", ",".join(job_ids), "-o",
                          ",".join(fields)], env=env, capture_output=True, text=True,
                         check=True).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]
    return {row["JobIdRaw"]: row for row in rows}


def test_fig6_smoke_builds_through_slurm(slurm_env, tmp_path):
    """Every job of the smoke Fig. 6 is an sbatch job that Slurm's accounting knows."""
    work = tmp_path / "workflow-copy"  # a fresh directory: nothing is built yet
    work.mkdir()
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copy2(ROOT / "Snakefile", work)
    for name in ("config", "workflow"):
        shutil.copytree(ROOT / name, work / name, ignore=ignore)

    start = time.monotonic()
    # the repository's XLA compilation cache, as a cluster shares one (docs/cluster.md)
    cache = ROOT / "runs" / ".jax-cache"
    proc = subprocess.run([str(BIN / "snakemake"), "--profile", "workflow/profiles/slurm-local",
                           "figures/fig6.pdf", "--config", "scale=smoke", f"jax_cache={cache}"],
                          cwd=work, env=slurm_env, capture_output=True, text=True, timeout=1800,
                          check=False)
    wall = time.monotonic() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]

    planned = int(re.search(r"^total\s+(\d+)$", log, re.M).group(1))
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    # every job of the plan went to sbatch (none ran on the submitting host)
    assert sorted(map(int, submitted)) == list(range(planned)), log[-5000:]
    jobs = _sacct(list(submitted.values()), slurm_env)
    assert sorted(jobs) == sorted(submitted.values()), jobs
    for job in jobs.values():
        assert job["State"] == "COMPLETED" and job["Account"] == "vsml", job
        assert job["Partition"] == "cpu", job
    # the plugin's comment: rule_<rule>[_wildcards_<values>]
    rules = {re.match(r"rule_(\w+?)(_wildcards_|$)", j["Comment"]).group(1)
             for j in jobs.values()}
    assert {"meta_train", "meta_test", "aggregate_curves", "figure"} <= rules, rules

    check = subprocess.run([sys.executable, str(ROOT / "workflow/scripts/check_outputs.py"),
                            "--scale", "smoke", "fig6"], cwd=work, env=slurm_env,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    print("SLURM fig6 smoke:", json.dumps({"jobs": planned, "wall_s": round(wall, 1),
                                           "slurm_job_ids": sorted(jobs, key=int)}))


def test_srun_two_tasks_meta_train_distributed(slurm_env, tmp_path):
    """``srun -n 2 vsml meta-train --distributed``: JAX finds rank, size and coordinator in
    Slurm's environment, and the result is the one process over two devices gives."""
    args = [sys.executable, "-m", "vsml.meta.meta_train", "--config",
            str(ROOT / "config" / "tiny.yaml"), "--no-progress"]
    env = dict(slurm_env, PYTHONPATH=str(ROOT))
    flags = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ref = subprocess.run([*args, "--out", str(tmp_path / "one-process")],
                         env=dict(env, XLA_FLAGS=flags), capture_output=True, text=True,
                         timeout=600, check=False)
    assert ref.returncode == 0, ref.stderr[-3000:]

    # one CPU device per task (vsml.cpu would give each task one per core it can see)
    srun = subprocess.run(["srun", "--ntasks=2", "--cpus-per-task=1", "--mem-per-cpu=1500",
                           "--account=vsml", "--time=10", "--label", *args, "--distributed",
                           "--out", str(tmp_path / "srun")],
                          env=dict(env, VSML_CPU_DEVICES="1"), capture_output=True, text=True,
                          timeout=900, check=False)
    output = srun.stdout + srun.stderr
    assert srun.returncode == 0, output[-5000:]
    # both tasks finished the run (srun --label prefixes each line with the task's rank)
    assert re.search(r"^0: done: step 4/4", output, re.M), output[-3000:]
    assert re.search(r"^1: done: step 4/4", output, re.M), output[-3000:]
    run = json.loads((tmp_path / "srun" / "run.json").read_text())
    assert run["status"] == "done" and run["devices"] == 2, run
    with np.load(tmp_path / "one-process" / "meta_params.npz") as a, \
            np.load(tmp_path / "srun" / "meta_params.npz") as b:
        for name in a.files:  # the sharding test's tolerance (tests/test_sharding.py)
            np.testing.assert_allclose(b[name], a[name], rtol=1e-6, atol=1e-6, err_msg=name)


def _wait_for_state(job_id: str, env: dict[str, str], timeout: float = 900) -> str:
    """The job's final state once sacct reports one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _sacct([job_id], env).get(job_id, {}).get("State", "")
        if state and state.split()[0] not in ("PENDING", "RUNNING", "REQUEUED", "COMPLETING"):
            return state.split()[0]
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not end within {timeout} s")


def test_cancelled_job_checkpoints_and_resumes(slurm_env, tmp_path):
    """A job that Slurm cancels (SIGTERM, as for preemption or a time limit) saves the last
    completed step; the same command submitted again resumes from it."""
    run = tmp_path / "run"
    steps = 400  # checkpoint_every above it: only the SIGTERM handler saves before the end
    command = (f"{sys.executable} -m vsml.meta.meta_train --config {ROOT / 'config/tiny.yaml'} "
               f"--set meta_train.steps={steps} --set meta_train.checkpoint_every=1000 "
               f"--out {run} --no-progress")
    env = dict(slurm_env, PYTHONPATH=str(ROOT))

    def submit(name: str) -> str:
        return subprocess.run(["sbatch", "--parsable", "--account=vsml", "--cpus-per-task=1",
                               "--mem=1500", "--time=10", f"--output={tmp_path / name}.log",
                               f"--wrap={command}"], env=env, capture_output=True, text=True,
                              check=True).stdout.strip()

    first = submit("first")
    deadline = time.monotonic() + 600
    while not ((run / "metrics.csv").exists() and
               len((run / "metrics.csv").read_text().splitlines()) > 5):
        assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.1)
    subprocess.run(["scancel", first], env=env, check=True)
    assert _wait_for_state(first, env) == "CANCELLED"
    # Slurm calls the job cancelled at once; the process has KillWait (30 s) to save
    deadline = time.monotonic() + 60
    while (stopped := json.loads((run / "run.json").read_text()))["status"] == "running":
        assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-3000:]
        time.sleep(0.2)
    assert stopped["status"] == "interrupted", stopped
    assert 5 <= stopped["step"] < steps, stopped  # saved by the handler, mid-run

    second = submit("second")
    assert _wait_for_state(second, env) == "COMPLETED", (tmp_path / "second.log").read_text()
    log = (tmp_path / "second.log").read_text()
    assert f"resuming {run} from step {stopped['step']}" in log, log[-3000:]
    done = json.loads((run / "run.json").read_text())
    assert done["status"] == "done" and done["step"] == steps, done
    print("SLURM cancel + resume:", json.dumps({"cancelled_job": first, "resumed_job": second,
                                                "checkpoint_step": stopped["step"]}))
