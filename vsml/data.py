"""Datasets: files, checksums, decoding, host-side preprocessing and jittable episodes.

Three layers, each usable on its own:

1. **Files.** ``DATASETS`` names every dataset with its canonical files (name, URL, size,
   sha256).  ``ensure_files`` finds them (``$VSML_DATA_DIR/<name>/``, then
   ``resources/data/<name>/`` relative to the working directory), verifies size + sha256
   and otherwise downloads them atomically.  ``load_split`` decodes one split into uint8
   images ``[N, H, W, C]`` and int32 labels (cached in memory, and for the slow formats also
   as an ``.npz`` next to the files when that folder is writable).
2. **Preprocessing (host side, once).** ``prepare(TaskSpec)`` resizes (bilinear, no
   antialiasing, like ``tf.image.resize``'s default that the authors used) and standardizes
   with the dataset's fixed mean/std, giving flat float32 inputs ``[N, D]``.
3. **Episodes (pure JAX, jittable, deterministic in the key).** ``sample_episode`` draws an
   online stream, optionally restricted to a random class subset (relabelled 0..k-1 in the
   order drawn), with per-episode pixel shuffling and/or a per-episode Glorot-uniform random
   projection, then zero padding, then the requested layout.  ``random`` and ``sum_sign`` are
   generated inside the sampler.  ``sample_fewshot_episode`` builds Omniglot's N-way K-shot
   episodes.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import os
import struct
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vsml.episode import Episode
from vsml.errors import UserError, check_choice
from vsml.io import temp_file_beside

__all__ = [
    "DATASETS",
    "SPLITS",
    "DatasetInfo",
    "Episode",
    "FileInfo",
    "RawSplit",
    "TaskData",
    "TaskSpec",
    "available",
    "clear_caches",
    "download",
    "ensure_files",
    "input_shape",
    "load_split",
    "num_classes",
    "parse_idx",
    "prepare",
    "prepare_arrays",
    "projection_matrix",
    "sample_episode",
    "sample_episodes",
    "sample_fewshot_episode",
]

SPLITS = ("train", "test")
LAYOUTS = ("flat", "image")
DATA_DIR_ENV = "VSML_DATA_DIR"
DEFAULT_ROOT = Path("resources/data")
# Bump when decoding changes, so stale .npz caches are ignored.
DECODE_VERSION = 1
# ITU-R 601 luma weights exactly as tf.image.rgb_to_grayscale has them.
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)
RANDOM_POINTS = 20
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """One canonical file: its name, where to get it, and its size + sha256."""

    name: str
    url: str
    sha256: str
    size: int


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """A dataset: decoded image shape (H, W, C), label count, standardization, files.

    ``num_classes`` bounds the labels of every split; ``split_classes`` gives per-split
    counts where they differ (Omniglot: characters of that split's alphabets).
    ``alt_files`` is an alternative complete file set accepted when present (EMNIST's
    extracted gz files instead of the official zip).  ``dirs`` are extra folder names
    searched under each data root.  ``npz_cache`` marks formats slow enough to decode
    that an ``.npz`` copy of the decoded arrays is kept next to the files.
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: float
    std: float
    files: tuple[FileInfo, ...] = ()
    generated: bool = False
    alt_files: tuple[FileInfo, ...] = ()
    split_classes: tuple[tuple[str, int], ...] = ()
    dirs: tuple[str, ...] = ()
    npz_cache: bool = False

    def classes(self, split: str) -> int:
        """Number of label values in ``split``."""
        return dict(self.split_classes).get(split, self.num_classes)


def _files(base_url: str, entries: Sequence[tuple[str, int, str]]) -> tuple[FileInfo, ...]:
    return tuple(FileInfo(name, base_url + name, sha, size) for name, size, sha in entries)


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KMNIST_URL = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
_EMNIST_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
_OMNIGLOT_URL = "https://github.com/brendenlake/omniglot/raw/master/python/"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"

# Sizes and sha256 from shared/data/MANIFEST.md (tfds url_checksums; EMNIST's extracted
# files from a third-party LFS listing, as recorded there).
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", (28, 28, 1), 10, 0.1307, 0.3081,
        _files(_MNIST_URL, [
            ("train-images-idx3-ubyte.gz", 9912422,
             "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
            ("train-labels-idx1-ubyte.gz", 28881,
             "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
            ("t10k-images-idx3-ubyte.gz", 1648877,
             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
            ("t10k-labels-idx1-ubyte.gz", 4542,
             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        ]),
    ),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist", (28, 28, 1), 10, 0.1307, 0.3081,
        _files(_FASHION_URL, [
            ("train-images-idx3-ubyte.gz", 26421880,
             "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
            ("train-labels-idx1-ubyte.gz", 29515,
             "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
            ("t10k-images-idx3-ubyte.gz", 4422102,
             "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
            ("t10k-labels-idx1-ubyte.gz", 5148,
             "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
        ]),
    ),
    "kmnist": DatasetInfo(
        "kmnist", (28, 28, 1), 10, 0.1918, 0.3483,
        _files(_KMNIST_URL, [
            ("train-images-idx3-ubyte.gz", 18165135,
             "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
            ("train-labels-idx1-ubyte.gz", 29497,
             "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
            ("t10k-images-idx3-ubyte.gz", 3041136,
             "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
            ("t10k-labels-idx1-ubyte.gz", 5120,
             "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
        ]),
    ),
    "emnist": DatasetInfo(
        "emnist", (28, 28, 1), 62, 0.1739, 0.3319,
        (FileInfo("gzip.zip", _EMNIST_URL,
                  "fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e",
                  561753746),),
        alt_files=tuple(
            FileInfo(name, _EMNIST_URL, sha, size) for name, size, sha in [
                ("emnist-byclass-train-images-idx3-ubyte.gz", 173367313,
                 "9e21987f03a6eb8b870187e785883ddad96947299587908f1a7ec2ca0f4be5f0"),
                ("emnist-byclass-train-labels-idx1-ubyte.gz", 491603,
                 "f7ef403d48dc18a89dae0d83d11ee69cecb6e1c12c3a961d03712e495c02a8fa"),
                ("emnist-byclass-test-images-idx3-ubyte.gz", 28908322,
                 "5ec835bd5d5b1a66378a132e727fef20fe994b3cc666899befcca5ac766f50cd"),
                ("emnist-byclass-test-labels-idx1-ubyte.gz", 81839,
                 "501e305eeeacb093b162592d80e8a2632040872360fa6d85cfcb2200d91ca92a"),
            ]
        ),
        dirs=("emnist/gzip",),
        npz_cache=True,
    ),
    "omniglot": DatasetInfo(
        "omniglot", (28, 28, 1), 964, 0.9221, 0.2681,
        _files(_OMNIGLOT_URL, [
            ("images_background.zip", 9464212,
             "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640"),
            ("images_evaluation.zip", 6462886,
             "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee"),
        ]),
        split_classes=(("train", 964), ("test", 659)),
        npz_cache=True,
    ),
    # The official 5-alphabet "background small" subsets: small1 = train; small2 minus the
    # alphabets also in small1 (Greek, Latin) = test, so test alphabets stay unseen.
    "omniglot_small": DatasetInfo(
        "omniglot_small", (28, 28, 1), 136, 0.9221, 0.2681,
        _files(_OMNIGLOT_URL, [
            ("images_background_small1.zip", 1319022,
             "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4"),
            ("images_background_small2.zip", 1580917,
             "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f"),
        ]),
        split_classes=(("train", 136), ("test", 106)),
        dirs=("omniglot_partial", "omniglot"),
        npz_cache=True,
    ),
    "cifar10": DatasetInfo(
        "cifar10", (32, 32, 1), 10, 0.4734, 0.2516,
        _files(_CIFAR_URL, [
            ("cifar-10-binary.tar.gz", 170052171,
             "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        ]),
        npz_cache=True,
    ),
    "random": DatasetInfo("random", (28, 28, 1), 10, 0.0, 1.0, generated=True),
    "sum_sign": DatasetInfo("sum_sign", (28, 28, 1), 2, 0.0, 1.0, generated=True),
}


def _info(name: str) -> DatasetInfo:
    return DATASETS[check_choice("dataset", name, DATASETS)]


def _check_split(split: str) -> str:
    return check_choice("split", split, SPLITS)


# --------------------------------------------------------------------------- files


_hash_cache: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, mtime, size) so repeated loads are cheap."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(block)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def _verify(path: Path, f: FileInfo) -> None:
    actual_size = path.stat().st_size
    actual = _sha256(path)
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


def _candidate_dirs(info: DatasetInfo, data_dir: str | os.PathLike | None) -> list[Path]:
    # Each root: <root>/<name>/, its aliases, then (for an explicit data_dir) the root itself.
    out = []
    for root in _roots(data_dir):
        out += [root / info.name] + [root / alias for alias in info.dirs]
        if data_dir is not None:
            out.append(root)
    return out


def _download_dir(info: DatasetInfo, data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir) / info.name
    env = os.environ.get(DATA_DIR_ENV)
    return (Path(env) if env else DEFAULT_ROOT) / info.name


def _locate(f: FileInfo, dirs: Sequence[Path]) -> Path | None:
    for d in dirs:
        if (d / f.name).is_file():
            return d / f.name
    return None


def _find(
    info: DatasetInfo, data_dir: str | os.PathLike | None
) -> tuple[tuple[FileInfo, ...], dict[str, Path]]:
    """The file set to use (alternative set only if complete) and the files found of it."""
    dirs = _candidate_dirs(info, data_dir)
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
            while block := response.read(_CHUNK):
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


def _resolve(
    name: str, data_dir: str | os.PathLike | None, do_download: bool
) -> dict[str, Path]:
    """Verified paths of all files of ``name``, downloading missing ones if allowed."""
    info = _info(name)
    if info.generated:
        raise UserError(f"dataset {name!r} is generated on the fly and has no files")
    files, found = _find(info, data_dir)
    for f in files:
        if f.name in found:
            _verify(found[f.name], f)
    missing = [f for f in files if f.name not in found]
    if missing and not do_download:
        where = " or ".join(str(d) for d in _candidate_dirs(info, data_dir)[:2])
        raise UserError(
            f"dataset {name!r} is not available locally: missing "
            + ", ".join(f"{f.name} (from {f.url})" for f in missing)
            + f"; put the files in {where}"
        )
    target = _download_dir(info, data_dir)
    for f in missing:
        found[f.name] = download(f.url, target / f.name, f.sha256, f.size)
        _verify(found[f.name], f)
    return found


def ensure_files(
    name: str, download: bool = True, data_dir: str | os.PathLike | None = None
) -> Path:
    """Folder holding the verified files of dataset ``name`` (downloading missing ones)."""
    paths = _resolve(name, data_dir, download)
    return next(iter(paths.values())).parent


def available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``name`` can be loaded without downloading (files present with the right size).

    Generated datasets are always available.  Checksums are checked at load time.
    """
    info = _info(name)
    if info.generated:
        return True
    files, found = _find(info, data_dir)
    return all(f.name in found and found[f.name].stat().st_size == f.size for f in files)


# --------------------------------------------------------------------------- decoding


class RawSplit(NamedTuple):
    """A decoded split: images uint8 [N, H, W, C], labels int32 [N]."""

    images: np.ndarray
    labels: np.ndarray


def _gunzip(raw: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{source}: not a valid gzip file ({err}); delete it and rerun") from err


def parse_idx(raw: bytes, source: str = "<idx>", ndim: int | None = None) -> np.ndarray:
    """Parse an (uncompressed) IDX file of unsigned bytes, checking magic and shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise UserError(
            f"{source}: not an IDX uint8 file (magic {raw[:4].hex() or 'empty'}, expected "
            "00 00 08 0N); delete it and rerun to re-download"
        )
    rank = raw[3]
    if ndim is not None and rank != ndim:
        raise UserError(f"{source}: IDX file has {rank} dimensions, expected {ndim}")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise UserError(f"{source}: IDX header truncated")
    dims = struct.unpack(f">{rank}I", raw[4:header])
    if len(raw) - header != int(np.prod(dims)):
        raise UserError(
            f"{source}: IDX payload has {len(raw) - header} bytes, shape {dims} needs "
            f"{int(np.prod(dims))}; delete the file and rerun to re-download"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _idx_pair(images_gz: bytes, labels_gz: bytes, source: str) -> RawSplit:
    images = parse_idx(_gunzip(images_gz, source), source, ndim=3)
    labels = parse_idx(_gunzip(labels_gz, source), source, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise UserError(f"{source}: {images.shape[0]} images but {labels.shape[0]} labels")
    return RawSplit(images[..., None], labels.astype(np.int32))


_IDX_PREFIX = {"train": "train", "test": "t10k"}


def _decode_idx(info: DatasetInfo, split: str, paths: dict[str, Path]) -> RawSplit:
    p = _IDX_PREFIX[split]
    img, lab = paths[f"{p}-images-idx3-ubyte.gz"], paths[f"{p}-labels-idx1-ubyte.gz"]
    return _idx_pair(img.read_bytes(), lab.read_bytes(), f"{img} / {lab}")


def _decode_emnist(info: DatasetInfo, split: str, paths: dict[str, Path]) -> RawSplit:
    wanted = [f"emnist-byclass-{split}-{kind}" for kind in ("images-idx3-ubyte.gz",
                                                           "labels-idx1-ubyte.gz")]
    if "gzip.zip" in paths:
        source = str(paths["gzip.zip"])
        try:
            with zipfile.ZipFile(paths["gzip.zip"]) as zf:
                members = {Path(n).name: n for n in zf.namelist()}
                missing = [w for w in wanted if w not in members]
                if missing:
                    raise UserError(f"{source}: archive lacks {', '.join(missing)}")
                blobs = [zf.read(members[w]) for w in wanted]
        except zipfile.BadZipFile as err:
            raise UserError(f"{source}: not a valid zip ({err}); delete it and rerun") from err
    else:
        source = f"{paths[wanted[0]]} / {paths[wanted[1]]}"
        blobs = [paths[w].read_bytes() for w in wanted]
    raw = _idx_pair(blobs[0], blobs[1], source)
    # EMNIST stores images transposed (column-major); make them upright.
    return RawSplit(np.ascontiguousarray(raw.images.transpose(0, 2, 1, 3)), raw.labels)


def _resize_images(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of float images [N, H, W, C] without antialiasing.

    Half-pixel centres and no antialias filter, i.e. ``tf.image.resize``'s default
    (bilinear, antialias=False) that the authors' pipeline used.  Chunked to bound memory.
    """
    if images.shape[1:3] == (height, width):
        return images.astype(np.float32)
    out = []
    for start in range(0, images.shape[0], 2048):
        chunk = jnp.asarray(images[start:start + 2048], jnp.float32)
        shape = (chunk.shape[0], height, width, chunk.shape[3])
        out.append(np.asarray(jax.image.resize(chunk, shape, "linear", antialias=False)))
    return np.concatenate(out) if out else np.zeros((0, height, width, images.shape[3]),
                                                    np.float32)


def _omniglot_members(path: Path) -> list[tuple[str, str, bytes]]:
    """(alphabet, character, png bytes) of every drawing in an official Omniglot zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            out = []
            for name in sorted(zf.namelist()):
                parts = name.split("/")
                if name.endswith(".png") and len(parts) >= 4:
                    out.append((parts[-3], parts[-2], zf.read(name)))
    except zipfile.BadZipFile as err:
        raise UserError(f"{path}: not a valid zip ({err}); delete it and rerun") from err
    if not out:
        raise UserError(f"{path}: no <alphabet>/<character>/*.png drawings inside")
    return out


def _decode_omniglot(info: DatasetInfo, split: str, paths: dict[str, Path]) -> RawSplit:
    from PIL import Image

    names = [f.name for f in info.files]
    members = _omniglot_members(paths[names[0] if split == "train" else names[1]])
    if info.name == "omniglot_small" and split == "test":
        # Test alphabets must be unseen: drop small2's alphabets that small1 also has.
        seen = {alphabet for alphabet, _, _ in _omniglot_members(paths[names[0]])}
        members = [m for m in members if m[0] not in seen]
    classes = sorted({(a, c) for a, c, _ in members})
    index = {key: i for i, key in enumerate(classes)}
    pictures = []
    for alphabet, character, png in members:
        try:
            pictures.append(np.asarray(Image.open(io.BytesIO(png)).convert("L")))
        except OSError as err:
            raise UserError(f"{alphabet}/{character}: unreadable PNG ({err})") from err
    if len({p.shape for p in pictures}) != 1:
        raise UserError(f"{paths[names[0]]}: Omniglot drawings differ in size")
    images = _resize_images(np.stack(pictures)[..., None] / 255.0, *info.shape[:2])
    images = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    labels = np.array([index[(a, c)] for a, c, _ in members], np.int32)
    return RawSplit(images, labels)


_CIFAR_MEMBERS = {
    "train": [f"data_batch_{i}.bin" for i in range(1, 6)],
    "test": ["test_batch.bin"],
}
_CIFAR_RECORD = 1 + 3 * 32 * 32


def _decode_cifar(info: DatasetInfo, split: str, paths: dict[str, Path]) -> RawSplit:
    path = paths[info.files[0].name]
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in _CIFAR_MEMBERS[split] if n not in members]
            if missing:
                raise UserError(f"{path}: archive lacks {', '.join(missing)}")
            raw = b"".join(tar.extractfile(members[n]).read() for n in _CIFAR_MEMBERS[split])
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path}: not a valid tar.gz ({err}); delete it and rerun") from err
    if len(raw) % _CIFAR_RECORD:
        raise UserError(f"{path}: batch size {len(raw)} is not a multiple of {_CIFAR_RECORD}")
    records = np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD)
    rgb = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32)
    gray = rgb @ np.asarray(GRAY_WEIGHTS, np.float32)
    images = np.clip(np.round(gray), 0, 255).astype(np.uint8)[..., None]
    return RawSplit(images, records[:, 0].astype(np.int32))


_DECODERS: dict[str, Callable[[DatasetInfo, str, dict[str, Path]], RawSplit]] = {
    "mnist": _decode_idx,
    "fashion_mnist": _decode_idx,
    "kmnist": _decode_idx,
    "emnist": _decode_emnist,
    "omniglot": _decode_omniglot,
    "omniglot_small": _decode_omniglot,
    "cifar10": _decode_cifar,
}


def _npz_path(info: DatasetInfo, split: str, paths: dict[str, Path]) -> Path:
    tag = hashlib.sha256(
        repr((DECODE_VERSION, info.shape, sorted(_sha256(p) for p in paths.values()))).encode()
    ).hexdigest()[:12]
    return next(iter(paths.values())).parent / f"{info.name}-{split}.decoded-{tag}.npz"


def _read_npz(path: Path, info: DatasetInfo) -> RawSplit | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None  # unreadable cache: decode again
    if images.dtype != np.uint8 or images.shape[1:] != info.shape or labels.shape != (
        images.shape[0],
    ):
        return None
    return RawSplit(images, labels.astype(np.int32))


def _write_npz(path: Path, raw: RawSplit) -> None:
    """Best effort: skip silently when the folder is not writable."""
    tmp = None
    try:
        fd, tmp = temp_file_beside(path, suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, images=raw.images, labels=raw.labels)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, split: str, files: tuple[tuple[str, str, int, int], ...]) -> RawSplit:
    # ``files`` = (file name, path, mtime_ns, size): a changed file is a new cache key.
    info = DATASETS[name]
    paths = {fname: Path(p) for fname, p, _, _ in files}
    raw = None
    npz = _npz_path(info, split, paths) if info.npz_cache else None
    if npz is not None and npz.is_file():
        raw = _read_npz(npz, info)
    if raw is None:
        raw = _DECODERS[name](info, split, paths)
        if npz is not None:
            _write_npz(npz, raw)
    images = np.ascontiguousarray(raw.images, np.uint8)
    labels = np.ascontiguousarray(raw.labels, np.int32)
    if images.shape[1:] != info.shape:
        raise UserError(f"{name}/{split}: decoded images {images.shape[1:]}, expected {info.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= info.classes(split)):
        raise UserError(
            f"{name}/{split}: labels span {labels.min()}..{labels.max()}, expected "
            f"0..{info.classes(split) - 1}"
        )
    images.setflags(write=False)
    labels.setflags(write=False)
    return RawSplit(images, labels)


def load_split(name: str, split: str, data_dir: str | os.PathLike | None = None) -> RawSplit:
    """Decoded ``split`` ("train"/"test") of dataset ``name``, verified and cached.

    Missing files are downloaded (see ``ensure_files``).  The arrays are read-only and
    shared between calls.
    """
    info = _info(name)
    _check_split(split)
    if info.generated:
        raise UserError(f"dataset {name!r} is generated per episode; use prepare/sample_episode")
    return _load_cached(name, split, _files_key(name, data_dir))


def _files_key(name: str, data_dir: str | os.PathLike | None) -> tuple:
    """Verified files of ``name`` as a cache key: (file name, path, mtime_ns, size)."""
    key = []
    for fname, p in sorted(_resolve(name, data_dir, do_download=True).items()):
        st = p.stat()
        key.append((fname, str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(key)


def clear_caches() -> None:
    """Forget decoded, prepared and verified data held in memory."""
    _hash_cache.clear()
    _load_cached.cache_clear()
    _prepared.cache_clear()


# --------------------------------------------------------------------------- task specs


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What an episode looks like; frozen and hashable, so it can be a static jit argument.

    dataset: a key of ``DATASETS``; split: "train" or "test".
    image_size: resize to s x s (bilinear, no antialiasing); None = native size.
    random_projection: multiply the flat standardized input by a fresh D x D Glorot-uniform
        matrix per episode.  shuffle_pixels: a fresh permutation of the D inputs per episode.
    num_classes: a random subset of k classes per episode, relabelled 0..k-1 in draw order.
    pad_inputs_to: zero-pad the flat input to this size (applied last; flat layout only).
    pad_classes_to: the output width the learner should use; labels are unchanged.
    input_layout: "flat" -> x [T, D]; "image" -> x [T, H, W, C] (for conv layers).
    """

    dataset: str
    split: str = "train"
    image_size: int | None = None
    random_projection: bool = False
    shuffle_pixels: bool = False
    num_classes: int | None = None
    pad_inputs_to: int | None = None
    pad_classes_to: int | None = None
    input_layout: str = "flat"

    def __post_init__(self) -> None:
        info = _info(self.dataset)
        _check_split(self.split)
        check_choice("input_layout", self.input_layout, LAYOUTS)
        for field in ("random_projection", "shuffle_pixels"):
            if not isinstance(getattr(self, field), bool):
                raise UserError(f"TaskSpec.{field} must be True or False, got "
                                f"{getattr(self, field)!r}")
        if self.image_size is not None and not (
            _is_int(self.image_size) and 1 <= self.image_size <= 512
        ):
            raise UserError(f"TaskSpec.image_size must be None or an integer in 1..512, "
                            f"got {self.image_size!r}")
        classes = info.classes(self.split)
        if self.num_classes is not None and not (
            _is_int(self.num_classes) and 2 <= self.num_classes <= classes
        ):
            raise UserError(f"TaskSpec.num_classes must be None or an integer in 2..{classes} "
                            f"for {self.dataset}/{self.split}, got {self.num_classes!r}")
        width = self.num_classes or classes
        if self.pad_classes_to is not None and not (
            _is_int(self.pad_classes_to) and self.pad_classes_to >= width
        ):
            raise UserError(f"TaskSpec.pad_classes_to must be None or an integer >= {width}, "
                            f"got {self.pad_classes_to!r}")
        flat = int(np.prod(_image_shape(self)))
        if self.pad_inputs_to is not None:
            if self.input_layout != "flat":
                raise UserError("TaskSpec.pad_inputs_to needs input_layout='flat'")
            if not (_is_int(self.pad_inputs_to) and self.pad_inputs_to >= flat):
                raise UserError(f"TaskSpec.pad_inputs_to must be None or an integer >= {flat} "
                                f"(the input size of {self.dataset}), got "
                                f"{self.pad_inputs_to!r}")


def _image_shape(spec: TaskSpec) -> tuple[int, int, int]:
    h, w, c = DATASETS[spec.dataset].shape
    if spec.image_size is not None:
        h = w = spec.image_size
    return (h, w, c)


def input_shape(spec: TaskSpec) -> tuple[int, ...]:
    """Per-example input shape of episodes for ``spec`` ((D,) flat or (H, W, C))."""
    shape = _image_shape(spec)
    if spec.input_layout == "image":
        return shape
    return (spec.pad_inputs_to or int(np.prod(shape)),)


def num_classes(spec: TaskSpec) -> int:
    """Output width for ``spec``: pad_classes_to, else the class subset size, else all."""
    return spec.pad_classes_to or spec.num_classes or DATASETS[spec.dataset].classes(spec.split)


# --------------------------------------------------------------------------- prepared data


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["x", "y", "class_index", "class_count"],
    meta_fields=["num_classes", "input_shape", "image_shape", "source"],
)
@dataclasses.dataclass(frozen=True)
class TaskData:
    """Prepared split (a pytree; the non-array fields are static).

    x: float32 [N, D] resized + standardized flat inputs; y: int32 [N] original labels.
    num_classes: output width (``num_classes(spec)``); input_shape: episode input shape.
    image_shape: (H, W, C) of the resized images.  class_index: int32 [C, M] example
    indices of each class (padded with 0); class_count: int32 [C].  source: (dataset,
    split, image_size) the data was prepared for.
    """

    x: jax.Array
    y: jax.Array
    num_classes: int
    input_shape: tuple[int, ...]
    image_shape: tuple[int, int, int] = (0, 0, 0)
    class_index: jax.Array | None = None
    class_count: jax.Array | None = None
    source: tuple = ()


def _class_table(labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(labels, minlength=classes).astype(np.int32)
    table = np.zeros((classes, max(int(counts.max(initial=0)), 1)), np.int32)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for c in range(classes):
        table[c, : counts[c]] = order[starts[c] : starts[c] + counts[c]]
    return table, counts


def _standardized_flat(raw: RawSplit, info: DatasetInfo, shape: tuple[int, int, int]):
    images = _resize_images(raw.images.astype(np.float32) / 255.0, shape[0], shape[1])
    x = (images.reshape(images.shape[0], -1) - info.mean) / info.std
    return x.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _prepared(dataset: str, split: str, image_size: int | None, files: tuple):
    # Only these fields change the arrays, so specs differing elsewhere share them.
    spec = TaskSpec(dataset, split, image_size)
    info = DATASETS[dataset]
    raw = _load_cached(dataset, split, files)
    x = _standardized_flat(raw, info, _image_shape(spec))
    table, counts = _class_table(raw.labels, info.classes(split))
    return jnp.asarray(x), jnp.asarray(raw.labels), jnp.asarray(table), jnp.asarray(counts)


def _task_data(spec: TaskSpec, x, y, table, counts) -> TaskData:
    return TaskData(x, y, num_classes(spec), input_shape(spec), _image_shape(spec), table,
                    counts, (spec.dataset, spec.split, spec.image_size))


def prepare(spec: TaskSpec) -> TaskData:
    """Load, resize and standardize the split ``spec`` names (cached in memory).

    Generated datasets give an empty x of shape [0, D] (their episodes are drawn in
    ``sample_episode``).
    """
    info = DATASETS[spec.dataset]
    if info.generated:
        d = int(np.prod(_image_shape(spec)))
        empty = jnp.zeros((0,), jnp.int32)
        return _task_data(spec, jnp.zeros((0, d), jnp.float32), empty,
                          jnp.zeros((info.num_classes, 1), jnp.int32),
                          jnp.zeros((info.num_classes,), jnp.int32))
    files = _files_key(spec.dataset, None)
    return _task_data(spec, *_prepared(spec.dataset, spec.split, spec.image_size, files))


def prepare_arrays(raw: RawSplit, spec: TaskSpec) -> TaskData:
    """Like ``prepare`` but from given uint8 images of the dataset's native shape."""
    info = DATASETS[spec.dataset]
    images = np.asarray(raw.images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != info.shape:
        shape = ", ".join(map(str, info.shape))
        raise UserError(f"prepare_arrays: images must be uint8 [N, {shape}]"
                        f", got {images.dtype} {images.shape}")
    labels = np.asarray(raw.labels, np.int32)
    x = _standardized_flat(RawSplit(images, labels), info, _image_shape(spec))
    table, counts = _class_table(labels, info.classes(spec.split))
    return _task_data(spec, jnp.asarray(x), jnp.asarray(labels), jnp.asarray(table),
                      jnp.asarray(counts))


# --------------------------------------------------------------------------- episodes


def projection_matrix(key: jax.Array, d: int) -> jax.Array:
    """A D x D Glorot-uniform matrix, entries in [-sqrt(6/(2D)), sqrt(6/(2D))]."""
    limit = float(np.sqrt(6.0 / (2 * d)))
    return jax.random.uniform(key, (d, d), jnp.float32, -limit, limit)


def _check_data(data: TaskData, spec: TaskSpec, length: int) -> None:
    if not _is_int(length) or length < 1:
        raise UserError(f"episode length must be a positive integer, got {length!r}")
    want = (spec.dataset, spec.split, spec.image_size)
    if data.source != want:
        raise UserError(f"TaskData was prepared for {data.source}, but the spec asks for {want}; "
                        "call prepare(spec) with a matching spec")


def _postprocess(key: jax.Array, x: jax.Array, spec: TaskSpec, image_shape) -> jax.Array:
    """Per-episode pixel shuffle, random projection, padding (last), then layout."""
    k_perm, k_proj = jax.random.split(key)
    d = x.shape[-1]
    if spec.shuffle_pixels:
        x = x[:, jax.random.permutation(k_perm, d)]
    if spec.random_projection:
        x = x @ projection_matrix(k_proj, d)
    if spec.pad_inputs_to is not None:
        x = jnp.pad(x, ((0, 0), (0, spec.pad_inputs_to - d)))
    if spec.input_layout == "image":
        x = x.reshape((x.shape[0],) + tuple(image_shape))
    return x


def _relabel(key: jax.Array, counts: jax.Array, k: int) -> jax.Array:
    """Lookup table old label -> new label (0..k-1 in draw order, -1 if not drawn)."""
    present = (counts > 0).astype(jnp.float32)
    chosen = jax.random.choice(key, counts.shape[0], (k,), replace=False,
                               p=present / jnp.sum(present))
    return jnp.full(counts.shape, -1, jnp.int32).at[chosen].set(jnp.arange(k, dtype=jnp.int32))


def _stream(key: jax.Array, data: TaskData, length: int, spec: TaskSpec):
    """A random stream of the split, without replacement while examples last.

    Every allowed example gets a uniform score; the top-m (m = min(length, N)) give a
    uniformly random ordered subset.  If fewer examples are allowed than ``length`` (small
    class subsets), the stream cycles through that random order.
    """
    k_cls, k_ord = jax.random.split(key)
    n = data.x.shape[0]
    m = min(length, n)
    scores = jax.random.uniform(k_ord, (n,))
    y = data.y
    if spec.num_classes is not None:
        lut = _relabel(k_cls, data.class_count, spec.num_classes)
        y = lut[data.y]
        allowed = y >= 0
        scores = jnp.where(allowed, scores, -1.0)
        pool = jnp.minimum(jnp.sum(allowed), m)
    else:
        pool = jnp.asarray(m)
    _, order = jax.lax.top_k(scores, m)
    idx = order[jnp.arange(length) % jnp.maximum(pool, 1)]
    return data.x[idx], y[idx]


def _random_points(key: jax.Array, length: int, spec: TaskSpec, d: int):
    """20 fresh N(0, 1) points with uniform labels; each pass over them a fresh order."""
    k_x, k_y, k_order = jax.random.split(key, 3)
    points = jax.random.normal(k_x, (RANDOM_POINTS, d))
    labels = jax.random.randint(k_y, (RANDOM_POINTS,), 0,
                                spec.num_classes or DATASETS["random"].num_classes)
    passes = -(-length // RANDOM_POINTS)
    perms = jax.vmap(lambda k: jax.random.permutation(k, RANDOM_POINTS))(
        jax.random.split(k_order, passes))
    order = perms.reshape(-1)[:length]
    return points[order], labels[order].astype(jnp.int32)


def _sum_sign(key: jax.Array, length: int, spec: TaskSpec, d: int):
    """Inputs N(mu, 1) truncated to mu +- 2, mu ~ U(-1, 1) per input; label = [sum >= 0]."""
    k_mu, k_x, k_cls = jax.random.split(key, 3)
    mu = jax.random.uniform(k_mu, (length, 1), minval=-1.0, maxval=1.0)
    x = mu + jax.random.truncated_normal(k_x, -2.0, 2.0, (length, d))
    y = (jnp.sum(x, axis=1) >= 0).astype(jnp.int32)
    if spec.num_classes is not None:  # k = 2: a random relabelling of the two classes
        y = _relabel(k_cls, jnp.ones((2,), jnp.int32), 2)[y]
    return x, y


def _episode(key: jax.Array, data: TaskData, length: int, spec: TaskSpec) -> Episode:
    _check_data(data, spec, length)
    k_stream, k_post = jax.random.split(key)
    d = int(np.prod(data.image_shape))
    if spec.dataset == "random":
        x, y = _random_points(k_stream, length, spec, d)
    elif spec.dataset == "sum_sign":
        x, y = _sum_sign(k_stream, length, spec, d)
    else:
        x, y = _stream(k_stream, data, length, spec)
    return Episode(_postprocess(k_post, x, spec, data.image_shape), y.astype(jnp.int32))


@functools.partial(jax.jit, static_argnames=("length", "spec"))
def sample_episode(key: jax.Array, data: TaskData, length: int, spec: TaskSpec) -> Episode:
    """One episode of ``length`` examples for ``spec`` from ``data = prepare(spec)``.

    Deterministic in ``key``.  x: [length, *input_shape(spec)] float32, y: [length] int32.
    """
    return _episode(key, data, length, spec)


@functools.partial(jax.jit, static_argnames=("length", "spec", "num"))
def sample_episodes(
    key: jax.Array, data: TaskData, length: int, spec: TaskSpec, num: int
) -> Episode:
    """``num`` independent episodes stacked on a leading axis (vmapped)."""
    keys = jax.random.split(key, num)
    return jax.vmap(lambda k: _episode(k, data, length, spec))(keys)


@functools.partial(jax.jit, static_argnames=("ways", "shots", "spec"))
def sample_fewshot_episode(
    key: jax.Array, data: TaskData, ways: int = 5, shots: int = 1, spec: TaskSpec | None = None
) -> Episode:
    """An N-way K-shot episode of ways*shots + 1 steps (Omniglot's 5-way 1-shot: 6 steps).

    Draws ``ways`` classes (labels 0..ways-1 in draw order) and shots + 1 distinct examples
    of each; the ways*shots support examples come in random order, the last step is the
    held-out example of one random class (the query).  With ``spec``, its per-episode
    shuffle/projection/padding/layout apply; otherwise x is flat [T, D].
    """
    classes_total, per_class = data.class_index.shape
    if not (_is_int(ways) and 2 <= ways <= classes_total) or not (_is_int(shots) and shots >= 1):
        raise UserError(f"few-shot episodes need 2 <= ways <= {classes_total} and shots >= 1, "
                        f"got ways={ways!r}, shots={shots!r}")
    if shots + 1 > per_class:
        raise UserError(f"{shots}-shot episodes need {shots + 1} examples per class; the "
                        f"largest class has {per_class}")
    if spec is not None:
        _check_data(data, spec, ways * shots + 1)
    k_cls, k_pick, k_order, k_query, k_post = jax.random.split(key, 5)
    eligible = (data.class_count >= shots + 1).astype(jnp.float32)
    chosen = jax.random.choice(k_cls, classes_total, (ways,), replace=False,
                               p=eligible / jnp.sum(eligible))
    counts = data.class_count[chosen]
    scores = jax.random.uniform(k_pick, (ways, per_class))
    scores = jnp.where(jnp.arange(per_class)[None, :] < counts[:, None], scores, -1.0)
    _, picks = jax.lax.top_k(scores, shots + 1)
    idx = jnp.take_along_axis(data.class_index[chosen], picks, axis=1)  # [ways, shots + 1]
    order = jax.random.permutation(k_order, ways * shots)
    support = idx[:, :shots].reshape(-1)[order]
    support_y = jnp.repeat(jnp.arange(ways, dtype=jnp.int32), shots)[order]
    query = jax.random.randint(k_query, (), 0, ways, jnp.int32)
    all_idx = jnp.concatenate([support, idx[query, shots][None]])
    y = jnp.concatenate([support_y, query[None]])
    x = data.x[all_idx]
    if spec is not None:
        x = _postprocess(k_post, x, spec, data.image_shape)
    return Episode(x, y)
