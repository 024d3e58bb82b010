"""Multi-process JAX: two processes of ``vsml meta-train --distributed`` on this machine.

Each process owns one CPU device; ``jax.distributed`` connects them through a coordinator on
127.0.0.1 and the cross-process ``psum`` runs over gloo (JAX's CPU collectives).  The run
must end with the meta-parameters of one process over two (virtual) devices, only process 0
may write files, and a run whose two processes are killed resumes from its checkpoint.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STEPS = 40  # enough steps after the first checkpoint (step 2) to kill the run in the middle
ARGS = ["--config", str(ROOT / "config" / "tiny.yaml"), "--set", f"meta_train.steps={STEPS}",
        "--no-progress"]
TIMEOUT = 300


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    # the compilation cache the in-process tests use (conftest.py): reruns compile less
    cache = os.environ.get("VSML_TEST_JAX_CACHE",
                           os.path.join(tempfile.gettempdir(), "vsml-test-jax-cache"))
    env.setdefault("JAX_COMPILATION_CACHE_DIR", cache)
    env.update(extra)
    return env


def _meta_train(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as f:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "vsml.meta.meta_train", *ARGS, *argv],
                                env=env, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(out0: Path, out1: Path, logs: Path, tag: str) -> list[subprocess.Popen]:
    """Process 0 writes into ``out0``; process 1 is pointed at ``out1``."""
    coordinator = f"127.0.0.1:{_free_port()}"
    # one CPU device per process (vsml.cpu would give each one device per core)
    return [_meta_train(["--out", str(out), "--distributed", "--coordinator", coordinator,
                         "--num-processes", "2", "--process-id", str(rank)],
                        _env(VSML_CPU_DEVICES="1"), logs / f"{tag}{rank}.log")
            for rank, out in enumerate((out0, out1))]


def _wait(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    deadline = time.monotonic() + TIMEOUT
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log.read_text()[-3000:]


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def _losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["meta_loss"]) for r in csv.DictReader(f)}


def test_two_processes_match_one_process_and_resume_after_kill(tmp_path):
    ref, out0, out1 = tmp_path / "one-process", tmp_path / "rank0", tmp_path / "rank1"
    out1.mkdir()

    # the reference: one process over two virtual CPU devices
    log = tmp_path / "reference.log"
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    _wait([_meta_train(["--out", str(ref)], _env(XLA_FLAGS=flags), log)], [log])

    # two processes; both killed (SIGKILL: no checkpoint on the way out) after the first one
    procs = _two_processes(out0, out1, tmp_path, "first")
    deadline = time.monotonic() + TIMEOUT
    while not (out0 / "checkpoint.npz").exists():
        assert all(p.poll() is None for p in procs), (tmp_path / "first0.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within the time limit"
        time.sleep(0.01)
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = json.loads((out0 / "run.json").read_text())
    assert killed_at["status"] == "running" and killed_at["devices"] == 2, killed_at
    assert list(out1.iterdir()) == [], "process 1 wrote files"

    # resume: process 1 reads a copy of the run directory (a shared file system's view)
    shutil.copytree(out0, out1, dirs_exist_ok=True)
    before = _digest(out1)
    procs = _two_processes(out0, out1, tmp_path, "resume")
    _wait(procs, [tmp_path / "resume0.log", tmp_path / "resume1.log"])
    for rank in (0, 1):
        text = (tmp_path / f"resume{rank}.log").read_text()
        resumed = [line for line in text.splitlines() if line.startswith("resuming")]
        assert resumed, text[-3000:]
        step = int(resumed[0].rsplit(" ", 1)[1])
        assert 2 <= step < STEPS, resumed  # killed in the middle, not after the end
    assert _digest(out1) == before, "process 1 wrote files"

    done = json.loads((out0 / "run.json").read_text())
    assert done["status"] == "done" and done["step"] == STEPS and done["devices"] == 2, done
    with np.load(ref / "meta_params.npz") as a, np.load(out0 / "meta_params.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:  # the sharding test's tolerance (tests/test_sharding.py)
            np.testing.assert_allclose(b[name], a[name], rtol=1e-6, atol=1e-6, err_msg=name)
    one, two = _losses(ref), _losses(out0)
    assert sorted(two) == list(range(1, STEPS + 1))  # the resumed log has every step once
    assert max(abs(one[s] - two[s]) for s in one) < 1e-5
    # the run moved: equal frozen runs would prove nothing
    assert len({round(v, 6) for v in one.values()}) > 1


def test_process_options_need_distributed(tmp_path, capsys):
    from vsml.cli import run_command

    code = run_command("meta-train", ["--out", str(tmp_path / "x"), "--process-id", "1"])
    assert code == 2 and "--process-id: only used with --distributed" in capsys.readouterr().err
    code = run_command("meta-train", ["--out", str(tmp_path / "x"), "--distributed",
                                      "--num-processes", "2", "--process-id", "2"])
    assert code == 2 and "--process-id must be in 0..1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
