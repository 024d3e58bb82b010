"""The pipeline config against its schema (``workflow/schemas/config.schema.yaml``).

The Snakefile validates ``config`` with ``snakemake.utils.validate`` (Snakemake's
convention) before it plans anything.  A jsonschema error is a paragraph with the schema
dumped into it, and Snakemake adds traceback lines around it; ``one_line`` turns the error
into the single line a user needs: the key, the value, and what is allowed, e.g.

    pipeline config: seeds = -4 is not allowed: must be an integer >= 1 (meta-test ...)

``typed_overrides`` first gives the ``--config`` values their types (Snakemake reads
nested scalars as strings), so that the schema judges what the pipeline will use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vsml.errors import closest

PREFIX = "pipeline config"
# keys of the config itself, not overrides of the selected scale's keys
TOP_LEVEL = ("scale", "scales", "data_dir", "jax_cache")
_TYPE_WORDS = {"integer": "an integer", "number": "a number", "boolean": "true or false",
               "string": "a string", "array": "a list", "object": "a mapping",
               "null": "null"}


def typed_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with its command-line overrides typed (``'2'`` -> 2, ``'false'`` -> False).

    Values from the config file already have their YAML types; the overrides are every
    top-level key but the config's own (``TOP_LEVEL``), and ``data_dir``/``jax_cache``
    given as ``null`` on the command line.
    """
    from vsml.repro.pipeline import typed

    out = dict(config)
    for key, value in config.items():
        if key == "scales":
            continue
        if key in ("data_dir", "jax_cache") and value == "null":
            out[key] = None
        elif key not in TOP_LEVEL:
            out[key] = typed(value)
    return out


def key_name(path: Iterable[Any]) -> str:
    """``['scales', 'mini', 'datasets', 2]`` -> ``scales.mini.datasets[2]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """What a (sub)schema allows, in words: ``an integer >= 1``, ``one of a, b``, ..."""
    schema = _resolve(schema, root)
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "anyOf" in schema or "oneOf" in schema:
        return " or ".join(describe(s, root) for s in schema.get("anyOf", schema.get("oneOf")))
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    words = " or ".join(_TYPE_WORDS.get(t, t) for t in types) or "a value"
    bounds = [f"{op} {schema[k]}" for k, op in (("minimum", ">="), ("maximum", "<="),
                                                ("exclusiveMinimum", ">"),
                                                ("exclusiveMaximum", "<")) if k in schema]
    if bounds:
        words += " " + " and ".join(bounds)
    if "array" in types and "items" in schema:
        item = describe(schema["items"], root)
        words += f" of {item}" if "enum" not in _resolve(schema["items"], root) else \
            f" of names, each {item}"
        if schema.get("minItems"):
            words += f" (at least {schema['minItems']})"
    if "object" in types and "properties" in schema and "patternProperties" not in schema:
        words += " with keys " + ", ".join(schema["properties"])
    if "object" in types and "patternProperties" in schema:
        words += " of section.key (e.g. es.pairs) to values"
    return words


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/name``), keeping a description given beside it."""
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **extra}
    return schema


def _valid_keys(schema: Mapping[str, Any]) -> list[str]:
    keys = list(schema.get("properties", {}))
    if "patternProperties" in schema:
        keys.append("section.key (e.g. es.pairs)")
    return keys


def message(error: Any, root: Mapping[str, Any]) -> str:
    """One line for a ``jsonschema.ValidationError`` of the pipeline config schema ``root``."""
    where = key_name(error.absolute_path)
    schema = _resolve(error.schema, root)
    about = f" ({schema['description']})" if schema.get("description") else ""
    value = error.instance
    kind = error.validator
    if kind == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        unknown = [k for k in value if k not in allowed
                   and not any(p.search(k) for p in patterns)]
        name = unknown[0] if unknown else "?"
        valid = _valid_keys(schema)
        scope = "" if not error.absolute_path else f" in {where}"
        return (f"{PREFIX}: unknown key {name!r}{scope}{closest(name, valid)}; valid keys: "
                + ", ".join(valid))
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return f"{PREFIX}: {where} lacks the key(s) {', '.join(missing)}{about}"
    if "propertyNames" in error.schema_path:  # a key (not a value) that is not allowed
        return (f"{PREFIX}: unknown key {value!r} in {where}{closest(value, schema['enum'])}; "
                f"valid keys: " + ", ".join(map(str, schema["enum"])))
    if kind == "uniqueItems":
        seen, dup = set(), None
        for item in value:
            if item in seen:
                dup = item
                break
            seen.add(item)
        return f"{PREFIX}: {where} = {value!r} lists {dup!r} twice{about}"
    if kind == "minProperties":
        return f"{PREFIX}: {where} must not be empty{about}"
    return (f"{PREFIX}: {where} = {value!r} is not allowed: must be "
            f"{describe(schema, root)}{about}")


def one_line(error: BaseException, schema_path: str | Path) -> str:
    """The one-line message for what ``snakemake.utils.validate(config, schema_path)`` raised.

    It raises a ``WorkflowError`` while handling the ``jsonschema`` error (its context);
    anything else (a schema file that cannot be read, say) keeps its own text, on one line.
    """
    import jsonschema
    import yaml

    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, jsonschema.ValidationError):
            with open(schema_path) as f:
                return message(cause, yaml.safe_load(f))
        cause = cause.__cause__ or cause.__context__
    return f"{PREFIX}: " + " ".join(str(error).split())
