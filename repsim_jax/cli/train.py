"""``repsim-jax train``: train a teacher (a teacher-free loss) from a config."""

from __future__ import annotations

from repsim_jax.cli._args import add_config_command, print_reports
from repsim_jax.config import load_config
from repsim_jax.errors import InputError
from repsim_jax.experiment import train_and_evaluate
from repsim_jax.losses import get_loss


def _handle(args, extra) -> int:
    config = load_config(args.config, extra)
    if get_loss(config.loss.name).needs_teacher:
        raise InputError(f"loss {config.loss.name!r} distils a teacher: use `repsim-jax distill`")
    print_reports(train_and_evaluate(config, args.workdir, progress=not args.quiet))
    return 0


def register(subparsers) -> None:
    add_config_command(
        subparsers,
        "train",
        "Train a model (a teacher: a loss that needs no teacher) from a config",
        _handle,
        [
            "repsim-jax train --config=synthetic:smoke --workdir=runs/teacher",
            "repsim-jax train --config=synthetic:quick --workdir=runs/t2 --config.optim.learning_rate=3e-3",
        ],
    )
