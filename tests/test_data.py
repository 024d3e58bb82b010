"""Tests of vsml.data: files and checksums, decoders, preprocessing, episode sampling.

All file tests use tiny canonical-format fakes written to tmp_path, with the registry's
checksums patched to match them; the network is replaced by a fake ``_urlopen``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import struct
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from vsml import data as D
from vsml.errors import UserError

KEY = jax.random.PRNGKey(0)


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(idx_bytes(array)))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def register(monkeypatch, name: str, folder: Path, alt: bool = False) -> D.DatasetInfo:
    """Point the registry's checksums/sizes of ``name`` at the fake files in ``folder``."""
    info = D.DATASETS[name]
    field = "alt_files" if alt else "files"
    files = tuple(
        dataclasses.replace(f, sha256=sha(folder / f.name), size=(folder / f.name).stat().st_size)
        for f in getattr(info, field)
    )
    info = dataclasses.replace(info, **{field: files})
    monkeypatch.setitem(D.DATASETS, name, info)
    return info


def fake_mnist_arrays(rng, n_train=60, n_test=20):
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        out[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 256, (n, 28, 28), np.uint8)
        out[f"{prefix}-labels-idx1-ubyte.gz"] = (np.arange(n) % 10).astype(np.uint8)
    return out


@pytest.fixture
def fake_mnist(root, monkeypatch):
    """Tiny canonical MNIST files in $VSML_DATA_DIR/mnist with patched checksums."""
    arrays = fake_mnist_arrays(np.random.default_rng(0))
    folder = root / "mnist"
    for name, array in arrays.items():
        write_idx_gz(folder / name, array)
    register(monkeypatch, "mnist", folder)
    return folder, arrays


def png_bytes(rng) -> bytes:
    img = Image.fromarray((rng.random((105, 105)) < 0.9).astype(np.uint8) * 255).convert("1")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_omniglot_zip(path: Path, top: str, alphabets, chars=2, drawings=3, rng=None):
    rng = rng or np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for alphabet in alphabets:
            for c in range(1, chars + 1):
                for k in range(1, drawings + 1):
                    zf.writestr(f"{top}/{alphabet}/character{c:02d}/{c:04d}_{k:02d}.png",
                                png_bytes(rng))


def make_data(spec: D.TaskSpec, n: int = 64, seed: int = 0, images=None, labels=None):
    """TaskData from random 28x28 uint8 images (MNIST-shaped) for ``spec``."""
    rng = np.random.default_rng(seed)
    if images is None:
        images = rng.integers(0, 256, (n, 28, 28, 1), np.uint8)
    if labels is None:
        labels = np.arange(len(images)) % 10
    return D.prepare_arrays(D.RawSplit(images, labels.astype(np.int32)), spec)


# --------------------------------------------------------------------------- registry


def test_registry_has_canonical_files_and_stats():
    assert set(D.DATASETS) == {"mnist", "fashion_mnist", "kmnist", "emnist", "omniglot",
                               "omniglot_small", "cifar10", "random", "sum_sign"}
    for info in D.DATASETS.values():
        assert info.generated == (not info.files)
        for f in info.files + info.alt_files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0
            assert f.url.startswith("http")
    cifar = D.DATASETS["cifar10"]
    assert [f.name for f in cifar.files] == ["cifar-10-python.tar.gz"]
    assert cifar.files[0].size == 170498071 and cifar.shape == (32, 32, 1)
    assert [f.name for f in cifar.alt_files] == ["cifar-10-binary.tar.gz"]
    assert cifar.alt_files[0].size == 170052171
    assert D.DATASETS["emnist"].num_classes == 62
    assert D.DATASETS["mnist"].files[0].url == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz")
    assert (D.DATASETS["omniglot"].mean, D.DATASETS["omniglot"].std) == (0.9221, 0.2681)
    assert (D.DATASETS["kmnist"].mean, D.DATASETS["kmnist"].std) == (0.1918, 0.3483)


def test_unknown_dataset_suggests_the_closest_name():
    with pytest.raises(UserError, match="did you mean 'mnist'"):
        D.TaskSpec("mnsit")
    with pytest.raises(UserError, match="did you mean 'fashion_mnist'"):
        D.load_split("fashion_mnst", "train")
    with pytest.raises(UserError, match="unknown split"):
        D.TaskSpec("mnist", split="validation")


