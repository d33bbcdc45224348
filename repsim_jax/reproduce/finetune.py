"""Distillation by training-set size N on the spirals (arXiv 2602.15438, fine-tuning experiment).

``run_finetune(preset, out)``: one teacher trained on the whole training split, then for
every N of ``reproduce.finetune_sizes`` (the authors' grid N = 70·i, i = 1..10) students
of each loss of ``sweep.losses`` over ``sweep.seeds`` distilled on a label-stratified
subset of N training points (``data.num_train = N``), all evaluated on the whole test
split. Every epoch is one full-batch step on the N points (batch = N), so the number of
steps, ``reproduce.student_epochs``, does not change with N.

Where students start (``reproduce.finetune_from``): ``scratch``, a random initialisation;
or ``checkpoint``, the authors' ``--checkin`` mode (their students load a full
``state_dict`` of the teacher's architecture before distillation, and are saved as
"finetuned"). Their public code does not say which checkpoint; ours is a second
cross-entropy model of the teacher's size and training, seed ``teacher + 1``
(``OUT/checkin/``, its variables in ``OUT/checkin/variables.npz``), which every student
then loads (``model.init_from``) in place of its random initialisation.

Writes ``OUT/teacher/``, [``OUT/checkin/``,] ``OUT/n<N>/students/<loss>/``, ``summary.json``
(``{"<loss> N=<N>": {metric: {"mean", "std", "values"}}}`` plus ``significance``
per N against KL, ``teacher``, ``config``), ``summary.md`` and
``metrics_by_size.png`` (each tested metric against N, one line per loss).
"""

from __future__ import annotations

import pathlib
import time

import jax
import numpy as np
from flax import traverse_util

from repsim_jax import plots, report
from repsim_jax.config import with_values
from repsim_jax.errors import InputError
from repsim_jax.io import save_npz
from repsim_jax.reproduce.progress import Stages
from repsim_jax.reproduce.students import distil_students, reproduction_config, train_teacher, write_summary

__all__ = ["FIGURE_METRICS", "run_finetune"]

FIGURE_METRICS = ("accuracy", "agreement", "mean_cca", "rep_dissimilarity", "logit_distance", "kl_divergence")


FINETUNE_FROM = ("scratch", "checkpoint")


def _sized(config, size: int, init_from: str = ""):
    """``config`` with a training subset of ``size`` points, trained full-batch, the
    students starting from ``init_from`` (a variables file; empty: random)."""
    return with_values(config, {"data.num_train": int(size), "batch_size": int(size), "model.init_from": init_from})


def _checkin(config, out: pathlib.Path, stages: Stages) -> str:
    """The ``checkpoint`` start (module docstring): train the second cross-entropy model
    and write its variables as a ``.npz`` the students load; returns its path."""
    seed = int(config.reproduce.teacher_seeds[0]) + 1
    run = train_teacher(config, out, stages, seed=seed, name="checkin")
    path = out / "checkin" / "variables.npz"
    flat = traverse_util.flatten_dict(jax.device_get(run.models[0].variables), sep="/")
    save_npz(str(path), {key: np.asarray(value) for key, value in flat.items()})
    return str(path)


def _tests_by_size(summary: dict, losses, sizes) -> dict:
    """:func:`report.compare_to_reference` against KL at each N: ``{"<loss>_vs_kl N=<N>": ...}``."""
    tests = {}
    for n in sizes:
        at_n = {loss: summary[f"{loss} N={n}"] for loss in losses}
        tests |= {f"{name} N={n}": t for name, t in report.compare_to_reference(at_n).items()}
    return tests


def run_finetune(preset: str = "quick", out: str = "runs/finetune", progress: bool = True, overrides=()) -> dict:
    """Students of each loss distilled on N training points, for every N; see the module docstring.

    Args:
      preset: a preset of ``repsim_jax/configs/synthetic.py`` (``quick``, ``paper``, ``smoke``).
      overrides: ``--config.section.key=value`` tokens.

    Returns the content of ``summary.json``.
    """
    start, out = time.time(), pathlib.Path(out)
    config = reproduction_config("synthetic", preset, overrides)
    sizes = [int(n) for n in config.reproduce.finetune_sizes]
    if not sizes or min(sizes) < 1:
        raise InputError(f"reproduce.finetune_sizes must be positive training-set sizes N, got {sizes}")
    start_from = config.reproduce.finetune_from
    if start_from not in FINETUNE_FROM:
        raise InputError(f"unknown reproduce.finetune_from {start_from!r}; choose one of {', '.join(FINETUNE_FROM)}")
    checkin = start_from == "checkpoint"
    stages = Stages(2 + checkin + len(sizes) * len(config.sweep.losses), progress)
    teacher_run = train_teacher(config, out, stages)
    init_from = _checkin(config, out, stages) if checkin else ""
    summary = {}
    for n in sizes:
        sized = _sized(config, n, init_from)
        for loss in config.sweep.losses:
            students = distil_students(sized, teacher_run.model, loss, out / f"n{n}", stages, tag=f", N={n}")
            summary[f"{loss} N={n}"] = report.summarise_seeds([r["test"] for r in students.reports])
    stages.next("summary and figure (metrics_by_size.png)")
    tests = _tests_by_size(summary, config.sweep.losses, sizes) if "kl" in config.sweep.losses else {}
    plots.metric_by_size(summary, config.sweep.losses, sizes, FIGURE_METRICS, out / "metrics_by_size.png")
    teacher = report.summarise_seeds([r["test"] for r in teacher_run.reports], ("accuracy",))
    title = f"Distillation by training-set size N ({preset}, d = {config.model.embedding_dim}, from {start_from})"
    return write_summary(out, title, summary, tests, report.STUDENT_METRICS, teacher, config, start)
