"""Options and output helpers shared by several commands."""

from __future__ import annotations

import pathlib
import sys

from repsim_jax.cli._parser import add_command
from repsim_jax.config import CONFIG_NAMES, SEED_LIMIT, ValueRange
from repsim_jax.errors import InputError

SHOWN = ("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca", "rep_dissimilarity")

COUNT = ValueRange(int, 1)
SEED = ValueRange(int, 0, SEED_LIMIT)

CONFIG_HELP = f"NAME[:PRESET] ({', '.join(CONFIG_NAMES)}) or PATH.py[:PRESET] defining get_config()"


def add_config_command(subparsers, name: str, summary: str, handler, examples: list[str], details: str = ""):
    """Subcommand ``name`` with ``--config=NAME[:PRESET]``, ``--workdir`` and ``--quiet``;
    ``--config.section.key=value`` overrides reach ``handler(args, extra)`` as ``extra``."""
    details = f"{details}\n\n" if details else ""
    details += "Override any config key with --config.section.key=value; a workdir resumes where it stopped."
    parser = add_command(subparsers, name, summary, examples, details)
    parser.add_argument("--config", required=True, metavar="NAME[:PRESET]", help=CONFIG_HELP)
    parser.add_argument("--workdir", required=True, help="output directory (local or gs://)")
    add_quiet_argument(parser)
    parser.set_defaults(func=handler, accepts_overrides=True)
    return parser


def add_quiet_argument(parser) -> None:
    """``--quiet``: no progress bars or progress notes (results are still printed)."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars or progress notes")


def print_note(args, message: str) -> None:
    """A progress note on stderr, unless ``--quiet``."""
    if not args.quiet:
        print(message, file=sys.stderr)


def print_reports(run) -> None:
    """One line per seed: the workdir and its headline test metrics."""
    for model, report in zip(run.models, run.reports):
        test = report.get("test", {})
        shown = ", ".join(f"{k}={test[k]:.4g}" for k in SHOWN if test.get(k) is not None)
        print(f"{run.workdir} seed {model.seed}: test {shown}")


def add_comparison_arguments(parser, verb: str) -> None:
    """The options ``compare`` and ``bounds`` share: ``--text``, ``--max-tokens`` and
    ``--max-length`` for ``--hf`` models, ``--split``, the d_rep pivots and ``--quiet``;
    ``verb`` words the token limit (e.g. "compare")."""
    parser.add_argument("--text", metavar="FILE", help="--hf: UTF-8 text, one input per non-empty line")
    parser.add_argument(
        "--max-tokens", type=int, valid=COUNT, default=None, help=f"--hf: {verb} at most this many tokens"
    )
    parser.add_argument(
        "--max-length", type=int, valid=COUNT, default=None, help="--hf: cut each line to this many tokens"
    )
    add_split_argument(parser)
    add_pivot_arguments(parser)
    add_quiet_argument(parser)


def hf_options(args) -> dict:
    """The streaming options of ``--hf`` comparisons: token limits and progress."""
    return {"max_tokens": args.max_tokens, "max_length": args.max_length, "progress": not args.quiet}


def add_pivot_arguments(parser) -> None:
    """``--pivots``, ``--subsets``, ``--seed`` of d_rep's pivot/subset choice
    (:func:`repsim_jax.metrics.pivot_subsets`; its defaults when not given)."""
    parser.add_argument("--pivots", type=int, valid=COUNT, default=None, help="pivot budget for d_rep (default 10)")
    parser.add_argument(
        "--subsets", type=int, valid=COUNT, default=None, help="subsets per pivot for d_rep (default 20)"
    )
    parser.add_argument(
        "--seed", type=int, valid=SEED, default=None, help="seed of the pivot/subset sample (default 0)"
    )


def pivot_options(args) -> dict:
    """The pivot options given on the command line (range-checked when parsed)."""
    given = {"num_pivots": args.pivots, "num_subsets": args.subsets, "seed": args.seed}
    return {k: v for k, v in given.items() if v is not None}


def add_split_argument(parser) -> None:
    """``--split``: the data split a workdir's model is described on."""
    parser.add_argument("--split", default="test", help="data split for workdir inputs (default: test)")


def check_suffix(option: str, path: str | None, suffixes: tuple[str, ...]) -> None:
    """Refuses an output path ``path`` (given as ``option``) not ending in one of ``suffixes``,
    before any work is done."""
    if path is not None and pathlib.Path(path).suffix.lower() not in suffixes:
        raise InputError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")


def check_plot_path(path: str | None) -> None:
    """Refuses a ``--plot`` file whose suffix names no image format matplotlib writes."""
    if path is None:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    check_suffix("--plot", path, tuple(f".{kind}" for kind in FigureCanvasAgg.get_supported_filetypes()))


INSTALL_HINT = "install the [torch] extra: pip install torch==2.14.1 torchvision==0.29.1 && pip install -e .[torch]"


def import_hf():
    """:mod:`repsim_jax.adapters.hf`, with transformers' logging and progress bars silenced."""
    try:
        import transformers

        from repsim_jax.adapters import hf
    except ImportError as error:
        raise InputError(f"{error.name or error} is not installed; {INSTALL_HINT}") from None
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return hf
