"""``repsim-jax compare``: every metric between two models (``.npz`` files or workdirs),
between every ordered pair of models in a directory (``--all-pairs DIR``), or between
two local Hugging Face causal LMs streamed over a text file (``--hf A --hf B --text F``,
with the three logit bounds, in memory independent of the number of tokens)."""

from __future__ import annotations

import json

from repsim_jax import bound_table, compare, plots
from repsim_jax.cli._args import (
    add_comparison_arguments,
    check_plot_path,
    check_suffix,
    hf_options,
    import_hf,
    pivot_options,
)
from repsim_jax.cli._parser import add_command
from repsim_jax.errors import InputError
from repsim_jax.export import model_loader, model_paths
from repsim_jax.io import check_compatible, write_rows
from repsim_jax.layer_compare import LAYER_METRICS
from repsim_jax.lm.layers import parse_layer_pair


def _show(args, values: dict, print_text) -> int:
    """``values`` as JSON with ``--json``, else as ``print_text`` prints them."""
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        print_text(values)
    return 0


def _print_table(values: dict) -> None:
    for name, value in values.items():
        if name != "skipped":
            print(f"{name:24s} {value:.6g}")
    for name, reason in values.get("skipped", {}).items():
        print(f"{name:24s} skipped: {reason}")


def _zoo(args, load) -> int:
    if args.models:
        raise InputError("--all-pairs DIR takes no other model paths")
    check_suffix("--out", args.out, (".csv", ".json"))
    check_plot_path(args.plot)
    rows = compare.all_pairs(model_paths(args.all_pairs), pivot_options(args), load)
    if args.out:
        write_rows(rows, args.out, lambda r: {k: v for k, v in r.items() if k != "skipped"})
    if args.plot:
        plots.model_zoo(rows, args.plot)
    print(json.dumps(rows, indent=2) if args.json else f"compared {len(rows)} ordered pairs")
    return 0


def _print_streamed(values: dict) -> None:
    """Metrics first, then the bounds (lhs, rhs, verdict)."""
    for name, value in sorted(values.items(), key=lambda item: isinstance(item[1], dict)):
        if isinstance(value, dict):
            rhs, verdict = bound_table.rhs_text(value, ".6g"), bound_table.verdict(value)
            print(f"{name:24s} lhs {value['lhs']:.6g} rhs {rhs} {verdict}")
        else:
            print(f"{name:24s} {value:.6g}")


def _hf_texts(args):
    if not args.text or args.models:
        raise InputError("give --hf MODEL_DIR ... --text FILE (local causal LM directories), and no other model paths")
    return import_hf().read_texts(args.text)


def _language_models(args) -> int:
    if len(args.hf) != 2:
        raise InputError("give exactly --hf A --hf B --text FILE (two local causal LM directories), or --all-pairs")
    from repsim_jax.adapters.lm_compare import compare_language_models

    values = compare_language_models(*args.hf, _hf_texts(args), pivot_options=pivot_options(args), **hf_options(args))
    return _show(args, values, _print_streamed)


def _language_model_zoo(args) -> int:
    check_suffix("--out", args.out, (".csv", ".json"))
    check_plot_path(args.plot)
    from repsim_jax.adapters.lm_compare import compare_language_model_zoo, zoo_row

    texts = _hf_texts(args)
    values = compare_language_model_zoo(args.hf, texts, pivot_options=pivot_options(args), **hf_options(args))
    rows = [zoo_row(args.hf[i], args.hf[j], pair) for (i, j), pair in values.items()]
    if args.out:
        write_rows(rows, args.out)
    if args.plot:
        plots.model_zoo(rows, args.plot)
    print(json.dumps(rows, indent=2) if args.json else f"compared {len(rows)} ordered pairs of {len(args.hf)} models")
    return 0


def _grid_rows(result: dict) -> list[dict]:
    """One row per layer pair: ``layer_a``, ``layer_b`` and each metric."""
    names = [key for key in result if key not in ("tokens", "layers_1", "layers_2")]
    return [
        {"layer_a": a, "layer_b": b, **{name: result[name][i][j] for name in names}}
        for i, a in enumerate(result["layers_1"])
        for j, b in enumerate(result["layers_2"])
    ]


