"""The population sharded over 2 (virtual CPU) devices gives the single-device result.

XLA_FLAGS must be set before JAX starts, so the check runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.flatten_util import ravel_pytree

    from vsml.episode import Episode
    from vsml.meta.es import TaskGroup, make_es, make_mesh
    from vsml.meta.gradient import make_gradient

    assert jax.device_count() == 2, jax.devices()


    class Tiny:
        name = "tiny"

        def __init__(self, inputs, outputs):
            self.input_shape, self.num_outputs = (inputs,), outputs

        def init_meta_params(self, key):
            return {"w0": 0.1 * jax.random.normal(key, (self.input_shape[0], self.num_outputs)),
                    "log_lr": jnp.asarray(-2.0, jnp.float32)}

        def init_state(self, meta_params, key):
            return {"w": meta_params["w0"] + 0.01 * jax.random.normal(key, meta_params["w0"].shape),
                    "x": jnp.zeros(self.input_shape)}

        def step(self, meta_params, state, x, feedback):
            w = state["w"] - jnp.exp(meta_params["log_lr"]) * jnp.outer(state["x"], feedback.error)
            return x @ w, {"w": w, "x": x}


    def group(name, count, seed):
        learner = Tiny(5, 3)
        teacher = jax.random.normal(jax.random.PRNGKey(seed), (5, 3))

        def sample(key, data):
            x = jax.random.normal(key, (9, 5))
            return Episode(x, jnp.argmax(x @ data, -1).astype(jnp.int32))

        return TaskGroup(name, learner, sample, teacher, count)


    # odd group sizes: padding on the devices and in the chunks is exercised
    groups = [group("a", 5, 0), group("b", 4, 1)]
    out = {}
    for algo, make in (("es", make_es), ("gradient", make_gradient)):
        params = []
        for devices in (jax.devices()[:1], jax.devices()):
            trainer = make(groups, chunk=2, mesh=make_mesh(devices))
            state = trainer.init(jax.random.PRNGKey(0))
            losses = []
            for step in range(3):
                state, metrics = trainer.step(state, jax.random.PRNGKey(10 + step))
                losses.append(float(metrics["meta_loss"]))
            params.append(np.asarray(ravel_pytree(state.meta_params)[0]))
            out[f"{algo}_{len(devices)}_loss"] = losses
            out[f"{algo}_{len(devices)}_devices"] = int(trainer.mesh.devices.size)
        out[f"{algo}_max_diff"] = float(np.max(np.abs(params[0] - params[1])))
        out[f"{algo}_close"] = bool(np.allclose(params[0], params[1], rtol=1e-6, atol=1e-6))
    print("RESULT" + json.dumps(out))
    """
)


def test_sharded_step_equals_single_device_step():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2")
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    result = json.loads(line[len("RESULT"):])
    for algo in ("es", "gradient"):
        assert result[f"{algo}_1_devices"] == 1 and result[f"{algo}_2_devices"] == 2
        assert result[f"{algo}_close"], result
        assert abs(result[f"{algo}_1_loss"][-1] - result[f"{algo}_2_loss"][-1]) < 1e-5, result
        # the run must actually move: equality of two frozen runs would prove nothing
        assert result[f"{algo}_1_loss"][0] != result[f"{algo}_1_loss"][-1]


META_TEST = textwrap.dedent(
    """
    import json, sys
    import jax
    import numpy as np
    from vsml import kernels
    from vsml.meta.meta_test import meta_test

    rng = np.random.default_rng(0)
    np.savez(sys.argv[1], x=rng.normal(size=(40, 12)).astype(np.float32),
             y=rng.integers(0, 3, size=40))
    result = meta_test(dataset=sys.argv[1], method="vsml", untrained=True, episodes=5,
                       length=15, chunk=2, log=lambda *a: None)
    print("RESULT" + json.dumps({"devices": jax.device_count(),
                                 "fused": kernels.dense_ticks_available(),
                                 "loss": result["loss"].tolist()}))
    """
)


def test_meta_test_episodes_sharded_over_two_devices_equal_one_device(tmp_path):
    losses = {}
    for devices in (1, 2):
        env = dict(os.environ, JAX_PLATFORMS="cpu",
                   XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run([sys.executable, "-c", META_TEST, str(tmp_path / "d.npz")],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
        result = json.loads(line[len("RESULT"):])
        assert result["devices"] == devices and result["fused"]
        losses[devices] = np.asarray(result["loss"])
    assert losses[1].shape == (5, 15) and np.ptp(losses[1]) > 0
    np.testing.assert_allclose(losses[1], losses[2], atol=1e-6, rtol=0)
