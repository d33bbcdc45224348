"""Argument and output helpers shared by the training commands."""

from __future__ import annotations

from repsim_jax.errors import InputError

SHOWN = ("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca", "rep_dissimilarity")


def add_config_command(subparsers, name: str, help_text: str, handler) -> None:
    """Subcommand ``name`` with ``--config=PATH.py[:PRESET]`` and ``--workdir``;
    ``--config.section.key=value`` overrides reach ``handler(args, extra)`` as ``extra``."""
    parser = subparsers.add_parser(
        name, help=help_text, description=f"{help_text}; override keys with --config.section.key=value"
    )
    parser.add_argument("--config", required=True, help="PATH.py[:PRESET] defining get_config()")
    parser.add_argument("--workdir", required=True, help="output directory (local or gs://)")
    parser.set_defaults(func=handler, accepts_overrides=True)


def print_reports(run) -> None:
    """One line per seed: the workdir and its headline test metrics."""
    for model, report in zip(run.models, run.reports):
        test = report.get("test", {})
        shown = ", ".join(f"{k}={test[k]:.4g}" for k in SHOWN if test.get(k) is not None)
        print(f"{run.workdir} seed {model.seed}: test {shown}")


def add_pivot_arguments(parser) -> None:
    """``--pivots``, ``--subsets``, ``--seed`` of d_rep's pivot/subset choice
    (:func:`repsim_jax.metrics.pivot_subsets`; its defaults when not given)."""
    parser.add_argument("--pivots", type=int, default=None, help="pivot budget for d_rep (default 10)")
    parser.add_argument("--subsets", type=int, default=None, help="subsets per pivot for d_rep (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the pivot/subset sample (default 0)")


def pivot_options(args) -> dict:
    """The pivot options given on the command line (checked positive)."""
    given = {"num_pivots": args.pivots, "num_subsets": args.subsets, "seed": args.seed}
    options = {k: v for k, v in given.items() if v is not None}
    if options.get("num_pivots", 1) < 1 or options.get("num_subsets", 1) < 1:
        raise InputError("--pivots and --subsets must be >= 1")
    return options


def add_split_argument(parser) -> None:
    """``--split``: the data split a workdir's model is described on."""
    parser.add_argument("--split", default="test", help="data split for workdir inputs (default: test)")


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
