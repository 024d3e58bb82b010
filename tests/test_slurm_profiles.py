"""The SLURM profiles give sbatch lines the executor plugin accepts (no cluster needed).

Snakemake plans the smoke Fig. 6 with each profile (a dry run: the profile's keys, executor
settings included, are parsed by the installed plugin); every planned job's resources then go
through the plugin's own checks and submit-line builder.  The GPU template must ask for one
GPU on the GPU partition for meta-training and meta-test; the local profile for none.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install -e '.[cluster]'")
from snakemake_executor_plugin_slurm.submit_string import get_submit_command  # noqa: E402
from snakemake_executor_plugin_slurm.utils import set_gres_string  # noqa: E402
from snakemake_executor_plugin_slurm.validation import validate_slurm_extra  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GPU_RULES = {"meta_train", "meta_test"}


class Resources(dict):
    """What the plugin reads: ``resources.get(name)`` and ``resources.name``."""

    __getattr__ = dict.get


def _value(text: str):
    return int(text) if text.isdigit() else text


def _planned_jobs(work: Path, profile: str) -> list[SimpleNamespace]:
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--profile",
                           f"workflow/profiles/{profile}", "figures/fig6.pdf", "--config",
                           "scale=smoke"], cwd=work, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = []
    for block in re.split(r"^rule ", proc.stdout, flags=re.M)[1:]:
        name = block.split(":", 1)[0]
        found = re.search(r"^\s+resources: (.*)$", block, re.M)
        pairs = [item.split("=", 1) for item in found.group(1).split(", ")] if found else []
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        resources = Resources({k: _value(v) for k, v in pairs})
        jobs.append(SimpleNamespace(name=name, resources=resources, is_group=lambda: False,
                                    threads=int(threads.group(1)) if threads else 1))
    return jobs


def _submit_line(job) -> str:
    validate_slurm_extra(job)  # raises on options the plugin manages itself (--gres, ...)
    res = job.resources
    params = {"run_uuid": "run", "slurm_logfile": "job.log", "comment_str": f"rule_{job.name}",
              "account": f"-A {res['slurm_account']}" if res.get("slurm_account") else "",
              "partition": f"-p {res['slurm_partition']}", "workdir": "."}
    return get_submit_command(job, params) + set_gres_string(job)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("workflow")  # the dry run writes the figure plans
    shutil.copy2(ROOT / "Snakefile", work)
    for name in ("config", "workflow"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    return work


def test_gpu_template_asks_one_gpu_per_training_and_test_job(workflow_copy):
    jobs = _planned_jobs(workflow_copy, "slurm")
    assert {job.name for job in jobs} >= GPU_RULES | {"figure"}
    for job in jobs:
        line = _submit_line(job)
        if job.name in GPU_RULES:
            assert "--gpus=1" in line and "-p gpu" in line, line
        else:
            assert "--gpus" not in line and "-p cpu" in line, line


def test_local_profile_is_cpu_only_on_the_local_account(workflow_copy):
    for job in _planned_jobs(workflow_copy, "slurm-local"):
        line = _submit_line(job)
        assert "--gpus" not in line and "--gres" not in line, line
        assert "-p cpu" in line and "-A vsml" in line, line
