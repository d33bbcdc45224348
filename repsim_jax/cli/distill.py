"""``repsim-jax distill``: distil a student of ``config.teacher.workdir``."""

from __future__ import annotations

from repsim_jax.cli._args import add_config_command
from repsim_jax.cli.train import training_handler


def register(subparsers) -> None:
    add_config_command(
        subparsers,
        "distill",
        "Distil students (one per seed) of the teacher in config.teacher.workdir",
        training_handler(distils=True),
        [
            "repsim-jax distill --config=synthetic:smoke --workdir=runs/l2 "
            "--config.loss.name=l2 --config.teacher.workdir=runs/teacher",
            "repsim-jax distill --config=synthetic:smoke --workdir=runs/kl "
            "--config.loss.name=kl --config.teacher.workdir=runs/teacher '--config.seeds=(0,1,2)'",
        ],
    )
