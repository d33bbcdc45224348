"""``repsim-jax export``: a workdir's models on one split as ``.npz`` files."""

from __future__ import annotations

from repsim_jax.cli._args import SEED, add_split_argument
from repsim_jax.cli._parser import add_command
from repsim_jax.export import export


def _handle(args, extra) -> int:
    for path in export(args.workdir, args.out, args.split, args.seed):
        print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "export",
        "Write a workdir's models as .npz files (embeddings, unembeddings, logits, labels)",
        [
            "repsim-jax export --workdir=runs/smoke/teacher --out=teacher.npz",
            "repsim-jax export --workdir=runs/smoke/students/l2 --out=l2.npz --split=ood",
        ],
        "One file per model: a group of seeds writes OUT_seed<s>.npz per seed (or --seed S: OUT.npz).\n"
        "A language model's rows are the split's token positions (embeddings = final hidden states, labels =\n"
        "next tokens); its logits are left out, said in one line, beyond 5e7 entries (they are f @ g.T).",
    )
    parser.add_argument("--workdir", required=True, help="a workdir written by repsim-jax")
    parser.add_argument("--out", required=True, help="OUT.npz (a group writes OUT_seed<s>.npz per seed)")
    parser.add_argument("--seed", type=int, valid=SEED, default=None, help="only this seed of a group")
    add_split_argument(parser)
    parser.set_defaults(func=_handle)