# --------------------------------------------------------------------------- files


def test_good_checksum_loads(fake_mnist):
    folder, arrays = fake_mnist
    assert D.available("mnist")
    assert D.ensure_files("mnist", download=False) == folder
    raw = D.load_split("mnist", "train")
    assert raw.images.shape == (60, 28, 28, 1) and raw.images.dtype == np.uint8
    assert raw.labels.dtype == np.int32
    np.testing.assert_array_equal(raw.images[..., 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(raw.labels, arrays["train-labels-idx1-ubyte.gz"])
    assert D.load_split("mnist", "train") is raw  # cached in memory
    assert D.load_split("mnist", "test").images.shape == (20, 28, 28, 1)


def test_lookup_falls_back_to_resources_data(root, monkeypatch, tmp_path):
    folder = tmp_path / "resources" / "data" / "mnist"
    for name, array in fake_mnist_arrays(np.random.default_rng(1)).items():
        write_idx_gz(folder / name, array)
    register(monkeypatch, "mnist", folder)
    assert D.ensure_files("mnist", download=False).resolve() == folder.resolve()


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_damaged_file_raises_naming_path_and_expected_sha(fake_mnist, damage):
    folder, _ = fake_mnist
    path = folder / "train-images-idx3-ubyte.gz"
    expected = D.DATASETS["mnist"].files[0].sha256
    blob = bytearray(path.read_bytes())
    if damage == "corrupt":
        blob[len(blob) // 2] ^= 0xFF
    else:
        blob = blob[: len(blob) // 2]
    path.write_bytes(bytes(blob))
    D.clear_caches()  # same mtime tick possible: forget the remembered hash
    with pytest.raises(UserError) as err:
        D.load_split("mnist", "train")
    msg = str(err.value)
    assert str(path) in msg and expected in msg and sha(path) in msg
    assert "Delete the file and rerun" in msg
    assert ("truncated" in msg) == (damage == "truncate")


def serve(payloads: dict[str, bytes]):
    def opener(url, timeout=None):
        if url not in payloads:
            raise urllib.error.URLError(f"unreachable {url}")
        return io.BytesIO(payloads[url])

    return opener


def test_download_writes_verified_files_atomically(root, monkeypatch, tmp_path):
    source = tmp_path / "server"
    for name, array in fake_mnist_arrays(np.random.default_rng(2)).items():
        write_idx_gz(source / name, array)
    info = register(monkeypatch, "mnist", source)
    monkeypatch.setattr(D.files, "_urlopen", serve({f.url: (source / f.name).read_bytes()
                                              for f in info.files}))
    assert not D.available("mnist")
    raw = D.load_split("mnist", "train")
    assert raw.images.shape == (60, 28, 28, 1)
    target = root / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(f.name for f in info.files)
    assert D.available("mnist")


@pytest.mark.parametrize("failure", ["corrupt", "network"])
def test_failed_download_leaves_no_file(root, monkeypatch, tmp_path, failure):
    source = tmp_path / "server"
    for name, array in fake_mnist_arrays(np.random.default_rng(3)).items():
        write_idx_gz(source / name, array)
    info = register(monkeypatch, "mnist", source)
    payloads = {f.url: (source / f.name).read_bytes() for f in info.files}
    if failure == "corrupt":
        payloads[info.files[0].url] = b"<html>not found</html>"
    else:
        del payloads[info.files[0].url]
    monkeypatch.setattr(D.files, "_urlopen", serve(payloads))
    with pytest.raises(UserError) as err:
        D.load_split("mnist", "train")
    assert info.files[0].url in str(err.value)
    assert str(root / "mnist" / info.files[0].name) in str(err.value)
    assert not (root / "mnist" / info.files[0].name).exists()
    assert not [p for p in (root / "mnist").iterdir() if p.name.endswith(".part")]


def test_download_disabled_names_urls(root):
    assert not D.available("kmnist")
    with pytest.raises(UserError, match="codh.rois.ac.jp/kmnist"):
        D.ensure_files("kmnist", download=False)
    assert D.available("random") and D.available("sum_sign")


def test_idx_magic_and_shape_errors(root, monkeypatch):
    good = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    assert D.parse_idx(good).shape == (2, 3, 3)
    with pytest.raises(UserError, match="not an IDX"):
        D.parse_idx(b"\x00\x00\x0d\x03" + good[4:])  # float32 type code
    with pytest.raises(UserError, match="not an IDX"):
        D.parse_idx(b"PK\x03\x04" + good[4:])
    with pytest.raises(UserError, match="3 dimensions, expected 1"):
        D.parse_idx(good, ndim=1)
    with pytest.raises(UserError, match="payload"):
        D.parse_idx(good[:-1])
    # A well-checksummed file whose content is not IDX fails at decoding with its path.
    folder = root / "mnist"
    for name, array in fake_mnist_arrays(np.random.default_rng(4)).items():
        write_idx_gz(folder / name, array)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x08\x01junk"))
    register(monkeypatch, "mnist", folder)
    with pytest.raises(UserError, match="train-labels-idx1-ubyte.gz.*not an IDX"):
        D.load_split("mnist", "train")


@pytest.mark.parametrize("variant", ["zip", "extracted"])
def test_emnist_byclass_is_transposed_upright(root, monkeypatch, variant):
    rng = np.random.default_rng(5)
    stored = {s: rng.integers(0, 256, (4, 28, 28), np.uint8) for s in ("train", "test")}
    labels = {s: np.array([0, 10, 61, 36], np.uint8) for s in ("train", "test")}
    blobs = {}
    for s in ("train", "test"):
        blobs[f"emnist-byclass-{s}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(stored[s]))
        blobs[f"emnist-byclass-{s}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels[s]))
    folder = root / "emnist"
    folder.mkdir()
    if variant == "zip":
        with zipfile.ZipFile(folder / "gzip.zip", "w") as zf:
            for name, blob in blobs.items():
                zf.writestr(f"gzip/{name}", blob)
    else:
        for name, blob in blobs.items():
            (folder / name).write_bytes(blob)
    register(monkeypatch, "emnist", folder, alt=variant == "extracted")
    assert D.available("emnist")
    raw = D.load_split("emnist", "test")
    np.testing.assert_array_equal(raw.images[..., 0], stored["test"].transpose(0, 2, 1))
    np.testing.assert_array_equal(raw.labels, labels["test"])


def test_omniglot_small_splits_resize_and_npz_cache(root, monkeypatch):
    folder = root / "omniglot_partial"  # the offline folder name in shared/data
    write_omniglot_zip(folder / "images_background_small1.zip", "images_background_small1",
                       ["Alpha", "Beta"])
    write_omniglot_zip(folder / "images_background_small2.zip", "images_background_small2",
                       ["Beta", "Gamma"], chars=3)
    info = register(monkeypatch, "omniglot_small", folder)
    monkeypatch.setitem(D.DATASETS, "omniglot_small",
                        dataclasses.replace(info, split_classes=(("train", 4), ("test", 3))))
    train = D.load_split("omniglot_small", "train")
    assert train.images.shape == (12, 28, 28, 1) and train.images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(train.labels), [3, 3, 3, 3])
    assert 0.8 < train.images.mean() / 255 < 1.0  # mostly white paper, like the real data
    test = D.load_split("omniglot_small", "test")  # only Gamma: Beta was seen in training
    np.testing.assert_array_equal(np.bincount(test.labels), [3, 3, 3])
    caches = sorted(p.name for p in folder.glob("*.npz"))
    assert len(caches) == 2 and caches[0].startswith("omniglot_small-test.decoded-")

    def must_not_decode(*args):
        raise AssertionError("decoded again instead of reading the npz cache")

    D.clear_caches()
    monkeypatch.setitem(D.datasets._DECODERS, "omniglot_small", must_not_decode)
    again = D.load_split("omniglot_small", "train")
    np.testing.assert_array_equal(again.images, train.images)
    np.testing.assert_array_equal(again.labels, train.labels)


def test_cifar10_binary_to_grayscale(root, monkeypatch):
    rng = np.random.default_rng(6)
    folder = root / "cifar10"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (3, 3073), np.uint8)
        records[:, 0] = rng.integers(0, 10, 3)
        batches[name] = records
    batches["test_batch.bin"][0, 1:] = 0
    batches["test_batch.bin"][0, 1:1025] = 255  # an all-red first test image
    with tarfile.open(folder / "cifar-10-binary.tar.gz", "w:gz") as tar:
        for name, records in batches.items():
            blob = records.tobytes()
            member = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            member.size = len(blob)
            tar.addfile(member, io.BytesIO(blob))
    register(monkeypatch, "cifar10", folder, alt=True)
    train = D.load_split("cifar10", "train")
    assert train.images.shape == (15, 32, 32, 1)
    test = D.load_split("cifar10", "test")
    np.testing.assert_array_equal(test.labels, batches["test_batch.bin"][:, 0])
    assert np.all(test.images[0] == round(0.2989 * 255))
    rgb = batches["test_batch.bin"][1, 1:].reshape(3, 32, 32).astype(np.float64)
    gray = 0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]
    assert np.abs(test.images[1, ..., 0] - gray).max() <= 0.5 + 1e-3


# --------------------------------------------------------------------------- preprocessing


def test_standardisation_uses_fixed_dataset_stats():
    images = np.zeros((2, 28, 28, 1), np.uint8)
    images[1] = 255
    data = make_data(D.TaskSpec("mnist"), images=images, labels=np.array([0, 1]))
    assert data.x.shape == (2, 784) and data.x.dtype == jnp.float32
    np.testing.assert_allclose(data.x[0], -0.1307 / 0.3081, rtol=1e-6)
    np.testing.assert_allclose(data.x[1], (1 - 0.1307) / 0.3081, rtol=1e-6)
    omni = D.TaskSpec("omniglot")
    x = D.tasks._standardized_flat(D.RawSplit(images, np.zeros(2, np.int32)),
                                   D.DATASETS["omniglot"], D.tasks._image_shape(omni))
    np.testing.assert_allclose(x[1], (1 - 0.9221) / 0.2681, rtol=1e-6)


def test_resize_shapes_and_layouts():
    spec = D.TaskSpec("mnist", image_size=14)
    assert D.input_shape(spec) == (196,)
    assert D.input_shape(D.TaskSpec("mnist", image_size=14, input_layout="image")) == (14, 14, 1)
    assert D.input_shape(D.TaskSpec("cifar10")) == (1024,)
    images = np.full((3, 28, 28, 1), 200, np.uint8)
    data = make_data(spec, images=images, labels=np.arange(3))
    assert data.x.shape == (3, 196)
    np.testing.assert_allclose(data.x, (200 / 255 - 0.1307) / 0.3081, rtol=1e-5)
    img_spec = D.TaskSpec("mnist", image_size=14, input_layout="image")
    episode = D.sample_episode(KEY, make_data(img_spec), 5, img_spec)
    assert episode.x.shape == (5, 14, 14, 1) and episode.y.shape == (5,)


def plain_and(spec: D.TaskSpec, seed=0, length=64):
    """Episode x for ``spec`` and for the same spec without augmentation (same key)."""
    plain = dataclasses.replace(spec, random_projection=False, shuffle_pixels=False,
                                pad_inputs_to=None)
    data = make_data(plain, n=128)
    key = jax.random.PRNGKey(seed)
    return (np.asarray(D.sample_episode(key, data, length, plain).x),
            np.asarray(D.sample_episode(key, data, length, spec).x))


def test_random_projection_is_fixed_glorot_within_episode():
    spec = D.TaskSpec("mnist", image_size=4, random_projection=True)  # D = 16
    plain, projected = plain_and(spec)
    weights, *_ = np.linalg.lstsq(plain, projected, rcond=None)
    np.testing.assert_allclose(plain @ weights, projected, atol=1e-4)  # one matrix per episode
    limit = np.sqrt(6 / (2 * 16))
    assert np.abs(weights).max() <= limit + 1e-4
    assert np.abs(weights).max() > 0.8 * limit  # uses the range, not a narrower init
    plain2, projected2 = plain_and(spec, seed=1)
    weights2, *_ = np.linalg.lstsq(plain2, projected2, rcond=None)
    assert np.abs(weights - weights2).max() > 0.1  # a fresh matrix per episode
    m = np.asarray(D.projection_matrix(KEY, 784))
    assert np.abs(m).max() <= np.sqrt(6 / 1568) and abs(m.std() - np.sqrt(2 / 1568)) < 2e-3


def test_pixel_shuffle_is_one_permutation_within_episode():
    spec = D.TaskSpec("mnist", image_size=4, shuffle_pixels=True)
    plain, shuffled = plain_and(spec)
    # Every shuffled input column equals exactly one plain column: a fixed permutation.
    match = (np.abs(shuffled[:, :, None] - plain[:, None, :]) < 1e-6).all(axis=0)
    assert (match.sum(axis=1) == 1).all() and (match.sum(axis=0) == 1).all()
    perm = match.argmax(axis=1)
    assert not np.array_equal(perm, np.arange(16))
    _, shuffled2 = plain_and(spec, seed=1)
    assert not np.allclose(shuffled, shuffled2)


def test_padding_is_applied_last_with_zeros():
    spec = D.TaskSpec("mnist", image_size=4, random_projection=True, pad_inputs_to=20)
    assert D.input_shape(spec) == (20,)
    _plain, padded = plain_and(spec)
    assert padded.shape == (64, 20)
    assert np.all(padded[:, 16:] == 0) and np.abs(padded[:, :16]).min() > 0


def test_class_subset_relabels_to_order_drawn():
    labels = np.arange(200) % 10
    images = np.broadcast_to((labels * 20).astype(np.uint8)[:, None, None, None],
                             (200, 28, 28, 1)).copy()
    spec = D.TaskSpec("mnist", num_classes=3)
    assert D.num_classes(spec) == 3
    data = make_data(spec, images=images, labels=labels)
    subsets = set()
    for seed in range(6):
        episode = D.sample_episode(jax.random.PRNGKey(seed), data, 100, spec)
        original = np.rint((np.asarray(episode.x[:, 0]) * 0.3081 + 0.1307) * 255 / 20)
        y = np.asarray(episode.y)
        assert set(y.tolist()) == {0, 1, 2}
        mapping = {int(a): int(b) for a, b in zip(original, y)}
        assert len(mapping) == 3 and sorted(mapping.values()) == [0, 1, 2]
        assert len({(int(a), int(b)) for a, b in zip(original, y)}) == 3  # consistent
        subsets.add(tuple(sorted(mapping)))
    assert len(subsets) > 1


def test_stream_has_no_repeats_until_exhausted():
    spec = D.TaskSpec("mnist")
    data = make_data(spec, n=50)
    y = D.sample_episode(KEY, data, 50, spec)
    x = np.asarray(y.x)
    assert len({row.tobytes() for row in x}) == 50
    assert D.sample_episode(KEY, data, 120, spec).x.shape == (120, 784)


def test_taskspec_validation():
    assert hash(D.TaskSpec("mnist")) == hash(D.TaskSpec("mnist"))
    bad = [
        {"num_classes": 11}, {"num_classes": 1}, {"image_size": 0}, {"image_size": True},
        {"pad_inputs_to": 100}, {"pad_inputs_to": 900, "input_layout": "image"},
        {"pad_classes_to": 5}, {"input_layout": "nchw"}, {"random_projection": 1},
    ]
    for kwargs in bad:
        with pytest.raises(UserError):
            D.TaskSpec("mnist", **kwargs)
    assert D.num_classes(D.TaskSpec("emnist", pad_classes_to=62)) == 62
    assert D.num_classes(D.TaskSpec("mnist", pad_classes_to=62)) == 62
    assert D.input_shape(D.TaskSpec("cifar10", pad_inputs_to=1100)) == (1100,)
    data = make_data(D.TaskSpec("mnist"))
    with pytest.raises(UserError, match="prepared for"):
        D.sample_episode(KEY, data, 10, D.TaskSpec("mnist", image_size=14))


# --------------------------------------------------------------------------- episodes


@pytest.mark.parametrize("name", ["mnist", "random", "sum_sign"])
def test_episodes_are_deterministic_in_the_key(name):
    # Generated datasets use the same spec and length as their own tests (shared compile).
    augment = name == "mnist"
    spec = D.TaskSpec(name, random_projection=augment, shuffle_pixels=augment)
    data = make_data(spec) if name == "mnist" else D.prepare(spec)
    a = D.sample_episode(KEY, data, 60, spec)
    b = D.sample_episode(KEY, data, 60, spec)
    c = D.sample_episode(jax.random.PRNGKey(1), data, 60, spec)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.x, c.x)
    if name == "mnist":
        many = D.sample_episodes(KEY, data, 60, spec, 3)
        assert many.x.shape == (3, 60, 784) and many.y.shape == (3, 60)
        assert not np.allclose(many.x[0], many.x[1])


def test_random_dataset_cycles_twenty_points():
    spec = D.TaskSpec("random")
    data = D.prepare(spec)
    assert data.x.shape == (0, 784) and data.input_shape == (784,) and data.num_classes == 10
    episode = D.sample_episode(KEY, data, 60, spec)
    x, y = np.asarray(episode.x), np.asarray(episode.y)
    points = {row.tobytes(): label for row, label in zip(x, y)}
    assert len(points) == 20  # 20 distinct points, each label fixed per point
    assert len({(row.tobytes(), int(label)) for row, label in zip(x, y)}) == 20
    for start in (0, 20, 40):  # each pass shows every point once, in a fresh order
        assert len({row.tobytes() for row in x[start:start + 20]}) == 20
    assert not np.array_equal(x[:20], x[20:40])
    assert set(y.tolist()) <= set(range(10))
    assert abs(x.mean()) < 0.1 and abs(x.std() - 1) < 0.1
    other = np.asarray(D.sample_episode(jax.random.PRNGKey(1), data, 60, spec).x)
    assert not {row.tobytes() for row in other} & set(points)  # new points per episode


def test_sum_sign_labels_match_sign_of_sum():
    spec = D.TaskSpec("sum_sign")
    assert D.num_classes(spec) == 2
    episode = D.sample_episode(KEY, D.prepare(spec), 60, spec)
    x, y = np.asarray(episode.x), np.asarray(episode.y)
    np.testing.assert_array_equal(y, (x.sum(axis=1) >= 0).astype(np.int32))
    means = x.mean(axis=1)
    assert means.min() < -0.5 and means.max() > 0.5 and 0.3 < y.mean() < 0.7
    spread = x.max(axis=1) - x.min(axis=1)
    assert spread.max() <= 4 + 1e-5  # truncated to mean +- 2


def test_fewshot_episode_five_way_one_shot():
    labels = np.repeat(np.arange(10), 3)
    images = np.random.default_rng(7).integers(0, 256, (30, 28, 28, 1), np.uint8)
    data = make_data(D.TaskSpec("omniglot"), images=images, labels=labels)
    for seed in range(4):
        episode = D.sample_fewshot_episode(jax.random.PRNGKey(seed), data)
        x, y = np.asarray(episode.x), np.asarray(episode.y)
        assert x.shape == (6, 784) and y.shape == (6,)
        assert sorted(y[:5].tolist()) == [0, 1, 2, 3, 4]
        rows = [np.flatnonzero((np.asarray(data.x) == row).all(axis=1))[0] for row in x]
        assert len(set(rows)) == 6  # the query is a different drawing
        original = labels[rows]
        assert len(set(original[:5])) == 5
        support_of_query = original[:5][y[:5] == y[5]]
        assert original[5] == support_of_query[0]  # ... of the same character
    a = D.sample_fewshot_episode(KEY, data)
    np.testing.assert_array_equal(a.x, D.sample_fewshot_episode(KEY, data).x)
    spec = D.TaskSpec("omniglot", input_layout="image")
    img = D.sample_fewshot_episode(KEY, make_data(spec, images=images, labels=labels), spec=spec)
    assert img.x.shape == (6, 28, 28, 1)


# --------------------------------------------------------------------------- real data

REAL_ROOT = Path(os.environ.get(D.DATA_DIR_ENV) or "/work/shared/data")


@pytest.mark.skipif(not (REAL_ROOT / "mnist" / "train-images-idx3-ubyte.gz").exists(),
                    reason="real MNIST files not present")
def test_real_mnist(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert D.ensure_files("mnist", download=False, data_dir=REAL_ROOT) == REAL_ROOT / "mnist"
    for f in D.DATASETS["mnist"].files:
        assert D.files.file_sha256(REAL_ROOT / "mnist" / f.name) == f.sha256
    raw = D.load_split("mnist", "train", data_dir=REAL_ROOT)
    assert raw.images.shape == (60000, 28, 28, 1) and raw.labels.shape == (60000,)
    assert raw.labels[:5].tolist() == [5, 0, 4, 1, 9]
    test = D.load_split("mnist", "test", data_dir=REAL_ROOT)
    assert test.images.shape == (10000, 28, 28, 1) and test.labels[:3].tolist() == [7, 2, 1]
