"""Registry of online learners: ``--method NAME`` -> a Learner.

Every method lives in one module that exports a frozen dataclass ``Config``
(its hyper-parameters, paper values as defaults) and
``make_learner(config, input_shape, num_outputs) -> Learner``.  A method name
may fix some of those fields (e.g. ``sgd-deep`` is the online learner with one
hidden layer of 160 units and SGD).  Adding a method = one new module + one
line here.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from typing import Any

from vsml.errors import UserError, check_choice, closest
from vsml.learner import Learner

# name -> (module, field values that define the method)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "vsml": ("vsml.model", {}),
    "metarnn": ("baselines.metarnn", {}),
    "hebbian": ("baselines.hebbian", {}),
    "fwmemory": ("baselines.fwmemory", {}),
    "sgd-shallow": ("baselines.online", {"optimizer": "sgd", "hidden_sizes": ()}),
    "sgd-deep": ("baselines.online", {"optimizer": "sgd", "hidden_sizes": (160,)}),
    "adam-shallow": ("baselines.online", {"optimizer": "adam", "hidden_sizes": ()}),
    "adam-deep": ("baselines.online", {"optimizer": "adam", "hidden_sizes": (160,)}),
}


def method_module(method: str):
    check_choice("method", method, METHODS)
    return importlib.import_module(METHODS[method][0])


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Convert a config value (from YAML/JSON/CLI) to the annotated field type."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is bool or annotation == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise UserError(f"config key {name!r} must be true or false, got {value!r}")
    if annotation in (int, float, str) or annotation in ("int", "float", "str"):
        typ = {"int": int, "float": float, "str": str}.get(annotation, annotation)
        if typ is int and isinstance(value, float) and not value.is_integer():
            raise UserError(f"config key {name!r} must be an integer, got {value!r}")
        if isinstance(value, bool) and typ is not str:
            raise UserError(f"config key {name!r} must be a number, got {value!r}")
        try:
            return typ(value)
        except (TypeError, ValueError):
            raise UserError(
                f"config key {name!r} must be of type {typ.__name__}, got {value!r}"
            ) from None
    if origin is tuple:
        if isinstance(value, (int, float)):
            value = (value,)
        if isinstance(value, str):
            value = tuple(v for v in value.strip("()[] ").split(",") if v.strip())
        if not isinstance(value, (list, tuple)):
            raise UserError(f"config key {name!r} must be a list, got {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(name, v, item) for v in value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0])
    return value


def build_config(cls: type, values: dict[str, Any], where: str = "config") -> Any:
    """Instantiate dataclass ``cls`` from ``values``, rejecting unknown keys and bad types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise UserError(
                f"unknown {where} key {key!r}{closest(key, fields)}; valid keys: "
                + ", ".join(sorted(fields))
            )
        kwargs[key] = _coerce(f"{where}.{key}", value, hints[key])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, UserError):
            raise
        raise UserError(f"invalid {where}: {err}") from None


def method_config(method: str, overrides: dict[str, Any] | None = None) -> Any:
    """The ``Config`` of ``method`` with its defining values and the user's overrides."""
    module = method_module(method)
    fixed = METHODS[method][1]
    overrides = dict(overrides or {})
    clash = {k for k in overrides if k in fixed and _coerce(k, overrides[k], type(fixed[k]) if not
             isinstance(fixed[k], tuple) else tuple[int, ...]) != fixed[k]}
    if clash:
        raise UserError(
            f"method {method!r} fixes {sorted(clash)}; choose another method instead "
            f"(valid: {', '.join(METHODS)})"
        )
    return build_config(module.Config, {**fixed, **overrides}, where=f"{method} model")


def make_learner(
    method: str,
    input_shape: tuple[int, ...],
    num_outputs: int,
    overrides: dict[str, Any] | None = None,
) -> Learner:
    """Build the learner ``method`` for inputs of ``input_shape`` and ``num_outputs`` classes."""
    config = method_config(method, overrides)
    return method_module(method).make_learner(config, tuple(input_shape), int(num_outputs))
