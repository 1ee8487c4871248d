"""The ``pynector`` command: batches of HTTP requests from the shell, and a demo.

The command is a client of the public API, in one module per concern:

* ``_args``: the argument parser;
* ``_input``: JSON Lines requests in, read lazily with bounded memory;
* ``_output``: one JSON record per result out;
* ``_run``: running a batch (the transport wrapper, signals, the ``batch`` command);
* ``_display``: statistics, the progress bar and log output;
* ``_demo``: ``pynector demo``;
* ``_common``: the constants and exit codes they share.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._args import build_parser
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    MAX_LINE_BYTES,
    _UsageError,
)
from ._demo import _demo_command
from ._run import _batch_command

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_INPUT",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_LINE_BYTES",
    "build_parser",
    "main",
]


async def _main(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return await _demo_command(args)
    return await _batch_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pynector`` command with *argv* (default: ``sys.argv[1:]``) and return the exit code.

    The console script and ``python -m pynector`` call this and exit with its result.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return trio.run(_main, args)
    except _UsageError as exc:
        sys.stderr.write(f"pynector: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
