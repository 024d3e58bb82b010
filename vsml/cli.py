"""The ``vsml`` command line: every pipeline step is one sub-command.

User mistakes (``UserError``) print one line and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vsml.errors import UserError

# sub-command -> module providing ``register(subparsers)`` (it may add several commands).
# Only the module of the command being run is imported: pipeline jobs start faster.
COMMANDS = {
    "describe": "vsml.describe",
    "bench": "vsml.bench",
    "meta-train": "vsml.meta.meta_train",
    "meta-test": "vsml.meta.meta_test",
    "lr-search": "baselines.lr_search",
    "aggregate": "vsml.repro.aggregate",
    "figure": "vsml.repro.figures",
    "claims": "vsml.repro.claims",
    "plan": "vsml.repro.cost",
    "introspect-table": "vsml.repro.introspection",
    "introspect-figure": "vsml.repro.introspection",
    "horizon-table": "vsml.repro.introspection",
    "horizon-figure": "vsml.repro.introspection",
    "fewshot-aggregate": "vsml.repro.appendix_train",
    "appendix-figure": "vsml.repro.appendix_train",
    "clone-forward": "vsml.cloning.cli",
    "clone-backprop": "vsml.cloning.cli",
    "clone-eval": "vsml.cloning.cli",
    "clone-figure": "vsml.cloning.cli",
    "clone-table": "vsml.cloning.cli",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own mistakes: exit 2 as well
        self.print_usage(sys.stderr)
        print(f"vsml: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _configure_cpu(args: argparse.Namespace) -> None:
    from vsml import cpu

    if cpu.jax_started():  # in-process calls (tests) after JAX started: too late to change
        if args.threads is not None:
            print(f"vsml: --threads {args.threads} ignored: JAX is already initialised",
                  file=sys.stderr)
        return
    cpu.configure(args.threads)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser for ``command`` alone, or for every command (help, unknown commands)."""
    parser = _Parser(prog="vsml", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads`` on every sub-command (see vsml.cpu: one XLA CPU device per thread)."""
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            if "--threads" not in sub._option_string_actions:
                sub.add_argument("--threads", type=int, default=None,
                                 help="CPU cores to use, one XLA device each (default: "
                                      "$VSML_THREADS, else all; see docs/performance.md)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    _add_threads_option(parser)
    args = parser.parse_args(argv)
    try:
        _configure_cpu(args)
        result = args.func(args)
    except UserError as err:
        print(f"vsml {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


def run_command(command: str, argv=None) -> int:
    """``vsml COMMAND ARGV`` as a function returning the exit code (tests, ``python -m``)."""
    try:
        return main([command, *(argv or [])])
    except SystemExit as err:
        return int(err.code or 0) if not isinstance(err.code, str) else 1


if __name__ == "__main__":
    raise SystemExit(main())
