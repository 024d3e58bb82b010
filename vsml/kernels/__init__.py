"""Compiled CPU kernels for VSML, called from JAX as XLA FFI custom calls.

The C++ source ships with the package and is compiled at first use with the machine's own
compiler and ``-march=native`` (so a binary is never shipped and every machine gets its own
instruction set), into a user cache directory keyed by a hash of the source, the JAX
version, the compiler and the CPU's flags.  Concurrent first uses (pipeline jobs) are safe:
the library is written to a temporary file and renamed into place.

Where the kernel cannot be built or loaded (no compiler, an unsupported platform, or
``VSML_FUSED=0``), ``dense_ticks_available()`` is False after one warning line, and callers
use the pure-JAX path.

Environment: ``VSML_FUSED=0`` disables the kernel; ``VSML_KERNEL_CACHE`` sets the cache
directory (default ``$XDG_CACHE_HOME/vsml/kernels`` or ``~/.cache/vsml/kernels``);
``CXX`` names the compiler (default ``g++``, else ``c++``); ``VSML_KERNEL_MARCH`` replaces
``native`` in ``-march=``; ``VSML_KERNEL_THREADS`` caps the cores of one call (see
``max_threads``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

SOURCE = Path(__file__).with_name("dense_ticks.cc")
TARGET = "vsml_dense_ticks"
CONV_TARGET = "vsml_conv_ticks"
MAX_STATE_SIZE = 64  # larger N: the JAX path (the kernel keeps 4N gates on the stack)
CXXFLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-w")


def _march() -> str:
    # VSML_KERNEL_MARCH: another target (tests build the AVX2 and SSE code paths this way)
    return "-march=" + (os.environ.get("VSML_KERNEL_MARCH") or "native")


class KernelUnavailable(RuntimeError):
    """The fused kernel could not be built or loaded on this machine."""


def _compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise KernelUnavailable("no C++ compiler found (set CXX)")


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _cache_dir() -> Path:
    if os.environ.get("VSML_KERNEL_CACHE"):
        return Path(os.environ["VSML_KERNEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vsml" / "kernels"


def build(source: Path = SOURCE) -> Path:
    """Compile ``source`` for this machine (once; cached) and return the library's path."""
    if platform.system() != "Linux" and platform.system() != "Darwin":
        raise KernelUnavailable(f"unsupported platform {platform.system()}")
    cxx = _compiler()
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                                 timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise KernelUnavailable(f"compiler {cxx} does not run: {err}") from err
    key = hashlib.sha256("\0".join([
        source.read_text(), jax.__version__, cxx, version, " ".join(CXXFLAGS), _march(),
        _cpu_flags(),
    ]).encode()).hexdigest()[:20]
    cache = _cache_dir()
    library = cache / f"{source.stem}-{key}.so"
    if library.exists():
        return library
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".so.tmp")
    os.close(fd)
    command = [cxx, *CXXFLAGS, _march(), f"-I{jax.ffi.include_dir()}", str(source), "-o", tmp]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise KernelUnavailable(f"compiling {source.name} failed: "
                                    f"{proc.stderr.strip().splitlines()[-1:]}")
        os.replace(tmp, library)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return library


@functools.cache
def _load() -> str | None:
    """Build, load and register the kernel; the reason it is unavailable, or None."""
    if os.environ.get("VSML_FUSED", "1").strip().lower() in ("0", "false", "no", "off"):
        return "disabled by VSML_FUSED=0"
    try:
        lib = ctypes.cdll.LoadLibrary(str(build()))
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.VsmlDenseTicks),
                                    platform="cpu")
        jax.ffi.register_ffi_target(CONV_TARGET, jax.ffi.pycapsule(lib.VsmlConvTicks),
                                    platform="cpu")
    except (KernelUnavailable, OSError, AttributeError, ValueError) as err:
        return str(err)
    return None


