"""``repsim-jax transfer --small A --large B --layers i:j --text FILE --contrast POS NEG``:
steering-vector transfer between two language models (arXiv 2506.00653).

A and B are local Hugging Face causal LM directories (model and tokenizer; the ``[torch]``
extra) or language-model workdirs of ours (``GROUP/seed<s>`` for one seed; a model
trained on token ids reads each line as integer ids, e.g. ``0 5 12``). The protocol and
its formulas are :mod:`repsim_jax.lm.steering`'s: the ridge affine map from A's hidden
states after block i to B's after block j (held-out R²), A's steering vector (mean over
the POS prompts' tokens − mean over NEG's) carried through it, B's native vector and
random directions of the carried vector's norm, each added to B's residual stream after
block j at every ``--scales`` value; the effects on B's next-token distributions over
the held-out texts (shift in log-probability of the ``--targets`` tokens, KL to the
unsteered model) as a table (``--out``, CSV) and a figure (``--plot``, PNG).
"""

from __future__ import annotations

import csv
import pathlib

from repsim_jax.cli._args import COUNT, SEED, check_suffix, print_note
from repsim_jax.cli._parser import add_command
from repsim_jax.config import ValueRange
from repsim_jax.errors import InputError
from repsim_jax.io import read_texts

COLUMNS = ("vector", "scale", "logprob_shift", "logprob_shift_std", "kl", "kl_std")


def target_ids(model, args, positive: list[str], negative: list[str]) -> list[int]:
    """The target tokens: those of the ``--targets`` file's words (each one token), or by
    default the tokens of the POS prompts that no NEG prompt has."""
    if args.targets:
        return sorted({model.token_id(word) for line in read_texts(args.targets) for word in line.split()})
    found = {i for text in positive for i in model.encode(text)} - {i for text in negative for i in model.encode(text)}
    if not found:
        raise InputError(f"{args.contrast[0]}: no token of the POS prompts is absent from NEG's; pass --targets")
    return sorted(found)


def _layers(text: str) -> tuple[int, int]:
    from repsim_jax.lm.layers import FINAL, parse_layer_pair

    layers = parse_layer_pair(text, "--layers")
    if FINAL in layers:
        raise InputError("--layers: steering acts on the residual stream after a block; give block indices, e.g. 1:3")
    return layers


def _write_table(path: str, rows: list[dict]) -> None:
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in COLUMNS} for row in rows)


def _handle(args, extra) -> int:
    from repsim_jax import plots
    from repsim_jax.lm.steering import check_layers, load_steerable, transfer

    check_suffix("--out", args.out, (".csv",))
    check_suffix("--plot", args.plot, (".png",))
    layers = _layers(args.layers)
    texts, positive, negative = read_texts(args.text), *map(read_texts, args.contrast)
    print_note(args, f"loading {args.small} and {args.large}")
    small, large = load_steerable(args.small), load_steerable(args.large)
    check_layers(small, large, layers)
    targets = target_ids(large, args, positive, negative)
    options = {"ridge": args.ridge, "random_draws": args.random_draws, "seed": args.seed}
    result = transfer(small, large, layers, texts, (positive, negative), targets, sorted(set(args.scales)), **options)
    print(
        f"affine map {args.small} block {layers[0]} -> {args.large} block {layers[1]}: held-out R² = {result.r2:.4f}; "
        f"cos(transferred, native) = {result.cosine:.4f}, |transferred|/|native| = {result.norm_ratio:.4f}; "
        f"{len(targets)} target tokens"
    )
    print(f"{'vector':<12} {'scale':>7} {'Δlogp(targets)':>15} {'KL':>10}")
    for row in result.rows:
        print(f"{row['vector']:<12} {row['scale']:>7g} {row['logprob_shift']:>15.4f} {row['kl']:>10.4f}")
    if args.out:
        _write_table(args.out, result.rows)
        print(f"wrote {args.out}")
    if args.plot:
        title = f"steering {args.large} after block {layers[1]} (R² = {result.r2:.3f}, cos = {result.cosine:.3f})"
        plots.steering_transfer(result.rows, args.plot, title)
        print(f"wrote {args.plot}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "transfer",
        "Carry a steering vector from a small LM to a large one through an affine map of hidden states",
        [
            "repsim-jax transfer --small ./gpt2 --large ./gpt2-medium --layers 6:12 --text lines.txt "
            "--contrast pos.txt neg.txt --targets words.txt --out transfer.csv --plot transfer.png",
            "repsim-jax transfer --small runs/lm/students/l2/seed0 --large runs/lm/teacher --layers 1:1 "
            "--text ids.txt --contrast topic1.txt topic0.txt --scales 1 2 4 8",
        ],
        "Models: Hugging Face causal LM directories (the [torch] extra) or LM workdirs of ours; both must\n"
        "tokenize alike. Layer L is the residual stream after block L (0-based). The map is fitted on the\n"
        "first 4/5 of the --text lines, R² and the effects are measured on the last 1/5. The random control\n"
        "is the mean effect of --random-draws Gaussian directions of the transferred vector's norm.",
    )
    parser.add_argument("--small", required=True, metavar="MODEL", help="model A (the source of the steering vector)")
    parser.add_argument("--large", required=True, metavar="MODEL", help="model B (steered)")
    parser.add_argument("--layers", required=True, metavar="I:J", help="A's block i and B's block j (one index: both)")
    parser.add_argument("--text", required=True, metavar="FILE", help="UTF-8 text, one input per non-empty line")
    parser.add_argument(
        "--contrast", required=True, nargs=2, metavar=("POS", "NEG"), help="two files of contrast prompts, one a line"
    )
    parser.add_argument(
        "--targets",
        default=None,
        metavar="FILE",
        help="words (one token each) whose log-probability shift is measured (default: POS tokens absent from NEG)",
    )
    parser.add_argument(
        "--scales",
        nargs="+",
        type=float,
        valid=ValueRange(float, 0.0, each=True),
        default=[0.5, 1.0, 2.0, 4.0],
        metavar="S",
        help="steering scales (default 0.5 1 2 4)",
    )
    parser.add_argument(
        "--ridge", type=float, valid=ValueRange(float, 0.0), default=1e-3, help="ridge λ / (tr XᵀX / d) (default 1e-3)"
    )
    parser.add_argument("--random-draws", type=int, valid=COUNT, default=8, help="random directions (default 8)")
    parser.add_argument("--seed", type=int, valid=SEED, default=0, help="seed of the random directions (default 0)")
    parser.add_argument("--out", default=None, metavar="CSV", help="write the table here")
    parser.add_argument("--plot", default=None, metavar="PNG", help="write the figure here")
    parser.add_argument("--quiet", action="store_true", help="no progress notes")
    parser.set_defaults(func=_handle)
