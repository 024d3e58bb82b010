"""Data: dataset files, decoding, preprocessing and jittable episodes, in three modules.

* ``vsml.data.files``: where files are looked for, size + sha256 checks, atomic downloads
  (dataset-agnostic);
* ``vsml.data.datasets``: the registry ``DATASETS`` (every dataset's canonical files, shape,
  labels, standardization) and the decoders of the official formats (``load_split``): adding
  a dataset touches this module only;
* ``vsml.data.tasks``: ``TaskSpec``, host-side preprocessing (``prepare``) and the pure-JAX
  episode samplers (``sample_episode``, ``sample_fewshot_episode``): adding an augmentation
  touches this module only.

The names below are the package's API (``from vsml import data; data.prepare(...)``).
"""

from vsml.data.datasets import (
    DATASETS,
    SPLITS,
    DatasetInfo,
    RawSplit,
    available,
    ensure_files,
    load_split,
    parse_idx,
)
from vsml.data.files import DATA_DIR_ENV, FileInfo, download
from vsml.data.tasks import (
    TaskData,
    TaskSpec,
    clear_caches,
    fewshot_length,
    input_shape,
    num_classes,
    prepare,
    prepare_arrays,
    projection_matrix,
    sample_episode,
    sample_episodes,
    sample_fewshot_episode,
)
from vsml.episode import Episode

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DatasetInfo",
    "Episode",
    "FileInfo",
    "RawSplit",
    "SPLITS",
    "TaskData",
    "TaskSpec",
    "available",
    "clear_caches",
    "download",
    "ensure_files",
    "fewshot_length",
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
