"""``repsim-jax sweep``: students over losses × dims × seeds (seeds vmapped per cell)."""

from __future__ import annotations

from repsim_jax.cli._args import add_config_command
from repsim_jax.config import load_config
from repsim_jax.sweep import run_sweep


def _handle(args, extra) -> int:
    print(run_sweep(load_config(args.config, extra), args.workdir, progress=not args.quiet))
    return 0


def register(subparsers) -> None:
    add_config_command(
        subparsers,
        "sweep",
        "Distil students over sweep.losses × sweep.dims × sweep.seeds from config.teacher.workdir",
        _handle,
        [
            "repsim-jax sweep --config=synthetic:smoke --workdir=runs/sweep --config.teacher.workdir=runs/teacher",
            "repsim-jax sweep --config=synthetic:smoke --workdir=runs/sweep --config.teacher.workdir=runs/teacher "
            "'--config.sweep.dims=(2,4)'",
        ],
        details="The seeds of each cell (loss, dim) train together under vmap; a summary table is printed at the end.",
    )
