"""The dataset registry and decoding: every dataset's canonical files (name, URL, size, sha256),
image shape, label count and standardization (``DATASETS``), and the decoder of its official
format into uint8 images ``[N, H, W, C]`` and int32 labels (``load_split``; cached in memory
and, for the slow formats, as an ``.npz`` next to the files).  Adding a dataset touches only
this module."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from vsml.data.files import (
    FileInfo,
    candidate_dirs,
    download,
    download_dir,
    file_set,
    file_sha256,
    find_files,
    verify_file,
)
from vsml.errors import UserError, check_choice
from vsml.io import temp_file_beside

SPLITS = ("train", "test")
# Bump when decoding changes, so stale .npz caches are ignored.
DECODE_VERSION = 1
# ITU-R 601 luma weights exactly as tf.image.rgb_to_grayscale has them.
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


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
        file_set(_MNIST_URL, [
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
        file_set(_FASHION_URL, [
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
        file_set(_KMNIST_URL, [
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
        file_set(_OMNIGLOT_URL, [
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
        file_set(_OMNIGLOT_URL, [
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
        # the official python version (what the authors' tensorflow-datasets pipeline and
        # torchvision fetch; sha256 of the archive whose md5 c58f3010... torchvision checks)
        file_set(_CIFAR_URL, [
            ("cifar-10-python.tar.gz", 170498071,
             "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
        ]),
        # the official binary version (tfds' checksum) is accepted when present instead
        alt_files=file_set(_CIFAR_URL, [
            ("cifar-10-binary.tar.gz", 170052171,
             "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        ]),
        npz_cache=True,
    ),
    "random": DatasetInfo("random", (28, 28, 1), 10, 0.0, 1.0, generated=True),
    "sum_sign": DatasetInfo("sum_sign", (28, 28, 1), 2, 0.0, 1.0, generated=True),
}


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS[check_choice("dataset", name, DATASETS)]


def check_split(split: str) -> str:
    return check_choice("split", split, SPLITS)


def resolve_files(
    name: str, data_dir: str | os.PathLike | None, do_download: bool
) -> dict[str, Path]:
    """Verified paths of all files of ``name``, downloading missing ones if allowed."""
    info = dataset_info(name)
    if info.generated:
        raise UserError(f"dataset {name!r} is generated on the fly and has no files")
    files, found = find_files(info, data_dir)
    for f in files:
        if f.name in found:
            verify_file(found[f.name], f)
    missing = [f for f in files if f.name not in found]
    if missing and not do_download:
        where = " or ".join(str(d) for d in candidate_dirs(info, data_dir)[:2])
        raise UserError(
            f"dataset {name!r} is not available locally: missing "
            + ", ".join(f"{f.name} (from {f.url})" for f in missing)
            + f"; put the files in {where}"
        )
    target = download_dir(info, data_dir)
    for f in missing:
        found[f.name] = download(f.url, target / f.name, f.sha256, f.size)
        verify_file(found[f.name], f)
    return found


def ensure_files(
    name: str, download: bool = True, data_dir: str | os.PathLike | None = None
) -> Path:
    """Folder holding the verified files of dataset ``name`` (downloading missing ones)."""
    paths = resolve_files(name, data_dir, download)
    return next(iter(paths.values())).parent


def available(name: str, data_dir: str | os.PathLike | None = None) -> bool:
    """Whether ``name`` can be loaded without downloading (files present with the right size).

    Generated datasets are always available.  Checksums are checked at load time.
    """
    info = dataset_info(name)
    if info.generated:
        return True
    files, found = find_files(info, data_dir)
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


def resize_images(images: np.ndarray, height: int, width: int) -> np.ndarray:
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
    images = resize_images(np.stack(pictures)[..., None] / 255.0, *info.shape[:2])
    images = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)
    labels = np.array([index[(a, c)] for a, c, _ in members], np.int32)
    return RawSplit(images, labels)


_CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_CIFAR_RECORD = 1 + 3 * 32 * 32


class _CifarUnpickler(pickle.Unpickler):
    """Reads the official python batches (a dict of bytes, lists and one uint8 array).

    Only the few globals numpy arrays need may be loaded, so a tampered archive cannot run
    code (the archive's sha256 is checked before this anyway).
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
               "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


def _cifar_python_batch(blob: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _CifarUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise UserError(f"{source}: not a CIFAR-10 python batch ({err})") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(f"{source}: a CIFAR-10 python batch is a dict with data and labels")
    pixels = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], np.int64)
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3 * 32 * 32 \
            or labels.shape != (pixels.shape[0],):
        raise UserError(f"{source}: data must be uint8 [N, 3072] with N labels, got "
                        f"{pixels.dtype} {pixels.shape} and {labels.shape[0]} labels")
    return pixels, labels


def _cifar_members(path: Path, names: list[str]) -> list[bytes]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [n for n in names if n not in members]
            if missing:
                raise UserError(f"{path}: archive lacks {', '.join(missing)}")
            return [tar.extractfile(members[n]).read() for n in names]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path}: not a valid tar.gz ({err}); delete it and rerun") from err


def _decode_cifar(info: DatasetInfo, split: str, paths: dict[str, Path]) -> RawSplit:
    names = _CIFAR_BATCHES[split]
    if "cifar-10-python.tar.gz" in paths:
        path = paths["cifar-10-python.tar.gz"]
        batches = [_cifar_python_batch(b, f"{path}:{n}")
                   for n, b in zip(names, _cifar_members(path, names), strict=True)]
        pixels = np.concatenate([p for p, _ in batches])
        labels = np.concatenate([lab for _, lab in batches])
    else:
        path = paths["cifar-10-binary.tar.gz"]
        raw = b"".join(_cifar_members(path, [f"{n}.bin" for n in names]))
        if len(raw) % _CIFAR_RECORD:
            raise UserError(f"{path}: batch size {len(raw)} is not a multiple of "
                            f"{_CIFAR_RECORD}")
        records = np.frombuffer(raw, np.uint8).reshape(-1, _CIFAR_RECORD)
        pixels, labels = records[:, 1:], records[:, 0]
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"{path}: CIFAR-10 labels must be 0..9")
    # both versions store each image as 1024 red, 1024 green, 1024 blue bytes (row-major)
    rgb = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32)
    gray = rgb @ np.asarray(GRAY_WEIGHTS, np.float32)
    images = np.clip(np.round(gray), 0, 255).astype(np.uint8)[..., None]
    return RawSplit(images, labels.astype(np.int32))


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
        repr((DECODE_VERSION, info.shape, sorted(file_sha256(p) for p in paths.values()))).encode()
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
def load_cached(name: str, split: str, files: tuple[tuple[str, str, int, int], ...]) -> RawSplit:
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
    info = dataset_info(name)
    check_split(split)
    if info.generated:
        raise UserError(f"dataset {name!r} is generated per episode; use prepare/sample_episode")
    return load_cached(name, split, files_key(name, data_dir))


def files_key(name: str, data_dir: str | os.PathLike | None) -> tuple:
    """Verified files of ``name`` as a cache key: (file name, path, mtime_ns, size)."""
    key = []
    for fname, p in sorted(resolve_files(name, data_dir, do_download=True).items()):
        st = p.stat()
        key.append((fname, str(p.resolve()), st.st_mtime_ns, st.st_size))
    return tuple(key)
