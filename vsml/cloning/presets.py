"""Scale presets (smoke / mini / paper) and the pipeline's config/cloning.yaml settings."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from vsml.errors import UserError, check_choice

if TYPE_CHECKING:

    pass


SCALES = ("smoke", "mini", "paper")


# ---------------------------------------------------------------------- scale presets


@dataclasses.dataclass(frozen=True)
class Preset:
    forward_steps: int
    backprop_steps: int
    clone_batch: int
    image_size: int | None  # inputs resized to s x s (None: 28 x 28 as in the paper)
    shadow_steps: int
    eval_steps: int
    eval_batch: int
    seeds: int
    test_examples: int  # 0: the whole test split
    curve_every: int  # CSV rows every k steps
    forward_batch: int = 512  # clone-forward's batch (synapse samples)
    hidden: int = 32  # hidden units of the deep arrangement (App. B.1: one layer of 32)


PRESETS = {
    "smoke": Preset(300, 300, 256, 7, 200, 40, 8, 2, 200, 2),
    "mini": Preset(3000, 2500, 512, 14, 800, 400, 16, 3, 1000, 5),
    "paper": Preset(20000, 20000, 1024, None, 5000, 40000, 64, 6, 0, 100),
}


def preset(scale: str) -> Preset:
    return PRESETS[check_choice("scale", scale, PRESETS)]


def image_size_arg(text: str) -> int | None:
    """``--image-size``: an integer s (inputs resized to s x s) or ``native`` (28 x 28)."""
    if text.lower() == "native":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'native', got {text!r}") \
            from None
    if not 1 <= value <= 512:
        raise argparse.ArgumentTypeError(f"image size must be in 1..512, got {value}")
    return value


# ------------------------------------------------- the pipeline's config/cloning.yaml

PIPELINE_KEYS = {
    "image_size": None,
    "forward": ("steps", "batch"),
    "shallow": ("steps", "batch", "shadow_steps"),
    "deep": ("steps", "batch", "shadow_steps", "hidden", "init_from_shallow"),
    "eval": ("datasets", "seeds", "steps", "batch", "test_examples", "curve_every"),
    "threads": ("train", "eval"),
}
EVAL_DATASETS = ("mnist", "fashion_mnist")


def pipeline_settings(config: dict, scale: str) -> dict:
    """The settings of ``scale`` in config/cloning.yaml (parsed), checked: every key present,
    no unknown key, positive integers, known datasets.  Raises ``UserError``."""
    scales = (config or {}).get("scales") or {}
    check_choice("cloning scale", scale, scales)
    settings = scales[scale] or {}
    where = f"config/cloning.yaml scale {scale!r}"
    for key in settings:
        check_choice(f"key of {where}", key, PIPELINE_KEYS)
    for key, subkeys in PIPELINE_KEYS.items():
        if key not in settings:
            raise UserError(f"{where} lacks the key {key!r}")
        if subkeys is None:
            continue
        section = settings[key]
        if not isinstance(section, dict):
            raise UserError(f"{where}: {key} must be a mapping of {', '.join(subkeys)}")
        for sub in section:
            check_choice(f"key of {where} {key}", sub, subkeys)
        for sub in subkeys:
            if sub not in section:
                raise UserError(f"{where}: {key} lacks {sub!r}")
            value = section[sub]
            if sub == "datasets":
                if not value or not isinstance(value, list):
                    raise UserError(f"{where}: eval.datasets must be a non-empty list")
                for d in value:
                    check_choice("clone-eval dataset", d, EVAL_DATASETS)
            elif sub == "init_from_shallow":
                if not isinstance(value, bool):
                    raise UserError(f"{where}: deep.init_from_shallow must be true or false")
            elif (not isinstance(value, int) or isinstance(value, bool)
                  or value < (0 if sub == "test_examples" else 1)):
                raise UserError(f"{where}: {key}.{sub} must be a positive integer, got {value!r}")
    size = settings["image_size"]
    if size is not None and (not isinstance(size, int) or not 1 <= size <= 512):
        raise UserError(f"{where}: image_size must be null or an integer in 1..512")
    return settings


def pipeline_args(settings: dict, job: str) -> list[str]:
    """Options of the clone-* command of a pipeline job (forward, shallow, deep, eval)."""
    check_choice("cloning job", job, ("forward", "shallow", "deep", "eval"))
    size = settings["image_size"]
    image = ["--image-size", "native" if size is None else str(size)]
    sec = settings[job]
    if job == "forward":
        return ["--steps", str(sec["steps"]), "--batch", str(sec["batch"])]
    if job in ("shallow", "deep"):
        out = ["--depth", job, "--steps", str(sec["steps"]), "--batch", str(sec["batch"]),
               "--shadow-steps", str(sec["shadow_steps"]), *image]
        return out + (["--hidden", str(sec["hidden"])] if job == "deep" else [])
    return ["--datasets", ",".join(sec["datasets"]), "--seeds", str(sec["seeds"]),
            "--steps", str(sec["steps"]), "--batch", str(sec["batch"]),
            "--test-examples", str(sec["test_examples"]),
            "--curve-every", str(sec["curve_every"]), *image,
            "--hidden", str(settings["deep"]["hidden"])]


# command-line option -> Preset field, per command (an option left out keeps the preset's)
_OVERRIDES = {
    "forward": {"steps": "forward_steps", "batch": "forward_batch"},
    "backprop": {"steps": "backprop_steps", "batch": "clone_batch", "image_size": "image_size",
                 "shadow_steps": "shadow_steps", "hidden": "hidden"},
    "eval": {"steps": "eval_steps", "batch": "eval_batch", "image_size": "image_size",
             "seeds": "seeds", "test_examples": "test_examples",
             "curve_every": "curve_every", "hidden": "hidden"},
}
UNSET = object()


def preset_from_args(args: argparse.Namespace, command: str) -> Preset:
    """The ``--scale`` preset with the command's explicit options (the pipeline's
    config/cloning.yaml values) written over it."""
    pr = preset(args.scale)
    over = {}
    for option, field in _OVERRIDES[command].items():
        value = getattr(args, option, UNSET)
        if value is UNSET or (option in ("steps", "seeds") and value == 0):  # 0: preset's
            continue
        if option != "image_size" and (value < 0 or (value == 0 and option != "test_examples")):
            raise UserError(f"--{option.replace('_', '-')} must be > 0, got {value}")
        over[field] = value  # image_size None: native 28 x 28
    return dataclasses.replace(pr, **over)
