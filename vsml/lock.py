"""Which locked environment a result came from: ``requirements.lock`` in provenance.

``requirements.lock`` (repository root) pins every package with its hashes; ``make setup``
installs exactly it.  An ES trajectory diverges from any rounding change, so a result's
provenance names the lock (the first 12 hex digits of its sha256) and whether the running
environment has every locked version, e.g. ``3f2a9c1b7d0e`` or
``3f2a9c1b7d0e-differs(jax=0.10.3)``; ``none`` outside a checkout (no lock file).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import re
from pathlib import Path

LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def locked_versions(text: str) -> dict[str, str]:
    """``{package: version}`` of a pip requirements lock (``name==version`` lines)."""
    return {_normal(name): version for name, version in _PIN.findall(text)}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def differences(locked: dict[str, str]) -> list[str]:
    """``name=installed`` for every locked package installed at another version (or not)."""
    out = []
    for name, version in sorted(locked.items()):
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            have = "missing"
        if have != version:
            out.append(f"{name}={have}")
    return out


@functools.cache
def lock_status(path: Path = LOCK_FILE) -> str:
    """The provenance word for the lock: its short hash, ``-differs(...)`` when the running
    environment is not the locked one, ``none`` without a lock file."""
    try:
        text = path.read_text()
    except OSError:
        return "none"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    diff = differences(locked_versions(text))
    return digest + (f"-differs({','.join(diff)})" if diff else "")
