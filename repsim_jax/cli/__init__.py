"""The ``repsim-jax`` command: one module per subcommand, each a thin layer over the library.

Every handler raises ``ValueError`` (or ``OSError``) for bad input; :func:`main` turns
that into one line on stderr and exit status 2, never a traceback. A training run that
produced a NaN/Inf loss exits with status 1 after one line.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import jax

from repsim_jax.cli import bounds, compare, demo, distill, evaluate, export, extract, reproduce, sweep, train
from repsim_jax.errors import InputError
from repsim_jax.train.loop import NonFiniteLossError

COMMANDS = (compare, bounds, export, extract, train, distill, evaluate, sweep, reproduce, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repsim-jax", description=__doc__.splitlines()[0])
    group = parser.add_argument_group("multi-host (every process runs the same command)")
    group.add_argument(
        "--distributed", action="store_true", help="jax.distributed.initialize() from the cluster environment"
    )
    group.add_argument("--coordinator", default="", help="host:port of process 0 (implies --distributed)")
    group.add_argument("--num_processes", type=int, default=None, help="number of processes (with --coordinator)")
    group.add_argument("--process_id", type=int, default=None, help="this process's index (with --coordinator)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def _initialise_distributed(args) -> None:
    """``jax.distributed.initialize`` for ``--distributed`` / ``--coordinator`` (CPU
    collectives through gloo, so a localhost multi-process run works on CPU too)."""
    if not (args.distributed or args.coordinator):
        return
    if args.coordinator and (args.num_processes is None or args.process_id is None):
        raise InputError("--coordinator needs --num_processes and --process_id")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(args.coordinator or None, args.num_processes, args.process_id)


def main(argv=None) -> int:
    """Runs the command line; returns the exit status."""
    warnings.formatwarning = lambda message, *_, **__: f"repsim-jax: warning: {message}\n"
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        _initialise_distributed(args)
        return args.func(args, extra)
    except NonFiniteLossError as error:
        print(f"repsim-jax {args.command}: stopped: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:
        print(f"repsim-jax {args.command}: error: {error}", file=sys.stderr)
        return 2
