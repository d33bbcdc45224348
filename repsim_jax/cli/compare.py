"""``repsim-jax compare A.npz B.npz``: every metric between two saved representations."""

from __future__ import annotations

import json

from repsim_jax.cli._args import add_pivot_arguments, pivot_options
from repsim_jax.compare import compare
from repsim_jax.io import load_pair


def _print_table(values: dict) -> None:
    for name, value in values.items():
        if name != "skipped":
            print(f"{name:24s} {value:.6g}")
    for name, reason in values.get("skipped", {}).items():
        print(f"{name:24s} skipped: {reason}")


def _handle(args, extra) -> int:
    a, b = load_pair(args.a, args.b)
    values = compare(a, b, pivot_options(args))
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        _print_table(values)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="every metric between two saved representations (.npz)")
    parser.add_argument("a", help=".npz with embeddings (n, d) and optional unembeddings (K, d), logits (n, K)")
    parser.add_argument("b", help="the second model's .npz, same inputs")
    parser.add_argument("--json", action="store_true", help="print JSON keyed by metric function names")
    add_pivot_arguments(parser)
    parser.set_defaults(func=_handle)