@functools.cache
def _warn(reason: str) -> None:
    print(f"vsml: warning: fused VSML kernel unavailable ({reason}); using the pure-JAX fast "
          "path (same numbers, slower)", file=sys.stderr)


def dense_ticks_available() -> bool:
    """True if the fused dense-tick kernel runs here (the CPU backend, built and loaded)."""
    if jax.default_backend() != "cpu":
        return False
    reason = _load()
    if reason is not None:
        _warn(reason)
    return reason is None


def max_threads() -> int:
    """Cores one kernel call may use (0: all of XLA's intra-op pool).

    ``VSML_KERNEL_THREADS`` if set; else ``VSML_THREADS`` (vsml.cpu) shared among the CPU
    devices: with one device per core every device's calls stay on its own core (no
    oversubscription when all devices run at once), with one device they use all cores.
    """
    for name in ("VSML_KERNEL_THREADS", "VSML_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            threads = int(value)
            if name == "VSML_THREADS":
                threads = max(1, threads // jax.local_device_count("cpu"))
            return threads
    return 0


def dense_ticks(h: jax.Array, c: jax.Array, row: jax.Array, col: jax.Array, w_h: jax.Array,
                micro_ticks: int) -> tuple[jax.Array, jax.Array]:
    """``micro_ticks`` LSTM ticks of every synapse of a dense layer (not differentiable).

    h, c: [..., A, B, N]; row: [..., A, 4N] (forward-message projection plus bias);
    col: [..., B, 4N]; w_h: [..., N, 4N].  Gates in the order i, g, f, o with the forget
    gate +5 and the input gate -5.  Returns the new (h, c).
    """
    if not dense_ticks_available():
        raise KernelUnavailable(_load() or "not on the CPU backend")
    out = jax.ShapeDtypeStruct(h.shape, np.float32)
    # h, c are updated in place where XLA can donate them (every synapse is read first)
    call = jax.ffi.ffi_call(TARGET, (out, out), vmap_method="broadcast_all",
                            input_output_aliases={0: 0, 1: 1})
    h, c = call(h, c, row, col, w_h, micro_ticks=np.int64(micro_ticks),
                max_threads=np.int64(max_threads()))
    return h, c


def conv_ticks_supports(state_size: int) -> bool:
    """The conv kernel's state sizes: multiples of 16 up to 64 (whole vectors on any CPU)."""
    return state_size % 16 == 0 and 0 < state_size <= MAX_STATE_SIZE


def conv_ticks(h: jax.Array, c: jax.Array, into: jax.Array, out: jax.Array, w_h: jax.Array,
               micro_ticks: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``micro_ticks`` ticks of every synapse of a conv layer at every position (not
    differentiable).

    h, c: [..., R, O, N] (synapse r = (u, v, c_in), o = c_out); into: [..., P, R, 4N] (the
    patches' forward-message projections); out: [..., P, O, 4N] (backward-message
    projections plus bias); w_h: [..., N, 4N].  Each micro tick runs the LSTM update of every
    synapse at every position P from the same state and averages over positions.  Returns
    the new (h, c) and the last micro tick's per-position h [..., P, R, O, N].
    """
    if not dense_ticks_available():
        raise KernelUnavailable(_load() or "not on the CPU backend")
    if not conv_ticks_supports(h.shape[-1]):
        raise ValueError(f"conv kernel: state size {h.shape[-1]} is not a multiple of 16 <= 64")
    out_state = jax.ShapeDtypeStruct(h.shape, np.float32)
    positions = into.shape[-3]
    out_pos = jax.ShapeDtypeStruct(h.shape[:-3] + (positions,) + h.shape[-3:], np.float32)
    call = jax.ffi.ffi_call(CONV_TARGET, (out_state, out_state, out_pos),
                            vmap_method="broadcast_all")
    return call(h, c, into, out, w_h, micro_ticks=np.int64(micro_ticks),
                max_threads=np.int64(max_threads()))
