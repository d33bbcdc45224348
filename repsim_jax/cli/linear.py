"""``repsim-jax linear --model A [--model B ...] --pairs FILE``: relational linearity of
language models (arXiv 2410.23501), the parallelism of the differences of concept pairs.

Per model and relation, in f-space (final hidden states at the tokens) and in g-space
(unembedding rows), the mean cosine between the pairs' differences and the shuffled-pair
baseline (:mod:`repsim_jax.lm.linear_properties`). Models are Hugging Face causal LM
directories (the ``[torch]`` extra) or LM workdirs of ours; ``--students DIR`` adds every
workdir (and seed) inside DIR. With ``--text``, each model's ``d_logit`` to the first
model on those texts stands beside its rows: does the property hold in all the models of
(nearly) one distribution, or in none? ``--concepts`` takes the relations of the concept
language (per concept c, the pairs ``(W_{c,0}[k], W_{c,1}[k])``) instead of a pairs file.
"""

from __future__ import annotations

import csv
import pathlib

from repsim_jax.cli._args import COUNT, SEED, check_suffix, print_note
from repsim_jax.cli._parser import add_command
from repsim_jax.errors import InputError
from repsim_jax.io import read_texts

COLUMNS = ("model", "relation", "space", "parallelism", "baseline", "baseline_std", "logit_distance")


def _models(args) -> list[str]:
    from repsim_jax.export import model_paths

    paths = list(args.model or [])
    for directory in args.students or []:
        paths += model_paths(directory)
    if not paths:
        raise InputError("give at least one --model or --students")
    return paths


def _relations(args, given: dict | None, model) -> tuple[dict, str]:
    """``({name: pairs of words}, f-space prefix)``: the ``--pairs`` file's relation
    (``given``), or with ``--concepts`` the concept language's over the model's vocabulary,
    read after the beginning mark."""
    from repsim_jax.lm.concept_language import BOS
    from repsim_jax.lm.linear_properties import concept_pairs

    if given is not None:
        return given, args.prefix
    pairs = concept_pairs(model.vocab_size)
    return {name: [(str(a), str(b)) for a, b in ids] for name, ids in pairs.items()}, f"{BOS} "


def _rows(args) -> list[dict]:
    from repsim_jax.lm.linear_properties import logit_distances, model_relations, read_pairs
    from repsim_jax.lm.steering import load_steerable

    given = None if args.concepts else {pathlib.Path(args.pairs).stem: read_pairs(args.pairs)}
    texts = read_texts(args.text) if args.text else None
    paths = _models(args)
    models = []
    for path in paths:
        print_note(args, f"loading {path}")
        models.append(load_steerable(path))
    distances = [None] * len(models) if texts is None else logit_distances(models, texts)
    rows = []
    for path, model, distance in zip(paths, models, distances):
        relations, prefix = _relations(args, given, model)
        for row in model_relations(model, relations, prefix, args.shuffles, args.seed):
            rows.append({"model": path, **row, "logit_distance": distance})
    return rows


def _handle(args, extra) -> int:
    if bool(args.pairs) == bool(args.concepts):
        raise InputError("give exactly one of --pairs FILE and --concepts")
    check_suffix("--out", args.out, (".csv",))
    rows = _rows(args)
    print(f"{'model':<40} {'relation':<10} {'space':<5} {'parallel':>8} {'shuffled':>16} {'d_logit':>8}")
    for row in rows:
        distance = "" if row["logit_distance"] is None else f"{row['logit_distance']:.4f}"
        shuffled = f"{row['baseline']:.3f} ± {row['baseline_std']:.3f}"
        print(
            f"{row['model'][-40:]:<40} {row['relation']:<10} {row['space']:<5} {row['parallelism']:>8.4f} "
            f"{shuffled:>16} {distance:>8}"
        )
    if args.out:
        pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.out}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "linear",
        "Parallelism of concept-pair differences (relational linearity) in f- and g-space of LMs",
        [
            "repsim-jax linear --model ./gpt2 --model ./distilgpt2 --pairs superlatives.txt --text lines.txt",
            "repsim-jax linear --model runs/lm/teacher --students runs/lm/students --concepts --text ids.txt",
        ],
        "A pairs file has one pair a line, two words (one token each), e.g. 'easy easiest'. f-space: the\n"
        "final hidden state at the word read after --prefix; g-space: the word's unembedding row.\n"
        "Baseline: the pairs' 2P tokens shuffled and re-paired (expectation 0), mean ± std over --shuffles.",
    )
    parser.add_argument("--model", action="append", metavar="MODEL", help="an HF LM directory or LM workdir (repeat)")
    parser.add_argument("--students", action="append", metavar="DIR", help="every workdir and seed inside DIR")
    parser.add_argument("--pairs", default=None, metavar="FILE", help="the relation's pairs, one a line")
    parser.add_argument(
        "--concepts", action="store_true", help="the concept language's relations W_{c,0} -> W_{c,1}, one per concept"
    )
    parser.add_argument("--prefix", default="", help="text read before each word for f-space (default: none)")
    parser.add_argument("--text", default=None, metavar="FILE", help="texts for each model's d_logit to the first")
    parser.add_argument("--shuffles", type=int, valid=COUNT, default=20, help="shuffled re-pairings (default 20)")
    parser.add_argument("--seed", type=int, valid=SEED, default=0, help="seed of the shuffles (default 0)")
    parser.add_argument("--out", default=None, metavar="CSV", help="write the table here")
    parser.add_argument("--quiet", action="store_true", help="no progress notes")
    parser.set_defaults(func=_handle)
