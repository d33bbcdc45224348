"""``repsim-jax demo``: every metric on generated models with known relationships."""

from __future__ import annotations

import os

from repsim_jax import demo


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
    parser = subparsers.add_parser("demo", help="every metric on generated models with known relationships")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="directory for demo.json")
    parser.set_defaults(func=_handle)
