"""``repsim-jax reproduce {synthetic,concepts,geometry,finetune,sub,lm}``: thin handlers over
:mod:`repsim_jax.reproduce`.

Each handler is ``handler(args, extra) -> int``; ``extra`` holds ``--config.key=value``
overrides; bad input raises InputError (the dispatcher prints one line, exit 2). Each
experiment's help lists the presets its config declares (:func:`repsim_jax.config.presets`)
and the preset its runner uses by default (read from the runner's signature).
"""

from __future__ import annotations

import inspect
import pathlib
import time

from repsim_jax import reproduce
from repsim_jax.cli._args import add_quiet_argument
from repsim_jax.cli._parser import add_command
from repsim_jax.config import presets

__all__ = ["register"]


def _runner_of(name: str):
    return getattr(reproduce, f"run_{name}")


def default_preset(name: str) -> str:
    """The preset ``reproduce NAME`` runs without ``--preset``: its runner's default."""
    return inspect.signature(_runner_of(name)).parameters["preset"].default


def _handler(name: str):
    def handler(args, extra) -> int:
        start = time.time()
        kwargs = {"modality": args.modality} if name == "synthetic" else {}
        result = _runner_of(name)(args.preset, args.out, progress=not args.quiet, overrides=extra, **kwargs)
        print((pathlib.Path(args.out) / "summary.md").read_text())
        print(
            f"wrote {args.out}/summary.json, summary.md and figures in {time.time() - start:.0f} s"
            f" ({len(result)} top-level entries)"
        )
        return 0

    return handler


EXPERIMENTS = {
    "synthetic": ("Spirals: teacher, KL/L1/L2 students over seeds, tests, CCA-logit bound, figures", "synthetic"),
    "concepts": ("Concept shapes: concept-bottleneck teacher, students, concept probes, transfer", "concepts"),
    "geometry": ("Concept shapes: KD alone vs KD + Procrustes/Gram/CKA/projection-MSE losses", "concepts"),
    "finetune": ("Spirals: KL/L1/L2 students distilled on N = 70..700 training points, metrics against N", "synthetic"),
    "sub": ("SUB features: attribute-head teacher, KL/L1/L2 students, attribute probes", "sub"),
    "lm": ("Concept language: LM teacher, KL/L2/L2+Procrustes students, concept probes on hidden states", "lm"),
}
"""Each experiment: its one-line summary and the packaged config it reads."""


def _add_experiment(inner, name: str, summary: str, config: str) -> None:
    default = default_preset(name)
    details = (
        f"Config: {config} (repsim_jax/configs/{config}.py); presets: {', '.join(presets(config))}; "
        f"default: {default}.\nOverride any config key with --config.section.key=value; "
        "the output directory resumes where it stopped."
    )
    examples = [
        f"repsim-jax reproduce {name} --preset smoke --out runs/{name}-smoke",
        f"repsim-jax reproduce {name} --out runs/{name} --quiet --config.reproduce.student_epochs=20",
    ]
    parser = add_command(inner, name, summary, examples, details)
    parser.add_argument("--preset", default=default, help=f"one of {', '.join(presets(config))} (default: {default})")
    parser.add_argument("--out", required=True, help="output directory")
    add_quiet_argument(parser)
    if name == "synthetic":
        parser.add_argument(
            "--modality",
            choices=("standard", "interpolation", "extrapolation"),
            default=None,
            help="spiral split (default: the config's)",
        )
    parser.set_defaults(func=_handler(name), accepts_overrides=True)


def register(subparsers) -> None:
    """Add ``reproduce`` with its subcommands, one per entry of :data:`EXPERIMENTS`."""
    parser = add_command(
        subparsers,
        "reproduce",
        "Run one of the paper's experiments end to end (training, tests, figures, summary)",
        ["repsim-jax reproduce synthetic --preset smoke --out runs/smoke", "repsim-jax reproduce concepts --help"],
        "Each experiment writes summary.json, summary.md and figures to --out; see its --help for its presets.",
    )
    inner = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, (summary, config) in EXPERIMENTS.items():
        _add_experiment(inner, name, summary, config)
