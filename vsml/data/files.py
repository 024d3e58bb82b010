"""Dataset files, independent of any one dataset: where they are looked for
(``$VSML_DATA_DIR/<name>/``, then ``resources/data/<name>/``), size + sha256 verification and
atomic downloads with a progress bar."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from vsml.errors import UserError
from vsml.io import temp_file_beside

DATA_DIR_ENV = "VSML_DATA_DIR"
DEFAULT_ROOT = Path("resources/data")
CHUNK = 1 << 20


# ------------------------------------------------------------------ canonical files


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """One canonical file: its name, where to get it, and its size + sha256."""

    name: str
    url: str
    sha256: str
    size: int


class FileSet(Protocol):
    """What file handling needs of a dataset (``datasets.DatasetInfo`` is one)."""

    name: str  # folder name under each data root
    dirs: tuple[str, ...]  # extra folder names searched
    files: tuple[FileInfo, ...]  # the canonical file set
    alt_files: tuple[FileInfo, ...]  # an alternative complete set, used when all present


def file_set(base_url: str, entries: Sequence[tuple[str, int, str]]) -> tuple[FileInfo, ...]:
    return tuple(FileInfo(name, base_url + name, sha, size) for name, size, sha in entries)


# --------------------------------------------------------------------------- files


hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, mtime, size) so repeated loads are cheap."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                digest.update(block)
        hash_cache[key] = digest.hexdigest()
    return hash_cache[key]


def verify_file(path: Path, f: FileInfo) -> None:
    actual_size = path.stat().st_size
    actual = file_sha256(path)
    if actual != f.sha256 or actual_size != f.size:
        state = "truncated" if actual_size < f.size else "corrupt"
        raise UserError(
            f"{path} is {state}: sha256 {actual} ({actual_size} bytes), expected sha256 "
            f"{f.sha256} ({f.size} bytes). Delete the file and rerun to re-download it, "
            f"or fetch it by hand from {f.url}"
        )


def _roots(data_dir: str | os.PathLike | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get(DATA_DIR_ENV)
    return ([Path(env)] if env else []) + [DEFAULT_ROOT]


def candidate_dirs(info: FileSet, data_dir: str | os.PathLike | None) -> list[Path]:
    # Each root: <root>/<name>/, its aliases, then (for an explicit data_dir) the root itself.
    out = []
    for root in _roots(data_dir):
        out += [root / info.name] + [root / alias for alias in info.dirs]
        if data_dir is not None:
            out.append(root)
    return out


def download_dir(info: FileSet, data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir) / info.name
    env = os.environ.get(DATA_DIR_ENV)
    return (Path(env) if env else DEFAULT_ROOT) / info.name


def _locate(f: FileInfo, dirs: Sequence[Path]) -> Path | None:
    for d in dirs:
        if (d / f.name).is_file():
            return d / f.name
    return None


def find_files(
    info: FileSet, data_dir: str | os.PathLike | None
) -> tuple[tuple[FileInfo, ...], dict[str, Path]]:
    """The file set to use (alternative set only if complete) and the files found of it."""
    dirs = candidate_dirs(info, data_dir)
    if info.alt_files:
        alt = {f.name: _locate(f, dirs) for f in info.alt_files}
        if all(alt.values()):
            return info.alt_files, alt  # type: ignore[return-value]
    found = {f.name: p for f in info.files if (p := _locate(f, dirs)) is not None}
    return info.files, found


# Network hook: tests replace this (no network in tests).
_urlopen: Callable = urllib.request.urlopen


def download(url: str, dest: str | os.PathLike, sha256: str, size: int) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying size and sha256.

    Streams into a temporary file in the destination folder with a progress bar, checks it,
    then ``os.replace``s it into place; on any failure the temporary file is removed, so no
    partial file is ever left at ``dest``.
    """
    from tqdm import tqdm

    dest = Path(dest)
    tmp_name = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = temp_file_beside(dest, suffix=".part")
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=60) as response, tqdm(
            total=size, unit="B", unit_scale=True, desc=dest.name, disable=None
        ) as bar:
            while block := response.read(CHUNK):
                out.write(block)
                digest.update(block)
                written += len(block)
                bar.update(len(block))
        if written != size or digest.hexdigest() != sha256:
            raise UserError(
                f"download of {url} gave {written} bytes with sha256 {digest.hexdigest()}, "
                f"expected {size} bytes with sha256 {sha256}; nothing was written to {dest}. "
                f"Rerun to retry, or fetch the file by hand and put it at {dest}"
            )
        os.replace(tmp_name, dest)
        tmp_name = None
    except (urllib.error.URLError, OSError, EOFError) as err:
        raise UserError(
            f"could not download {url} ({err}). Without network access, fetch that file by hand "
            f"and put it at {dest} (or in ${DATA_DIR_ENV}/{dest.parent.name}/)"
        ) from err
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return dest
