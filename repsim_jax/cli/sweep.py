"""``repsim-jax sweep``: students over losses × dims × seeds (seeds vmapped per cell)."""

from __future__ import annotations

from repsim_jax.cli._args import add_config_command
from repsim_jax.config import load_config
from repsim_jax.sweep import run_sweep


def _handle(args, extra) -> int:
    print(run_sweep(load_config(args.config, extra), args.workdir, progress=True))
    return 0


def register(subparsers) -> None:
    add_config_command(
        subparsers,
        "sweep",
        "distil sweep.losses × sweep.dims × sweep.seeds from config.teacher.workdir (seeds vmapped)",
        _handle,
    )
