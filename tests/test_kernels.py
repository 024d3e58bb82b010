"""The fused dense-tick kernel: batching, gradients, the fallback, sharding; vsml.cpu settings.

Whole-episode equivalence with the reference is in test_model.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vsml import cpu, kernels
from vsml.errors import UserError
from vsml.model import (
    _conv_micro_ticks_fused,
    _conv_micro_ticks_jax,
    _dense_micro_ticks_fused,
    _dense_micro_ticks_jax,
)

ROOT = Path(__file__).resolve().parent.parent


def _inputs(batch=(), rows=7, cols=5, n=16, seed=0):
    ks = jax.random.split(jax.random.PRNGKey(seed), 5)
    h = 0.5 * jax.random.normal(ks[0], batch + (rows, cols, n))
    c = jax.random.normal(ks[1], batch + (rows, cols, n))
    row = jax.random.normal(ks[2], batch + (rows, 4 * n))
    col = jax.random.normal(ks[3], batch + (cols, 4 * n))
    w_h = 0.3 * jax.random.normal(ks[4], batch + (n, 4 * n))
    return h, c, row, col, w_h


@pytest.mark.parametrize("n", [16, 32, 8, 12])
def test_kernel_equals_jax_ticks_under_nested_vmap(n):
    assert kernels.dense_ticks_available()
    args = _inputs(batch=(2, 3), n=n)
    # every member has its own weights: the batch dims are not just broadcast
    fused = jax.jit(jax.vmap(jax.vmap(lambda *a: kernels.dense_ticks(*a, 3))))(*args)
    ref = jax.vmap(jax.vmap(lambda *a: _dense_micro_ticks_jax(*a, 3)))(*args)
    for got, want in zip(fused, ref):
        assert float(jnp.abs(want).max()) > 0.1
        np.testing.assert_allclose(got, want, atol=2e-6, rtol=0)


def test_kernel_broadcasts_unbatched_weights():
    h, c, row, col, w_h = _inputs(batch=(4,))
    fused = jax.vmap(lambda *a: kernels.dense_ticks(*a, w_h[0], 2))(h, c, row, col)
    ref = _dense_micro_ticks_jax(h, c, row, col, w_h[0], 2)
    np.testing.assert_allclose(fused[0], ref[0], atol=2e-6, rtol=0)


@pytest.mark.parametrize("layer", ["dense", "conv"])
def test_fused_ticks_are_differentiable_like_the_jax_path(layer):
    fused, jax_path, args = {
        "dense": (_dense_micro_ticks_fused, _dense_micro_ticks_jax, _inputs()),
        "conv": (_conv_micro_ticks_fused, _conv_micro_ticks_jax, _conv_inputs()),
    }[layer]

    def loss(fn):
        return lambda *a: sum(jnp.sum(jnp.sin(o)) for o in fn(*a, 2))

    got = jax.grad(loss(fused), argnums=(0, 1, 2, 3, 4))(*args)
    want = jax.grad(loss(jax_path), argnums=(0, 1, 2, 3, 4))(*args)
    for g, w in zip(got, want):
        assert float(jnp.abs(w).max()) > 1e-3
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-5)


def _run(script: str, **env_overrides) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **env_overrides}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)


EPISODE = """
    import dataclasses, json, jax
    from vsml import kernels
    from vsml.episode import Episode, run_episode
    from vsml.model import VSML, Config
    out = {}
    for impl in ("fast", "fast-jax"):
        learner = VSML(Config(implementation=impl), (12,), 4)
        params = learner.init_meta_params(jax.random.PRNGKey(0))
        k = jax.random.PRNGKey(1)
        ep = Episode(jax.random.normal(k, (6, 12)), jax.random.randint(k, (6,), 0, 4))
        out[impl] = run_episode(learner, params, ep, k).logits.tolist()
    out["available"] = kernels.dense_ticks_available()
    print("RESULT" + json.dumps(out))
"""


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.mark.parametrize("env", [{"VSML_FUSED": "0"}, {"CXX": "false", "VSML_KERNEL_CACHE": ""}],
                         ids=["disabled", "build-fails"])
def test_without_the_kernel_fast_falls_back_to_jax_with_one_warning(env, tmp_path):
    env = {k: (str(tmp_path / "cache") if k == "VSML_KERNEL_CACHE" else v)
           for k, v in env.items()}
    if "CXX" in env:  # make sure no compiler on PATH rescues the build
        env["PATH"] = str(tmp_path)
        (tmp_path / "false").symlink_to("/bin/false")
    proc = _run(EPISODE, **env)
    result = _result(proc)
    warnings = [ln for ln in proc.stderr.splitlines() if "fused VSML kernel unavailable" in ln]
    assert len(warnings) == 1, proc.stderr
    assert result["available"] is False
    assert result["fast"] == result["fast-jax"]  # the fallback is the JAX path itself


ISA = """
    import json, jax, jax.numpy as jnp
    from vsml import kernels
    from vsml.model import _dense_micro_ticks_jax
    from tests.test_kernels import _inputs
    assert kernels.dense_ticks_available()
    args = _inputs(batch=(2,))
    got = jax.vmap(lambda *a: kernels.dense_ticks(*a, 3))(*args)
    want = jax.vmap(lambda *a: _dense_micro_ticks_jax(*a, 3))(*args)
    print("RESULT" + json.dumps(max(float(jnp.abs(g - w).max()) for g, w in zip(got, want))))
