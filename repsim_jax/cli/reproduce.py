"""``repsim-jax reproduce {synthetic,concepts,geometry,finetune,sub}``: thin handlers over :mod:`repsim_jax.reproduce`.

Each handler is ``handler(args, extra) -> int``; ``extra`` holds ``--config.key=value``
overrides; bad input raises ValueError (the dispatcher prints one line, exit 2).
"""

from __future__ import annotations

import pathlib
import time

from repsim_jax import reproduce

__all__ = ["register"]


def _runner(name: str):
    def handler(args, extra) -> int:
        start = time.time()
        kwargs = {"modality": args.modality} if name == "synthetic" else {}
        result = getattr(reproduce, f"run_{name}")(
            args.preset, args.out, progress=not args.quiet, overrides=extra, **kwargs
        )
        print((pathlib.Path(args.out) / "summary.md").read_text())
        print(
            f"wrote {args.out}/summary.json, summary.md and figures in {time.time() - start:.0f} s"
            f" ({len(result)} top-level entries)"
        )
        return 0

    return handler


_SPECS = {
    "synthetic": ("spirals: teacher, KL/L1/L2 students over seeds, tests, CCA-logit bound, figures", "synthetic"),
    "concepts": ("concept shapes: concept-bottleneck teacher, students, concept probes, transfer", "concepts"),
    "geometry": ("concept shapes: KD alone vs KD + Procrustes/Gram/CKA/projection-MSE", "concepts"),
    "finetune": ("spirals: KL/L1/L2 students distilled on N = 70..700 training points, metrics against N", "synthetic"),
    "sub": ("SUB features: attribute-head teacher, KL/L1/L2 students, attribute probes", "sub"),
}


def register(subparsers) -> None:
    """Add ``reproduce`` with its ``synthetic``, ``concepts``, ``geometry``, ``finetune`` and ``sub`` subcommands."""
    parser = subparsers.add_parser("reproduce", help="run a paper reproduction (figures, tables)")
    inner = parser.add_subparsers(dest="experiment", required=True)
    for name, (help_text, config) in _SPECS.items():
        p = inner.add_parser(
            name,
            help=help_text,
            description=f"{help_text}; override keys with --config.key=value (repsim_jax/configs/{config}.py)",
        )
        p.add_argument(
            "--preset",
            default="quick",
            help="config preset: quick, smoke, paper; synthetic/finetune also paper-cpu, paper-centred",
        )
        p.add_argument("--out", required=True, help="output directory")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        if name == "synthetic":
            p.add_argument(
                "--modality",
                choices=("standard", "interpolation", "extrapolation"),
                default=None,
                help="spiral split (default: the config's)",
            )
        p.set_defaults(func=_runner(name), accepts_overrides=True)
