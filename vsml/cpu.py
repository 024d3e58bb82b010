"""All CPU cores busy by default: one XLA host device per core, set before JAX starts.

XLA's CPU backend threads each op over the cores, which for VSML's many small per-example
ops costs more than it gives; one device per core with the population (ES pairs, meta-test
episodes, gradient batches) sharded over the devices keeps every core on its own members
(docs/performance.md).  The fused kernel (vsml.kernels) may additionally spread one call's
rows over idle cores, at most ``threads`` of them.

``threads`` (how many cores this process may use): ``--threads`` of the command, else
``VSML_THREADS``, else ``OMP_NUM_THREADS`` (Snakemake exports it as a job's ``threads:``, so
the pipeline's rules need nothing else), else the cores this process may run on.  CPU
devices: ``VSML_CPU_DEVICES`` if set, else ``threads``; an
``--xla_force_host_platform_device_count`` already in ``XLA_FLAGS`` wins over both.

Results do not depend on the number of devices beyond float rounding of the final sums
(members are drawn with ``fold_in(key, index)``); a resumed meta-training run is
bit-identical for the same device count (vsml meta-train warns when it changes).
"""

from __future__ import annotations

import os
import sys

from vsml.errors import UserError

DEVICE_FLAG = "--xla_force_host_platform_device_count"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _positive(name: str, value: str | int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise UserError(f"{name} must be a positive integer, got {value!r}")
    return number


def configure(threads: int | None = None, environ=os.environ) -> tuple[int, int]:
    """Set ``XLA_FLAGS`` / ``VSML_THREADS`` for this process; returns (threads, devices).

    Must run before JAX initialises its backends (it has no effect afterwards).
    """
    for name in ("VSML_THREADS", "OMP_NUM_THREADS"):
        if threads is None and environ.get(name, "").strip():
            threads = _positive(name, environ[name])
    if threads is None:
        threads = available_cores()
    threads = _positive("--threads", threads)
    flags = environ.get("XLA_FLAGS", "")
    given = [f for f in flags.split() if f.startswith(DEVICE_FLAG + "=")]
    if given:
        devices = _positive(DEVICE_FLAG, given[-1].partition("=")[2])
    else:
        devices = _positive("VSML_CPU_DEVICES", environ.get("VSML_CPU_DEVICES", threads))
        environ["XLA_FLAGS"] = f"{flags} {DEVICE_FLAG}={devices}".strip()
    environ["VSML_THREADS"] = str(threads)
    return threads, devices


def jax_started() -> bool:
    """True if JAX's backends may already be initialised (then ``configure`` is too late)."""
    jax = sys.modules.get("jax")
    if jax is None:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):
        return True