"""


@pytest.mark.parametrize("march", ["x86-64-v3", "x86-64"], ids=["avx2", "sse"])
def test_kernel_built_for_older_cpus_equals_jax_ticks(march, tmp_path):
    """The code paths of CPUs without AVX-512 (8- and 4-lane vectors), built on this one."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("x86 targets")
    proc = _run(ISA, VSML_KERNEL_MARCH=march, VSML_KERNEL_CACHE=str(tmp_path))
    assert _result(proc) < 2e-6


SHARDED = """
    import json, jax, numpy as np
    from jax.flatten_util import ravel_pytree
    from vsml.meta.es import make_es, make_mesh, synthetic_group
    from vsml.methods import make_learner
    from vsml import kernels
    assert jax.device_count() == 2 and kernels.dense_ticks_available()
    learner = make_learner("vsml", (20,), 3, {"implementation": "fast"})
    out = {}
    for devices in (jax.devices()[:1], jax.devices()):
        trainer = make_es([synthetic_group(learner, 20, 3, 8, 3)], chunk=2,
                          mesh=make_mesh(devices))
        state = trainer.init(jax.random.PRNGKey(0))
        for step in range(2):
            state, metrics = trainer.step(state, jax.random.PRNGKey(5 + step))
        out[len(devices)] = np.asarray(ravel_pytree(state.meta_params)[0]).tolist()
        out[f"loss{len(devices)}"] = float(metrics["meta_loss"])
    print("RESULT" + json.dumps(out))
"""


def test_fused_es_step_sharded_over_two_devices_equals_one_device():
    result = _result(_run(SHARDED, XLA_FLAGS="--xla_force_host_platform_device_count=2",
                          VSML_THREADS="2"))
    np.testing.assert_allclose(result["1"], result["2"], atol=1e-6, rtol=1e-6)
    assert abs(result["loss1"] - result["loss2"]) < 1e-6


def test_cpu_configure_one_device_per_thread_overridable():
    env = {}
    assert cpu.configure(3, env) == (3, 3)
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=3"
    assert env["VSML_THREADS"] == "3"
    env = {"VSML_THREADS": "4", "VSML_CPU_DEVICES": "1", "XLA_FLAGS": "--xla_foo"}
    assert cpu.configure(None, env) == (4, 1)
    assert env["XLA_FLAGS"] == "--xla_foo --xla_force_host_platform_device_count=1"
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}  # the user's flag wins
    assert cpu.configure(8, env) == (8, 2)
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
    assert cpu.configure(None, {})[0] == cpu.available_cores()
    # Snakemake exports a job's threads: as OMP_NUM_THREADS; VSML_THREADS wins over it
    assert cpu.configure(None, {"OMP_NUM_THREADS": "1"}) == (1, 1)
    assert cpu.configure(None, {"OMP_NUM_THREADS": "1", "VSML_THREADS": "2"}) == (2, 2)
    with pytest.raises(UserError, match="VSML_THREADS must be a positive integer"):
        cpu.configure(None, {"VSML_THREADS": "many"})
    with pytest.raises(UserError, match="--threads"):
        cpu.configure(0, {})


def _conv_inputs(batch=(), positions=6, rows=9, cols=4, n=16, seed=0):
    ks = jax.random.split(jax.random.PRNGKey(seed), 5)
    h = 0.5 * jax.random.normal(ks[0], batch + (rows, cols, n))
    c = jax.random.normal(ks[1], batch + (rows, cols, n))
    into = jax.random.normal(ks[2], batch + (positions, rows, 4 * n))
    out = jax.random.normal(ks[3], batch + (positions, cols, 4 * n))
    w_h = 0.3 * jax.random.normal(ks[4], batch + (n, 4 * n))
    return h, c, into, out, w_h


@pytest.mark.parametrize("n", [16, 32, 48])
def test_conv_kernel_equals_jax_ticks_under_nested_vmap(n):
    assert kernels.dense_ticks_available() and kernels.conv_ticks_supports(n)
    args = _conv_inputs(batch=(2, 3), n=n)
    fused = jax.jit(jax.vmap(jax.vmap(lambda *a: kernels.conv_ticks(*a, 3))))(*args)
    ref = jax.vmap(jax.vmap(lambda *a: _conv_micro_ticks_jax(*a, 3)))(*args)
    assert [f.shape for f in fused] == [r.shape for r in ref]
    for got, want in zip(fused, ref):  # new h, c and the last tick's per-position h
        assert float(jnp.abs(want).max()) > 0.1
        np.testing.assert_allclose(got, want, atol=2e-6, rtol=0)


def test_conv_kernel_only_for_whole_vectors():
    sizes = (8, 12, 16, 24, 32, 64, 80)
    assert [n for n in sizes if kernels.conv_ticks_supports(n)] == [16, 32, 64]
    with pytest.raises(ValueError, match="multiple of 16"):
        kernels.conv_ticks(*_conv_inputs(n=8), 1)
