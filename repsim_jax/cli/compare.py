"""``repsim-jax compare``: every metric between two models (``.npz`` files or workdirs),
or between every ordered pair of models in a directory (``--all-pairs DIR``)."""

from __future__ import annotations

import json

from repsim_jax import compare, plots
from repsim_jax.cli._args import add_pivot_arguments, add_split_argument, model_loader, pivot_options
from repsim_jax.export import model_paths
from repsim_jax.io import check_compatible, write_rows


def _print_table(values: dict) -> None:
    for name, value in values.items():
        if name != "skipped":
            print(f"{name:24s} {value:.6g}")
    for name, reason in values.get("skipped", {}).items():
        print(f"{name:24s} skipped: {reason}")


def _zoo(args, load) -> int:
    if args.models:
        raise ValueError("--all-pairs DIR takes no other model paths")
    rows = compare.all_pairs(model_paths(args.all_pairs), pivot_options(args), load)
    if args.out:
        write_rows(rows, args.out, lambda r: {k: v for k, v in r.items() if k != "skipped"})
    if args.plot:
        plots.model_zoo(rows, args.plot)
    print(json.dumps(rows, indent=2) if args.json else f"compared {len(rows)} ordered pairs")
    return 0


def _handle(args, extra) -> int:
    load = model_loader(args)
    if args.all_pairs:
        return _zoo(args, load)
    if len(args.models) != 2:
        raise ValueError("give two models A B (.npz files or workdirs), or --all-pairs DIR")
    (path_a, path_b) = args.models
    a, b = load(path_a), load(path_b)
    check_compatible(path_a, a, path_b, b)
    values = compare.compare(a, b, pivot_options(args))
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        _print_table(values)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="every metric between two models (.npz files or workdirs)")
    parser.add_argument(
        "models",
        nargs="*",
        help="A B: .npz files (embeddings, optional unembeddings, logits) "
        "or workdirs (GROUP/seed<s> for one seed of a group)",
    )
    parser.add_argument("--all-pairs", metavar="DIR", help="compare every ordered pair of the models in DIR")
    parser.add_argument("--json", action="store_true", help="print JSON keyed by metric function names")
    parser.add_argument("--out", metavar="FILE", help="--all-pairs: write the table (.csv, or .json)")
    parser.add_argument("--plot", metavar="FILE", help="--all-pairs: heatmaps and d_logit vs m_CCA (.png)")
    add_split_argument(parser)
    add_pivot_arguments(parser)
    parser.set_defaults(func=_handle)
