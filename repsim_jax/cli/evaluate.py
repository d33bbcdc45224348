"""``repsim-jax evaluate``: rewrite the reports of any workdir this project writes."""

from __future__ import annotations

from repsim_jax.cli._args import add_quiet_argument, print_note, print_reports
from repsim_jax.cli._parser import add_command
from repsim_jax.experiment import evaluate_run, load_teacher, restore


def _handle(args, extra) -> int:
    run = restore(args.workdir)
    teacher_dir = args.teacher_workdir or run.config.teacher.workdir
    teacher = load_teacher(teacher_dir) if teacher_dir else None
    splits = [name for name in run.config.eval.splits if name in run.built.data.splits]
    against = f" against the teacher {teacher_dir}" if teacher_dir else ""
    print_note(args, f"evaluating {len(run.models)} model(s) of {args.workdir} on {', '.join(splits)}{against}")
    run.reports = evaluate_run(run, teacher)
    print_reports(run)
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "evaluate",
        "Rewrite report.json of a trained workdir (every seed, or one seed: DIR/seed<s>)",
        [
            "repsim-jax evaluate --workdir=runs/smoke/students/l2",
            "repsim-jax evaluate --workdir=runs/smoke/students/l2/seed0 --teacher-workdir=runs/smoke/teacher",
        ],
        "Works on any train, distill, sweep-cell or reproduce workdir; the teacher comes from its config.",
    )
    parser.add_argument("--workdir", required=True, help="a workdir written by repsim-jax")
    parser.add_argument("--teacher-workdir", default="", help="teacher workdir (default: from its config)")
    add_quiet_argument(parser)
    parser.set_defaults(func=_handle)
