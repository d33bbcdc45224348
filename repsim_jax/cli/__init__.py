"""The ``repsim-jax`` command: one module per subcommand, each a thin layer over the library.

Every handler raises :class:`~repsim_jax.errors.InputError` (or ``OSError``) for bad
input; :func:`main` prints it as one line on stderr, exit status 2, and keeps the
traceback of anything else (a bug); see :mod:`repsim_jax.cli._errors`. A training run
that produced a NaN/Inf loss exits with status 1 after one line; Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys
import warnings

import jax

from repsim_jax import __version__
from repsim_jax.cli import (
    bounds,
    compare,
    curves,
    demo,
    distill,
    evaluate,
    export,
    extract,
    linear,
    reproduce,
    sweep,
    train,
    transfer,
)
from repsim_jax.cli._errors import INTERRUPTED, HeldNoise, failure_message
from repsim_jax.cli._parser import OptionError, Parser
from repsim_jax.config import ValueRange
from repsim_jax.errors import InputError
from repsim_jax.train.loop import NonFiniteLossError

COMMANDS = (
    compare,
    bounds,
    export,
    extract,
    train,
    distill,
    evaluate,
    sweep,
    curves,
    reproduce,
    transfer,
    linear,
    demo,
)

SUMMARY = """\
Compare trained models by what their representations share (mean CCA, d_rep, logit
distance, KL), check the bounds that tie logits to representations, and train, distil
and sweep models in JAX, up to the paper's experiments end to end."""

EXAMPLES = """\
examples:
  repsim-jax reproduce synthetic --preset smoke --out runs/smoke
  repsim-jax compare a.npz b.npz
  repsim-jax bounds runs/smoke/teacher --students runs/smoke/students
  repsim-jax COMMAND --help"""


def build_parser() -> Parser:
    parser = Parser(prog="repsim-jax", description=SUMMARY, epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"repsim-jax {__version__}")
    group = parser.add_argument_group("multi-host (every process runs the same command)")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="jax.distributed.initialize() from the cluster environment",
        group=group,
    )
    parser.add_argument(
        "--coordinator",
        default="",
        metavar="HOST:PORT",
        help="host:port of process 0 (implies --distributed)",
        group=group,
    )
    parser.add_argument(
        "--num-processes",
        type=int,
        valid=ValueRange(int, 1),
        default=None,
        metavar="N",
        help="number of processes (with --coordinator)",
        group=group,
    )
    parser.add_argument(
        "--process-id",
        type=int,
        valid=ValueRange(int, 0),
        default=None,
        metavar="I",
        help="this process's index (with --coordinator)",
        group=group,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def _initialise_distributed(args) -> None:
    """``jax.distributed.initialize`` for ``--distributed`` / ``--coordinator`` (CPU
    collectives through gloo, so a localhost multi-process run works on CPU too)."""
    if not (args.distributed or args.coordinator):
        return
    if args.coordinator and (args.num_processes is None or args.process_id is None):
        raise InputError("--coordinator needs --num-processes and --process-id")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(args.coordinator or None, args.num_processes, args.process_id)
    except (RuntimeError, ValueError) as error:  # unreachable coordinator, missing cluster environment
        where = f"--coordinator {args.coordinator}" if args.coordinator else "--distributed"
        raise InputError(f"{where}: jax.distributed.initialize failed: {' '.join(str(error).split())}") from None


def _one_line_warning(message, *_, **__) -> str:
    return f"repsim-jax: warning: {message}\n"


def _run(args, extra, held: HeldNoise) -> int:
    """The command's exit status; a user's error printed as one line (see :mod:`._errors`)."""
    command = f"repsim-jax {args.command}"
    try:
        _initialise_distributed(args)
        return args.func(args, extra)
    except NonFiniteLossError as error:
        print(f"{command}: stopped: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        held.discard()
        print(f"{command}: {INTERRUPTED}", file=sys.stderr)
        return 130
    except Exception as error:
        message = failure_message(error, getattr(args, "workdir", None) or getattr(args, "out", None))
        if message is None:
            raise
        held.discard()
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    """Runs the command line; returns the exit status. Warnings print as one line
    (``repsim-jax: warning: ...``) while it runs; the caller's format is restored after."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except OptionError as error:
        print(f"{error.command}: error: {error}", file=sys.stderr)
        return 2
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    original_format = warnings.formatwarning
    warnings.formatwarning = _one_line_warning
    held = HeldNoise.install()
    try:
        return _run(args, extra, held)
    finally:
        held.release()
        warnings.formatwarning = original_format
