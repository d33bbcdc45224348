"""``repsim-jax distill``: distil a student of ``config.teacher.workdir``."""

from __future__ import annotations

from repsim_jax.cli._args import add_config_command, print_reports
from repsim_jax.config import load_config
from repsim_jax.errors import InputError
from repsim_jax.experiment import train_and_evaluate
from repsim_jax.losses import get_loss


def _handle(args, extra) -> int:
    config = load_config(args.config, extra)
    if not get_loss(config.loss.name).needs_teacher:
        raise InputError(f"loss {config.loss.name!r} does not use the teacher; use e.g. kl, l1 or l2")
    print_reports(train_and_evaluate(config, args.workdir, progress=not args.quiet))
    return 0


def register(subparsers) -> None:
    add_config_command(
        subparsers,
        "distill",
        "Distil students (one per seed) of the teacher in config.teacher.workdir",
        _handle,
        [
            "repsim-jax distill --config=synthetic:smoke --workdir=runs/l2 "
            "--config.loss.name=l2 --config.teacher.workdir=runs/teacher",
            "repsim-jax distill --config=synthetic:smoke --workdir=runs/kl "
            "--config.loss.name=kl --config.teacher.workdir=runs/teacher '--config.seeds=(0,1,2)'",
        ],
    )
