"""Shared test setup: CPU only, a persistent XLA compilation cache, a Snakemake dry run,
an empty data root without network."""

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

from vsml import data as D  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

_default_cache = os.path.join(tempfile.gettempdir(), "vsml-test-jax-cache")
_cache = os.environ.get("VSML_TEST_JAX_CACHE", _default_cache)
jax.config.update("jax_compilation_cache_dir", _cache)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def snakemake_dry_run(tmp_path):
    """``run(*targets, scale=...)`` -> {rule: job count} of ``snakemake -n`` on a copy of the
    workflow (reading the Snakefile writes results/<scale>/cells/) with no dataset present."""
    exe = Path(sys.executable).parent / "snakemake"
    exe = str(exe) if exe.exists() else shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake not installed")
    work = tmp_path / "repo"
    for name in ("config", "workflow"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "Snakefile", work / "Snakefile")

    def run(*targets: str, scale: str) -> dict[str, int]:
        result = subprocess.run(
            [exe, "-n", *targets, "--config", f"scale={scale}"], cwd=work,
            capture_output=True, text=True, timeout=180,
            env={**os.environ, "VSML_DATA_DIR": str(tmp_path / "no-data")})
        assert result.returncode == 0, result.stderr[-2000:]
        counts = {}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
        return counts

    return run


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty data root as $VSML_DATA_DIR, cwd in tmp, no network, clean caches."""
    monkeypatch.chdir(tmp_path)
    data_root = tmp_path / "data"
    data_root.mkdir()
    monkeypatch.setenv(D.DATA_DIR_ENV, str(data_root))

    def no_network(url, timeout=None):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(D.files, "_urlopen", no_network)
    D.clear_caches()
    yield data_root
    D.clear_caches()
