"""Checkpoints without pickle: pytrees as ``.npz`` (flat key paths) plus JSON provenance.

Every write is atomic: the file is written to a temporary name in the same directory,
flushed to disk and moved over the old one with ``os.replace``, so a kill at any moment
leaves either the old or the new file, never a torn one.

A pytree is stored leaf by leaf under its key path joined with "/" (e.g.
``opt_state/1/0/mu/lstm/w``); restoring needs a template of the same structure (built from
the config, e.g. ``jax.eval_shape`` of the initialiser) and checks names, shapes and dtypes.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vsml.errors import UserError
from vsml.io import atomic_write  # noqa: F401  (re-exported)
from vsml.learner import PyTree
from vsml.lock import lock_status

# --------------------------------------------------------------------------- atomic files


def fsync_file(f: Any) -> None:
    """Flush an open file to disk (so rows logged before a checkpoint outlive a crash)."""
    f.flush()
    with contextlib.suppress(OSError, ValueError):
        os.fsync(f.fileno())


def save_npz(path: str | os.PathLike, arrays: dict[str, Any]) -> None:
    """Write named arrays (no objects) to ``path`` atomically."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for name, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"refusing to store object array {name!r} (no pickle)")
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read all arrays of an ``.npz`` (never unpickles)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path} as .npz: {err}") from None


def save_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def load_json(path: str | os.PathLike) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON: {err}") from None


# --------------------------------------------------------------------------- pytrees


def _key_name(entry: Any) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def flatten(tree: PyTree, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"prefix/a/b": leaf}`` for every leaf of ``tree`` (typed PRNG keys as key data)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = "/".join([prefix] * bool(prefix) + [_key_name(p) for p in path])
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        if name in out:
            raise ValueError(f"two leaves flatten to the same name {name!r}")
        out[name] = np.asarray(jax.device_get(leaf))
    return out


def unflatten(template: PyTree, arrays: dict[str, np.ndarray], prefix: str = "",
              where: str = "checkpoint") -> PyTree:
    """Rebuild ``template``'s structure from ``arrays`` written by ``flatten``."""
    names = list(flatten_names(template, prefix))
    leaves = jax.tree_util.tree_leaves(template)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise UserError(
            f"{where} does not match this configuration: missing {missing[:3]}"
            f"{' ...' if len(missing) > 3 else ''} (was it written for another method/model?)"
        )
    out = []
    for name, leaf in zip(names, leaves, strict=True):
        value = arrays[name]
        if tuple(value.shape) != tuple(leaf.shape) or value.dtype != np.dtype(leaf.dtype):
            raise UserError(
                f"{where}: {name!r} has shape {value.shape} {value.dtype}, this configuration "
                f"needs {tuple(leaf.shape)} {np.dtype(leaf.dtype)}"
            )
        out.append(jnp.asarray(value))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), out)


def flatten_names(tree: PyTree, prefix: str = "") -> list[str]:
    return [
        "/".join([prefix] * bool(prefix) + [_key_name(p) for p in path])
        for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]
    ]


# --------------------------------------------------------------------------- provenance


def git_commit(cwd: str | os.PathLike | None = None) -> str:
    """The current commit (with "-dirty" for uncommitted changes), or "unknown"."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], check=False, cwd=cwd, capture_output=True, text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            check=False, cwd=cwd, capture_output=True, text=True, timeout=10,
        )
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of the interpreter and the numerical stack, and the devices used."""
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("jax", "jaxlib", "optax", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "missing"
    out["lock"] = lock_status()  # requirements.lock and whether it is what runs (vsml.lock)
    out["backend"] = jax.default_backend()
    out["devices"] = str(jax.device_count())
    return out


def provenance() -> dict[str, Any]:
    return {"git_commit": git_commit(), "versions": versions()}


# --------------------------------------------------------------------------- training state

CHECKPOINT = "checkpoint.npz"
META_PARAMS = "meta_params.npz"


def save_checkpoint(
    directory: str | os.PathLike,
    state: PyTree,
    key: jax.Array,
    *,
    wall_time: float,
    config_hash: str,
) -> Path:
    """Write the whole training state (a pytree with a ``step`` leaf) to DIR/checkpoint.npz.

    The file is self-contained: step, PRNG key data, elapsed wall time and the config hash
    sit next to the flattened state, so a stale JSON next to it can never mislead a resume.
    """
    arrays = flatten(state)
    if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    arrays["__key__"] = np.asarray(key)
    arrays["__wall_time__"] = np.asarray(wall_time, np.float64)
    arrays["__config_hash__"] = np.asarray(config_hash)
    path = Path(directory) / CHECKPOINT
    save_npz(path, arrays)
    return path


def load_checkpoint(directory: str | os.PathLike, template: PyTree) -> tuple[PyTree, dict]:
    """Restore a state saved by ``save_checkpoint`` into ``template``'s structure.

    Returns (state, info) with info = {"key", "wall_time", "config_hash", "step"}.
    """
    path = Path(directory) / CHECKPOINT
    arrays = load_npz(path)
    state = unflatten(template, arrays, where=str(path))
    info = {
        "key": jnp.asarray(arrays["__key__"]),
        "wall_time": float(arrays["__wall_time__"]),
        "config_hash": str(arrays["__config_hash__"]),
        "step": int(arrays["step"]),
    }
    return state, info


def save_meta_params(path: str | os.PathLike, meta_params: PyTree) -> None:
    save_npz(path, flatten(meta_params, "meta_params"))


def load_meta_params(path: str | os.PathLike, template: PyTree) -> PyTree:
    """Meta-parameters from a ``meta_params.npz`` or a training ``checkpoint.npz``."""
    return unflatten(template, load_npz(path), "meta_params", where=str(path))
