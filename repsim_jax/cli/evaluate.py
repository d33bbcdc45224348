"""``repsim-jax evaluate``: rewrite the reports of any workdir this project writes."""

from __future__ import annotations

from repsim_jax.cli._args import print_reports
from repsim_jax.experiment import evaluate_run, restore


def _handle(args, extra) -> int:
    run = restore(args.workdir)
    teacher_dir = args.teacher_workdir or run.config.teacher.workdir
    teacher = restore(teacher_dir).model if teacher_dir else None
    run.reports = evaluate_run(run, teacher)
    print_reports(run)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="write report.json for a trained workdir",
        description="evaluate a train/distill/sweep-cell/reproduce workdir "
        "(one report per seed), or one seed of it (DIR/seed<s>)",
    )
    parser.add_argument("--workdir", required=True, help="a workdir written by repsim-jax")
    parser.add_argument("--teacher_workdir", default="", help="teacher workdir (default: from its config)")
    parser.set_defaults(func=_handle)
