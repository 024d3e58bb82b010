"""Tasks: host-side preprocessing and jittable episode sampling.

``prepare(TaskSpec)`` resizes (bilinear, no antialiasing, like ``tf.image.resize``'s default
that the authors used) and standardizes with the dataset's fixed mean/std, giving flat
float32 inputs ``[N, D]``.  ``sample_episode`` (pure JAX, deterministic in the key) draws an
online stream, optionally restricted to a random class subset (relabelled 0..k-1 in the
order drawn), with per-episode pixel shuffling and/or a per-episode Glorot-uniform random
projection, then zero padding, then the requested layout.  ``random`` and ``sum_sign`` are
generated inside the sampler.  ``sample_fewshot_episode`` builds Omniglot's N-way K-shot
episodes.  Adding an augmentation touches only this module."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from vsml.data.datasets import (
    DATASETS,
    DatasetInfo,
    RawSplit,
    check_split,
    dataset_info,
    files_key,
    load_cached,
    resize_images,
)
from vsml.data.files import hash_cache
from vsml.episode import Episode
from vsml.errors import UserError, check_choice

LAYOUTS = ("flat", "image")
RANDOM_POINTS = 20


def clear_caches() -> None:
    """Forget decoded, prepared and verified data held in memory."""
    hash_cache.clear()
    load_cached.cache_clear()
    prepared_cached.cache_clear()


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
    fewshot_ways: N-way K-shot episodes instead of an online stream (Omniglot's 5-way
        1-shot, App. B): ``sample_episode`` then needs length ways * fewshot_shots + 1 and
        the output width is ``fewshot_ways``.  fewshot_shots: K (used with fewshot_ways).
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
    fewshot_ways: int | None = None
    fewshot_shots: int = 1

    def __post_init__(self) -> None:
        info = dataset_info(self.dataset)
        check_split(self.split)
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
        if self.fewshot_ways is not None:
            if info.generated or self.num_classes is not None:
                raise UserError("TaskSpec.fewshot_ways needs a dataset with files and no "
                                "num_classes subset (the episode draws its own classes)")
            if not (_is_int(self.fewshot_ways) and 2 <= self.fewshot_ways <= classes):
                raise UserError(f"TaskSpec.fewshot_ways must be None or an integer in "
                                f"2..{classes}, got {self.fewshot_ways!r}")
        if not (_is_int(self.fewshot_shots) and self.fewshot_shots >= 1):
            raise UserError(f"TaskSpec.fewshot_shots must be an integer >= 1, got "
                            f"{self.fewshot_shots!r}")
        width = self.fewshot_ways or self.num_classes or classes
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
    """Output width: pad_classes_to, else the few-shot ways, the class subset size or all."""
    return (spec.pad_classes_to or spec.fewshot_ways or spec.num_classes
            or DATASETS[spec.dataset].classes(spec.split))


def fewshot_length(spec: TaskSpec) -> int | None:
    """Steps of a few-shot episode of ``spec`` (ways * shots + 1), None for online streams."""
    return None if spec.fewshot_ways is None else spec.fewshot_ways * spec.fewshot_shots + 1


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
    images = resize_images(raw.images.astype(np.float32) / 255.0, shape[0], shape[1])
    x = (images.reshape(images.shape[0], -1) - info.mean) / info.std
    return x.astype(np.float32)


@functools.lru_cache(maxsize=4)
def prepared_cached(dataset: str, split: str, image_size: int | None, files: tuple):
    # Only these fields change the arrays, so specs differing elsewhere share them.
    spec = TaskSpec(dataset, split, image_size)
    info = DATASETS[dataset]
    raw = load_cached(dataset, split, files)
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
    files = files_key(spec.dataset, None)
    return _task_data(spec, *prepared_cached(spec.dataset, spec.split, spec.image_size, files))


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
    if spec.fewshot_ways is not None:
        if length != fewshot_length(spec):
            raise UserError(f"{spec.fewshot_ways}-way {spec.fewshot_shots}-shot episodes have "
                            f"{fewshot_length(spec)} steps, got length {length}")
        return _fewshot(key, data, spec.fewshot_ways, spec.fewshot_shots, spec)
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
    shuffle/projection/padding/layout apply; otherwise x is flat [T, D].  (``sample_episode``
    gives the same episodes for a spec with ``fewshot_ways``.)
    """
    if spec is not None:
        _check_data(data, spec, ways * shots + 1)
    return _fewshot(key, data, ways, shots, spec)


def _fewshot(key: jax.Array, data: TaskData, ways: int, shots: int,
             spec: TaskSpec | None) -> Episode:
    classes_total, per_class = data.class_index.shape
    if not (_is_int(ways) and 2 <= ways <= classes_total) or not (_is_int(shots) and shots >= 1):
        raise UserError(f"few-shot episodes need 2 <= ways <= {classes_total} and shots >= 1, "
                        f"got ways={ways!r}, shots={shots!r}")
    if shots + 1 > per_class:
        raise UserError(f"{shots}-shot episodes need {shots + 1} examples per class; the "
                        f"largest class has {per_class}")
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
