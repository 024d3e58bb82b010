"""Cloned parameters as files (npz without pickle + JSON metadata) and run provenance."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from vsml.errors import UserError
from vsml.io import write_bytes_atomic, write_text_atomic
from vsml.learner import PyTree

if TYPE_CHECKING:

    pass

from vsml.cloning.rule import CloneConfig

# ------------------------------------------------------------------ files: npz + JSON


def save_params(path: str | os.PathLike, params: PyTree, meta: dict) -> Path:
    """Meta-parameters as ``path`` (npz, keys like "lstm/w") plus ``path``.json (metadata)."""
    import io

    flat = {"/".join(str(getattr(k, "key", k)) for k in kp): np.asarray(v)
            for kp, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    buf = io.BytesIO()
    np.savez(buf, **flat)
    path = Path(path)
    write_bytes_atomic(path, buf.getvalue())
    write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=1, default=str) + "\n")
    return path


def load_params(path: str | os.PathLike) -> tuple[PyTree, dict]:
    """Inverse of ``save_params``: (params, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no cloned parameters at {path} (run vsml clone-forward or "
                        "clone-backprop first, or give the right --params)")
    try:
        with np.load(path, allow_pickle=False) as z:
            flat = {k: jnp.asarray(z[k]) for k in z.files}
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable npz of cloned parameters ({err})") from err
    params: dict = {}
    for key, value in flat.items():
        node = params
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return params, meta


def config_from_meta(meta: dict) -> CloneConfig:
    fields = {f.name for f in dataclasses.fields(CloneConfig)}
    saved = meta.get("clone_config", {})
    # files written before ``retain_wb_only`` existed were cloned carrying the whole state
    saved = {"retain_wb_only": False, **saved}
    return CloneConfig(**{k: v for k, v in saved.items() if k in fields})


def provenance(scale: str) -> dict:
    from vsml.meta.checkpoint import git_commit
    from vsml.repro.aggregate import versions

    return {"scale": scale, "git_commit": git_commit(), "versions": versions()}


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    import pandas as pd

    return write_text_atomic(path, pd.DataFrame(rows).to_csv(index=False))
