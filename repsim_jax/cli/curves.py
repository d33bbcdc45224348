"""``repsim-jax curves``: the students' training curves, inverse-variance weighted over
teachers, in the pairings L1/KL, L1/L2 and L2/KL with the CE baseline
(:mod:`repsim_jax.curves`, :func:`repsim_jax.plots.training_curves`).

repsim-jax curves DIR [DIR ...] --out FIGURES [--dim D]
"""

from __future__ import annotations

import math
import pathlib

from repsim_jax import curves, plots
from repsim_jax.cli._parser import add_command
from repsim_jax.config import ValueRange
from repsim_jax.errors import InputError
from repsim_jax.workdir import write_json


def _finite_or_none(value):
    """NaN (no value, no band) as JSON null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def _handle(args, extra) -> int:
    data = curves.curve_data(curves.find_runs(args.directories), args.dim)
    series, out = data["series"], pathlib.Path(args.out)
    pairings = [p for p in curves.PAIRINGS if all(loss in series for loss in p)]
    if not pairings:
        raise InputError(
            f"the runs hold the losses {sorted(series)}: each figure pairs two of l1, l2, kl "
            f"({', '.join('/'.join(p) for p in curves.PAIRINGS)})"
        )
    baseline = [curves.BASELINE] if curves.BASELINE in series else []
    teachers = len(data["teachers"])
    for pairing in pairings:
        losses = [*pairing, *baseline]
        title = (
            f"{' vs '.join(losses)}, d = {data['dim']}: mean ± 2σ, inverse-variance weighted over {teachers} teacher(s)"
        )
        path = plots.training_curves(series, losses, out / f"curves_{'_'.join(pairing)}.png", title)
        print(f"wrote {path}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "curves.json", _finite_or_none(data))
    print(f"wrote {out / 'curves.json'}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "curves",
        "Draw the students' training curves, weighted over teachers, in the pairings L1/KL, L1/L2, L2/KL",
        [
            "repsim-jax curves runs/quick --out runs/quick/curves",
            "repsim-jax curves runs/sweep_teacher0 runs/sweep_teacher1 --out figures --dim 25",
        ],
        "Reads metrics.jsonl of every student workdir under DIR (a config.json naming teacher.workdir):\n"
        "the eval/<split>/<name> rows that config eval.curves asks training for. Each point is the\n"
        "inverse-variance weighted mean over teachers (per teacher: mean and variance of the mean over\n"
        "its student seeds), the band ±2σ; ce students are the baseline in every figure. Writes\n"
        "curves_<a>_<b>.png per pairing found and curves.json (the numbers) to --out.",
    )
    parser.add_argument("directories", nargs="+", metavar="DIR", help="directories holding student workdirs")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the figures and curves.json go")
    parser.add_argument(
        "--dim",
        type=int,
        valid=ValueRange(int, 1),
        default=None,
        metavar="D",
        help="the students' embedding dim, when the runs hold several",
    )
    parser.set_defaults(func=_handle)
