"""``repsim-jax export``: a workdir's models on one split as ``.npz`` files."""

from __future__ import annotations

from repsim_jax.cli._args import add_split_argument
from repsim_jax.export import export


def _handle(args, extra) -> int:
    for path in export(args.workdir, args.out, args.split, args.seed):
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a workdir's models as .npz (embeddings, unembeddings, logits, labels)"
    )
    parser.add_argument("--workdir", required=True, help="a workdir written by repsim-jax")
    parser.add_argument("--out", required=True, help="OUT.npz (a group writes OUT_seed<s>.npz per seed)")
    parser.add_argument("--seed", type=int, default=None, help="only this seed of a group")
    add_split_argument(parser)
    parser.set_defaults(func=_handle)
