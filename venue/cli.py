"""The ``sealbatch`` command line: one subcommand per module in venue/commands/.

Each command module exposes ``register(subparsers)``, which adds its parser
and sets ``func``; ``func(args) -> int`` returns the exit status. Modules
import their heavy dependencies inside ``func`` so that ``sealbatch clear``
starts fast.

Exit statuses: 0 success, 1 a check failed (e.g. an invalid proof),
2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

#: Subcommand modules, in the order ``sealbatch --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "sealbatch.venue.commands.demo",
    "sealbatch.venue.commands.clear",
    "sealbatch.venue.commands.prove",
    "sealbatch.venue.commands.verify",
    "sealbatch.venue.commands.replay",
    "sealbatch.venue.commands.serve",
    "sealbatch.venue.commands.resume",
    "sealbatch.venue.commands.keyper",
    "sealbatch.venue.commands.lab",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sealbatch",
        description="Sealed-order perpetuals: commit-reveal batch auctions with STARK-proved "
        "settlement.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
