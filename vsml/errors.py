"""User-facing errors: the CLI turns these into a one-line message and exit code 2."""

from __future__ import annotations

import difflib


class UserError(ValueError):
    """A mistake in the user's input (names, shapes, files, config values)."""


def closest(name: str, choices) -> str:
    """A hint naming the nearest valid choice, e.g. " (did you mean 'mnist'?)"."""
    match = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_choice(kind: str, name: str, choices) -> str:
    """Return ``name`` if it is one of ``choices``, else raise a UserError listing them."""
    if name not in choices:
        raise UserError(
            f"unknown {kind} {name!r}{closest(name, choices)}; valid choices: "
            + ", ".join(sorted(map(str, choices)))
        )
    return name
