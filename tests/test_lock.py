"""requirements.lock: what it pins, and how provenance names it (vsml/lock.py)."""

import json
import re
import tomllib
from pathlib import Path

from vsml import lock

ROOT = Path(__file__).resolve().parent.parent


def _requirement_names(requirements):
    return {lock._normal(re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]) for r in requirements}


def test_the_lock_pins_every_dependency_with_hashes():
    text = lock.LOCK_FILE.read_text()
    pins = lock.locked_versions(text)
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"],
              *project["optional-dependencies"]["cluster"]]
    assert _requirement_names(wanted) <= set(pins)
    # every pin carries at least one sha256 hash (pip install --require-hashes)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(blocks) == len(pins)
    assert all("--hash=sha256:" in b for b in blocks)


def test_the_lock_is_the_environment_behind_the_published_checkpoints():
    pins = lock.locked_versions(lock.LOCK_FILE.read_text())
    for run in sorted((ROOT / "published").glob("*/checkpoints/*/run.json")):
        versions = json.loads(run.read_text())["versions"]
        for pkg in ("jax", "jaxlib", "numpy", "optax"):
            assert pins[pkg] == versions[pkg], (run, pkg)


def test_lock_status_names_the_lock_and_what_differs(tmp_path, monkeypatch):
    path = tmp_path / "requirements.lock"
    path.write_text("numpy==0.0.1 \\\n    --hash=sha256:00\nPyYAML==999 \\\n    --hash=sha256:11\n")
    assert lock.locked_versions(path.read_text()) == {"numpy": "0.0.1", "pyyaml": "999"}
    status = lock.lock_status(path)
    assert re.fullmatch(r"[0-9a-f]{12}-differs\(numpy=[^,]+,pyyaml=[^)]+\)", status), status
    assert lock.lock_status(tmp_path / "absent.lock") == "none"
    monkeypatch.setattr(lock.md, "version", lambda name: {"numpy": "0.0.1"}.get(name, "999"))
    assert lock.differences({"numpy": "0.0.1", "pyyaml": "999"}) == []
    assert lock.differences({"numpy": "2"}) == ["numpy=0.0.1"]
