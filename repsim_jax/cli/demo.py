"""``repsim-jax demo``: every metric on generated models with known relationships."""

from __future__ import annotations

import os

from repsim_jax import demo
from repsim_jax.cli._args import SEED
from repsim_jax.cli._parser import add_command


def _print(report: dict) -> None:
    students = [name for name in report if name != "pairwise_mean_cca"]
    metric_names = [k for k in report[students[0]] if k != "skipped"]
    print(f"{'metric':22s}" + "".join(f"{s:>14s}" for s in students))
    for metric in metric_names:
        print(f"{metric:22s}" + "".join(f"{report[s][metric]:14.5g}" for s in students))
    print("\npairwise mean_cca of the embeddings (teacher, " + ", ".join(students) + "):")
    for row in report["pairwise_mean_cca"]:
        print("  " + " ".join(f"{v:7.4f}" for v in row))


def _handle(args, extra) -> int:
    report = demo.run(seed=args.seed, out=args.out)
    _print(report)
    if args.out:
        print(f"\nwrote {os.path.join(args.out, 'demo.json')}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "demo",
        "Every metric on generated models whose relation to a teacher is known in closed form",
        ["repsim-jax demo", "repsim-jax demo --seed 3 --out demo"],
        "Students: identifiable (same predictions: logit distance 0, mean CCA 1), noisy, swapped, unrelated.",
    )
    parser.add_argument("--seed", type=int, valid=SEED, default=0, help="seed of the generated models (default 0)")
    parser.add_argument("--out", default=None, help="directory for demo.json")
    parser.set_defaults(func=_handle)
