"""The ``vsml`` command line: every pipeline step is one sub-command.

User mistakes (``UserError``) print one line and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vsml.errors import UserError

# Modules that each provide ``register(subparsers)`` adding their sub-command(s).
COMMAND_MODULES = (
    "vsml.describe",
    "vsml.bench",
    "vsml.meta_train",
    "vsml.meta_test",
    "baselines.lr_search",
    "vsml.aggregate",
    "vsml.figures",
    "vsml.claims",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own mistakes: exit 2 as well
        self.print_usage(sys.stderr)
        print(f"vsml: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vsml", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except UserError as err:
        print(f"vsml {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
