"""Command-line interface: ``sclong-tl <command> ...``.

Each command lives in its own module under :mod:`sclong_tl._commands` and exposes ``add_parser(subparsers)``
(registering its arguments and ``func``); they are imported only when the CLI runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command name -> module implementing it
COMMANDS: dict[str, str] = {
    "convert": "sclong_tl._commands.convert",
    "download": "sclong_tl._commands.download",
    "embed": "sclong_tl._commands.embed",
    "pretrain": "sclong_tl._commands.pretrain",
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(prog="sclong-tl", description="scLong foundation model tools.")
    parser.add_argument("--version", action="store_true", help="print the package version and exit")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a command fails")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:  # a command whose module is not part of this build
            if err.name != module_name:
                raise
            continue
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"sclong-tl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one clear line; --debug shows where it came from
        if args.debug:
            raise
        print(f"sclong-tl {args.command}: error: {one_line(err)} (--debug shows the traceback)", file=sys.stderr)
        return 1


def one_line(error: BaseException) -> str:
    """The error as one line: its message (or its type when it has none), newlines folded."""
    message = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in message:
        message = f"{message}: {error.filename}"
    return message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
