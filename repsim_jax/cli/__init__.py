"""The ``repsim-jax`` command: one module per subcommand, each a thin layer over the library.

Every handler raises ``ValueError`` (or ``OSError``) for bad input; :func:`main` turns
that into one line on stderr and exit status 2, never a traceback. A training run that
produced a NaN/Inf loss exits with status 1 after one line.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from repsim_jax.cli import bounds, compare, demo, distill, evaluate, export, extract, reproduce, sweep, train
from repsim_jax.train.loop import NonFiniteLossError

COMMANDS = (compare, bounds, export, extract, train, distill, evaluate, sweep, reproduce, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repsim-jax", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv=None) -> int:
    """Runs the command line; returns the exit status."""
    warnings.formatwarning = lambda message, *_, **__: f"repsim-jax: warning: {message}\n"
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args, extra)
    except NonFiniteLossError as error:
        print(f"repsim-jax {args.command}: stopped: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"repsim-jax {args.command}: error: {error}", file=sys.stderr)
        return 2
