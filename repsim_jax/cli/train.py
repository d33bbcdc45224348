"""``repsim-jax train``: train a teacher (a teacher-free loss) from a config."""

from __future__ import annotations

from repsim_jax.cli._args import add_config_command, print_reports
from repsim_jax.config import load_config
from repsim_jax.errors import InputError
from repsim_jax.experiment import train_and_evaluate
from repsim_jax.losses import get_loss

_WRONG_LOSS = {
    False: "loss {name!r} distils a teacher: use `repsim-jax distill`",
    True: "loss {name!r} does not use the teacher; use e.g. kl, l1 or l2",
}


def training_handler(distils: bool):
    """The handler of ``train`` (``distils=False``) and ``distill``: the config's loss must
    (not) use the teacher; every seed is trained and reported in one line."""

    def handle(args, extra) -> int:
        config = load_config(args.config, extra)
        if get_loss(config.loss.name).needs_teacher != distils:
            raise InputError(_WRONG_LOSS[distils].format(name=config.loss.name))
        print_reports(train_and_evaluate(config, args.workdir, progress=not args.quiet))
        return 0

    return handle


def register(subparsers) -> None:
    add_config_command(
        subparsers,
        "train",
        "Train a model (a teacher: a loss that needs no teacher) from a config",
        training_handler(distils=False),
        [
            "repsim-jax train --config=synthetic:smoke --workdir=runs/teacher",
            "repsim-jax train --config=synthetic:quick --workdir=runs/t2 --config.optim.learning_rate=3e-3",
        ],
    )
