"""The ``repsim-jax`` command: a thin dispatcher over the library.

Every handler raises ``ValueError`` (or ``OSError``) for bad input; ``main`` turns that
into one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from repsim_jax import bounds_commands, demo, reproduce_commands
from repsim_jax.compare import compare
from repsim_jax.io import load_pair
from repsim_jax.train import commands as train_commands


def _print_table(values: dict) -> None:
    for name, value in values.items():
        if name != "skipped":
            print(f"{name:24s} {value:.6g}")
    for name, reason in values.get("skipped", {}).items():
        print(f"{name:24s} skipped: {reason}")


def _compare(args, extra) -> int:
    a, b = load_pair(args.a, args.b)
    values = compare(a, b, seed=args.seed, num_pivots=args.pivots, num_subsets=args.subsets)
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        _print_table(values)
    return 0


def _add_compare(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="every metric between two saved representations (.npz)")
    parser.add_argument("a", help=".npz with embeddings (n, d) and optional unembeddings (K, d), logits (n, K)")
    parser.add_argument("b", help="the second model's .npz, same inputs")
    parser.add_argument("--json", action="store_true", help="print JSON keyed by metric function names")
    parser.add_argument("--pivots", type=int, default=10, help="pivot labels for rep_dissimilarity")
    parser.add_argument("--subsets", type=int, default=20, help="label subsets per pivot for rep_dissimilarity")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pivot/subset sample")
    parser.set_defaults(func=_compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repsim-jax", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_compare(subparsers)
    bounds_commands.register(subparsers)
    train_commands.register(subparsers)
    demo.register(subparsers)
    reproduce_commands.register(subparsers)
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
    except (ValueError, OSError) as error:
        print(f"repsim-jax {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
