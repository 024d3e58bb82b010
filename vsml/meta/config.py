"""Run configuration: YAML file + ``--set key=value`` overrides -> a validated ``RunConfig``.

Sections (paper values are the defaults; ``config/default.yaml`` spells them out):

* ``method``: a name of ``vsml.methods.METHODS``;
* ``model``: fields of that method's ``Config`` (validated by ``vsml.methods.method_config``);
* ``meta_train``: algorithm (es | gradient), steps, episode length, meta loss (mean | last),
  seed, checkpoint_every, chunk (population members vmapped together);
* ``es``: pairs, noise_std, learning_rate, b1, b2;
* ``gradient``: batch, learning_rate, b1, b2, clip_norm, remat;
* ``tasks``: the meta-training distribution: ``datasets`` (a list of ``vsml.data.TaskSpec``
  dicts; the population is split evenly over them), ``random_projection_fraction`` (the
  share of each dataset's members that see randomly projected inputs; the paper's runs
  with projection use 0.5) and ``augment`` (the Sec. 4.3 grid: every dataset is also split
  evenly over class subsets ``num_classes`` x input sizes ``image_sizes``).

Overrides use dotted keys (``model.micro_ticks=1``, ``es.pairs=8``,
``tasks.datasets.0.image_size=14``); values are parsed as YAML (``8``, ``true``, ``[3, 4]``).
Unknown keys, wrong types and impossible values raise ``UserError`` naming the key and the
nearest valid one.  ``config_hash`` is the sha256 of the canonical JSON of the resolved
config (defaults filled in), so equal runs have equal hashes.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from vsml.errors import UserError, check_choice, closest
from vsml.methods import METHODS, build_config, method_config

ALGORITHMS = ("es", "gradient")
LOSSES = ("mean", "last")
SECTIONS = ("method", "model", "meta_train", "es", "gradient", "tasks")
# keys that do not change the trajectory of a run: a resumed run may change them
RESUMABLE_KEYS = ("meta_train.steps", "meta_train.checkpoint_every")


def _positive(where: str, value: float, strict: bool = True) -> None:
    if value < 0 or (strict and value == 0):
        raise UserError(f"config key {where} must be {'> 0' if strict else '>= 0'}, got {value}")


def _beta(where: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise UserError(f"config key {where} must be in [0, 1), got {value}")


@dataclasses.dataclass(frozen=True)
class MetaTrainConfig:
    """The outer loop (paper: ES, 10k steps, T = 500, mean loss over all predictions)."""

    algorithm: str = "es"
    steps: int = 10000
    length: int = 500  # T, online examples per meta-training episode
    loss: str = "mean"  # mean over all T predictions | last prediction only (Omniglot)
    seed: int = 0
    checkpoint_every: int = 100
    chunk: int = 16  # members (ES pairs / gradient episodes) vmapped together per device

    def __post_init__(self) -> None:
        check_choice("meta_train.algorithm", self.algorithm, ALGORITHMS)
        check_choice("meta_train.loss", self.loss, LOSSES)
        for name in ("steps", "length", "checkpoint_every", "chunk"):
            _positive(f"meta_train.{name}", getattr(self, name))
        _positive("meta_train.seed", self.seed, strict=False)


@dataclasses.dataclass(frozen=True)
class ESConfig:
    """OpenAI-ES (paper: 1024 pairs, noise 0.05, Adam 0.025 / 0.9 / 0.999)."""

    pairs: int = 1024
    noise_std: float = 0.05
    learning_rate: float = 0.025
    b1: float = 0.9
    b2: float = 0.999

    def __post_init__(self) -> None:
        _positive("es.pairs", self.pairs)
        _positive("es.noise_std", self.noise_std)
        _positive("es.learning_rate", self.learning_rate)
        _beta("es.b1", self.b1)
        _beta("es.b2", self.b2)


@dataclasses.dataclass(frozen=True)
class GradientConfig:
    """Backprop meta-training (authors' runs: batch 128, Adam 1e-3, clip at global norm 25)."""

    batch: int = 128
    learning_rate: float = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    clip_norm: float = 25.0  # 0 = no clipping
    remat: bool = True  # recompute each example's step in the backward pass (memory)

    def __post_init__(self) -> None:
        _positive("gradient.batch", self.batch)
        _positive("gradient.learning_rate", self.learning_rate)
        _positive("gradient.clip_norm", self.clip_norm, strict=False)
        _beta("gradient.b1", self.b1)
        _beta("gradient.b2", self.b2)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """The Sec. 4.3 grid: class subsets of these sizes x inputs resized to these sizes."""

    enabled: bool = False
    num_classes: tuple[int, ...] = (3, 4, 6, 7)
    image_sizes: tuple[int, ...] = (14, 28, 32)

    def __post_init__(self) -> None:
        for name in ("num_classes", "image_sizes"):
            values = getattr(self, name)
            if not values:
                raise UserError(f"config key tasks.augment.{name} must not be empty")
            if len(set(values)) != len(values):
                raise UserError(f"config key tasks.augment.{name} has duplicates: {values}")
        if any(k < 2 for k in self.num_classes):
            raise UserError(f"config key tasks.augment.num_classes must be >= 2, "
                            f"got {self.num_classes}")
        if any(s < 1 for s in self.image_sizes):
            raise UserError(f"config key tasks.augment.image_sizes must be >= 1, "
                            f"got {self.image_sizes}")


@dataclasses.dataclass(frozen=True)
class TasksConfig:
    """The meta-training distribution; ``datasets`` holds ``vsml.data.TaskSpec`` objects."""

    datasets: tuple[Any, ...] = ()
    random_projection_fraction: float = 0.0
    augment: AugmentConfig = AugmentConfig()

    def __post_init__(self) -> None:
        if not self.datasets:
            raise UserError("config key tasks.datasets must list at least one dataset")
        if not 0.0 <= self.random_projection_fraction <= 1.0:
            raise UserError("config key tasks.random_projection_fraction must be in [0, 1], "
                            f"got {self.random_projection_fraction}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    method: str
    model: Any
    meta_train: MetaTrainConfig
    es: ESConfig
    gradient: GradientConfig
    tasks: TasksConfig


DEFAULT_TASKS: list[dict[str, Any]] = [{"dataset": "mnist", "split": "train"}]


# --------------------------------------------------------------------------- raw dicts


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML scalars/lists/dicts (``8``, ``0.5``, ``true``, ``[3, 4]``)."""
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf") else value
        except ValueError:
            return value
    return value


def parse_sets(sets: Sequence[str]) -> list[tuple[str, Any]]:
    """``["a.b=1", ...]`` -> ``[("a.b", 1), ...]``."""
    out = []
    for item in sets or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value (e.g. es.pairs=8), got {item!r}")
        out.append((key.strip(), parse_value(value)))
    return out


def _valid_keys(section: str, method: str | None) -> list[str]:
    classes = {"meta_train": MetaTrainConfig, "es": ESConfig, "gradient": GradientConfig,
               "tasks": TasksConfig}
    if section in classes:
        return [f.name for f in dataclasses.fields(classes[section])]
    if section == "model" and method in METHODS:
        from vsml.methods import method_module

        return [f.name for f in dataclasses.fields(method_module(method).Config)]
    if section == "tasks.augment":
        return [f.name for f in dataclasses.fields(AugmentConfig)]
    return []


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``raw[a][b]... = value`` for ``key = "a.b..."``; list entries by index."""
    parts = key.split(".")
    if parts[0] not in SECTIONS:
        raise UserError(f"unknown config key {key!r}{closest(parts[0], SECTIONS)}; valid "
                        f"sections: {', '.join(SECTIONS)}")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UserError(f"config key {key!r}: {'.'.join(parts[:i])} has "
                                f"{len(node)} entries, {part!r} is not a valid index")
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise UserError(f"config key {key!r}: {'.'.join(parts[:i])} is not a section")
        nxt = node.get(part)
        if nxt is None:
            # a dataset entry overridden before any is listed edits the default list
            nxt = node[part] = copy.deepcopy(DEFAULT_TASKS) if part == "datasets" else {}
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise UserError(f"config key {key!r}: not a valid list index")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise UserError(f"config key {key!r}: {'.'.join(parts[:-1])} is not a section")


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise UserError(f"config file {path} is not valid YAML: {err}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UserError(f"config file {path} must hold a mapping of sections, got "
                        f"{type(raw).__name__}")
    return raw


# --------------------------------------------------------------------------- building


def _check_keys(values: dict[str, Any], where: str, valid: Sequence[str]) -> None:
    for key in values:
        if key not in valid:
            hint = closest(f"{where}.{key}", [f"{where}.{v}" for v in valid])
            raise UserError(f"unknown config key '{where}.{key}'{hint}; valid "
                            f"keys of {where}: {', '.join(valid)}")


def _section(raw: dict[str, Any], name: str, method: str | None = None) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"config section {name!r} must be a mapping of keys, got {value!r}")
    _check_keys(value, name, _valid_keys(name, method))
    return value


def _task_spec(entry: Any, where: str) -> Any:
    from vsml.data import TaskSpec

    if isinstance(entry, str):
        entry = {"dataset": entry}
    if not isinstance(entry, dict):
        raise UserError(f"config key {where} must be a mapping like {{dataset: mnist}}, "
                        f"got {entry!r}")
    _check_keys(entry, where, [f.name for f in dataclasses.fields(TaskSpec)])
    if "dataset" not in entry:
        raise UserError(f"config key {where} needs a 'dataset'")
    try:
        return build_config(TaskSpec, entry, where=where)
    except UserError as err:
        raise UserError(f"config key {where}: {err}") from None


def _tasks(raw: dict[str, Any]) -> TasksConfig:
    raw = dict(raw)
    datasets = raw.pop("datasets", None)
    if datasets is None:
        datasets = DEFAULT_TASKS
    if isinstance(datasets, (str, dict)):
        datasets = [datasets]
    if not isinstance(datasets, (list, tuple)):
        raise UserError(f"config key tasks.datasets must be a list, got {datasets!r}")
    specs = tuple(_task_spec(e, f"tasks.datasets.{i}") for i, e in enumerate(datasets))
    augment_raw = raw.pop("augment", None) or {}
    if isinstance(augment_raw, bool):
        augment_raw = {"enabled": augment_raw}
    if not isinstance(augment_raw, dict):
        raise UserError(f"config key tasks.augment must be a mapping or a boolean, "
                        f"got {augment_raw!r}")
    _check_keys(augment_raw, "tasks.augment", _valid_keys("tasks.augment", None))
    augment = build_config(AugmentConfig, augment_raw, where="tasks.augment")
    return build_config(TasksConfig, {**raw, "datasets": specs, "augment": augment}, "tasks")


def build(raw: dict[str, Any], method: str | None = None) -> RunConfig:
    """Validate a raw (YAML-shaped) config dict; ``method`` overrides ``raw['method']``."""
    for key in raw:
        if key not in SECTIONS:
            raise UserError(f"unknown config key {key!r}{closest(key, SECTIONS)}; valid "
                            f"sections: {', '.join(SECTIONS)}")
    method = method or raw.get("method") or "vsml"
    if not isinstance(method, str):
        raise UserError(f"config key 'method' must be a method name, got {method!r}")
    check_choice("method", method, METHODS)
    model = method_config(method, _section(raw, "model", method))
    return RunConfig(
        method=method,
        model=model,
        meta_train=build_config(MetaTrainConfig, _section(raw, "meta_train"), "meta_train"),
        es=build_config(ESConfig, _section(raw, "es"), "es"),
        gradient=build_config(GradientConfig, _section(raw, "gradient"), "gradient"),
        tasks=_tasks(_section(raw, "tasks")),
    )


def load_config(
    path: str | os.PathLike | None = None,
    sets: Sequence[str] = (),
    method: str | None = None,
) -> RunConfig:
    """The run config of YAML file ``path`` (None: defaults), then ``--set`` overrides.

    ``method`` (from ``--method``) replaces the file's method; when it differs from the
    file's, the file's ``model`` section is dropped (it holds another method's fields).
    """
    raw = load_yaml(path) if path is not None else {}
    if method is not None and raw.get("method") not in (None, method):
        raw = {k: v for k, v in raw.items() if k != "model"}
    for key, value in parse_sets(sets):
        set_dotted(raw, key, value)
    return build(raw, method)


# --------------------------------------------------------------------------- canonical form


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The resolved config as plain JSON/YAML data (round-trips through ``build``)."""
    return _plain(config)


def canonical_json(config: RunConfig | dict[str, Any]) -> str:
    data = to_dict(config) if isinstance(config, RunConfig) else config
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: RunConfig | dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the resolved config."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def trajectory_dict(config: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """The config without ``RESUMABLE_KEYS`` (what decides the sequence of meta-params)."""
    data = copy.deepcopy(to_dict(config) if isinstance(config, RunConfig) else config)
    for key in RESUMABLE_KEYS:
        section, name = key.split(".")
        data.get(section, {}).pop(name, None)
    return data


def trajectory_hash(config: RunConfig | dict[str, Any]) -> str:
    """Hash of ``trajectory_dict``: equal for runs that produce identical meta-params."""
    return config_hash(trajectory_dict(config))


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    out = []
    for key in sorted(set(old) | set(new)):
        name = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(differences(a, b, name + "."))
        elif a != b:
            out.append(name)
    return out


def dump_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