def _language_model_layers(args) -> int:
    if len(args.hf) != 2:
        raise InputError("--layer and --layer-grid compare two models: give exactly --hf A --hf B --text FILE")
    if args.layer and args.layer_grid:
        raise InputError("give --layer A:B (one layer pair) or --layer-grid (every pair), not both")
    check_suffix("--out", args.out, (".csv", ".json"))
    check_plot_path(args.plot)
    texts = _hf_texts(args)
    from repsim_jax.adapters.lm_compare import compare_layer_grid

    layers_a, layers_b = ((side,) for side in parse_layer_pair(args.layer)) if args.layer else (None, None)
    result = compare_layer_grid(*args.hf, texts, layers_a, layers_b, **hf_options(args))
    rows = _grid_rows(result)
    if args.out:
        write_rows(rows, args.out)
    if args.plot:
        plots.layer_grid(result, args.plot, model_names=tuple(args.hf))
    if args.json:
        print(json.dumps(result if args.layer_grid else {"tokens": result["tokens"], **rows[0]}, indent=2))
    else:
        for row in rows:
            print(
                f"layer {row['layer_a']!s:>5} : {row['layer_b']!s:<5} "
                + "  ".join(f"{name} {row[name]:.6g}" for name in LAYER_METRICS)
            )
    return 0


def _handle(args, extra) -> int:
    if args.hf and (args.layer or args.layer_grid):
        return _language_model_layers(args)
    if args.hf and args.all_pairs is not None:
        if args.all_pairs:
            raise InputError("--all-pairs with --hf takes no directory: --all-pairs --hf A --hf B ... --text FILE")
        return _language_model_zoo(args)
    if args.hf:
        return _language_models(args)
    if args.layer or args.layer_grid:
        raise InputError("--layer and --layer-grid need two local causal LMs: --hf A --hf B --text FILE")
    load = model_loader(args.split)
    if args.all_pairs is not None:
        if not args.all_pairs:
            raise InputError("--all-pairs needs a directory DIR, or --hf A --hf B ... --text FILE")
        return _zoo(args, load)
    if len(args.models) != 2:
        raise InputError("give two models A B (.npz files or workdirs), or --all-pairs DIR")
    (path_a, path_b) = args.models
    a, b = load(path_a), load(path_b)
    check_compatible(path_a, a, path_b, b)
    values = compare.compare(a, b, pivot_options(args))
    return _show(args, values, _print_table)


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "compare",
        "Every similarity metric between two models (.npz files or workdirs)",
        [
            "repsim-jax compare a.npz b.npz --json",
            "repsim-jax compare runs/smoke/teacher runs/smoke/students/l2/seed0",
            "repsim-jax compare --all-pairs runs/smoke/students --out zoo.csv --plot zoo.png",
            "repsim-jax compare --hf ./gpt2 --hf ./distilgpt2 --text lines.txt --max-tokens 20000",
            "repsim-jax compare --hf ./gpt2 --hf ./distilgpt2 --text lines.txt --layer 6:3",
            "repsim-jax compare --hf ./gpt2 --hf ./distilgpt2 --text lines.txt --layer-grid --plot layers.png",
            "repsim-jax compare --all-pairs --hf ./a --hf ./b --hf ./c --text lines.txt --out zoo.csv --plot zoo.png",
        ],
        "Or every ordered pair of the models in a directory (--all-pairs DIR), or two local Hugging Face\n"
        "causal LMs streamed over a text file (--hf A --hf B --text FILE, with the three logit bounds,\n"
        "in memory independent of the number of tokens), at chosen layers (--layer A:B, --layer-grid),\n"
        "or every ordered pair of M such models, each run once per batch (--all-pairs --hf A --hf B ...).",
    )
    parser.add_argument(
        "models",
        nargs="*",
        help="A B: .npz files (embeddings, optional unembeddings, logits) "
        "or workdirs (GROUP/seed<s> for one seed of a group)",
    )
    parser.add_argument(
        "--all-pairs",
        nargs="?",
        const="",
        metavar="DIR",
        help="compare every ordered pair of the models in DIR, or (no DIR) of the --hf models in one pass",
    )
    parser.add_argument("--json", action="store_true", help="print JSON keyed by metric function names")
    parser.add_argument("--out", metavar="FILE", help="--all-pairs, --layer[-grid]: write the table (.csv, or .json)")
    parser.add_argument(
        "--plot", metavar="FILE", help="--all-pairs: heatmaps and d_logit vs m_CCA; --layer-grid: heatmaps (.png)"
    )
    parser.add_argument(
        "--hf", action="append", metavar="MODEL_DIR", help="a local causal LM directory (twice; more with --all-pairs)"
    )
    parser.add_argument(
        "--layer",
        metavar="A:B",
        help="--hf: compare model A's layer A with model B's layer B (block index from 0, or final; L means L:L): "
        "m_CCA, CKA, Procrustes, affine R²",
    )
    parser.add_argument(
        "--layer-grid",
        action="store_true",
        help="--hf: every layer of A against every layer of B in one pass (--out table, --plot heatmaps)",
    )
    add_comparison_arguments(parser, "compare")
    parser.set_defaults(func=_handle)
