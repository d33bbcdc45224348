"""Synthetic spirals (arXiv 2602.15438): KL vs logit-distance students of one teacher.

``run_synthetic(preset, out)``: an MLP teacher (cross-entropy), then students distilled
with each loss of ``sweep.losses`` over ``sweep.seeds``; per loss the test metrics
(``ood_<metric>`` on the held-out ring of the interpolation/extrapolation modalities),
Welch and Mann–Whitney tests against KL, and the CCA–logit bound over training. With
several ``reproduce.teacher_seeds`` (the paper's 5 teachers × 5 students) every teacher
gets its own students; the summary is then the inverse-variance weighted mean over
teachers with per-teacher means, tested at the teacher level
(:func:`repsim_jax.report.compare_to_reference`); figures show the first teacher. Writes
``summary.json`` (``{loss: {metric: {"mean", "std", "values"}}}`` plus ``teacher``,
``significance``, ``config``, ``wall_time_s``), ``summary.md``, ``metrics.png``,
``decision_regions.png``, ``cca_logit_bound.png`` and ``soft_confusion.png`` (soft
confusion matrices at T = 10, :mod:`repsim_jax.soft_confusion`, of the teacher and each
loss's seed-0 student on the held-out ring, or on the test split for ``standard``) to ``out``.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from repsim_jax import plots, report
from repsim_jax.reproduce.progress import Stages
from repsim_jax.reproduce.students import (
    bound_over_training,
    checkpoint_epochs,
    distil_students,
    reproduction_config,
    teacher_dirs,
    train_teacher,
    write_summary,
)
from repsim_jax.soft_confusion import AUTHORS_TEMPERATURE, soft_confusion

__all__ = ["run_synthetic", "decision_grid"]


def decision_grid(models: dict, extent: float = 11.0, size: int = 200) -> tuple[np.ndarray, dict]:
    """Predicted labels of each :class:`TrainedModel` on a ``size²`` grid over ``[−extent, extent]²``."""
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    return axis, {name: np.argmax(m.outputs(grid)[1], -1).reshape(size, size) for name, m in models.items()}


def _soft_confusion_figure(models: dict, splits, path) -> pathlib.Path:
    """:func:`repsim_jax.plots.soft_confusion` of each model (teacher, then each loss's
    seed-0 student) at the authors' T = 10 on the held-out ring (``ood``), or on the test
    split when the modality holds none out."""
    split = "ood" if "ood" in splits else "test"
    x, y = splits[split]["x"], splits[split]["y"]
    matrices = {
        name if name == "teacher" else f"{name} student": soft_confusion(m.outputs(x)[1], y, AUTHORS_TEMPERATURE)
        for name, m in models.items()
    }
    where = "held-out ring (ood)" if split == "ood" else "test"
    return plots.soft_confusion(matrices, path, AUTHORS_TEMPERATURE, where)


def _split_summary(reports: list[dict], keys) -> dict:
    out = report.summarise_seeds([r["test"] for r in reports], keys)
    if "ood" in reports[0]:
        out |= report.summarise_seeds([r["ood"] for r in reports], keys, prefix="ood_")
    return out


def _teachers_summary(groups: list[list[dict]], keys) -> dict:
    """:func:`report.summarise_teachers` of the test (and ood) splits."""
    out = report.summarise_teachers([[r["test"] for r in g] for g in groups], keys)
    if "ood" in groups[0][0]:
        out |= report.summarise_teachers([[r["ood"] for r in g] for g in groups], keys, prefix="ood_")
    return out


def _one_teacher(config, seed: int, out: pathlib.Path, stages: Stages) -> dict:
    """A teacher and its students of every loss: their reports, CCA–logit bound curves,
    first-seed models and the data (``1 + 2·len(sweep.losses)`` stages)."""
    teacher_run = train_teacher(config, out, stages, seed=seed)
    teacher, data = teacher_run.model, teacher_run.built.data
    epochs = checkpoint_epochs(config.reproduce.student_epochs, config.reproduce.bound_every)
    result = {"teacher": teacher_run, "data": data, "reports": {}, "curves": {}, "models": {"teacher": teacher}}
    for loss in config.sweep.losses:
        students = distil_students(config, teacher, loss, out, stages)
        stages.next(f"{loss} students: CCA–logit bound at epochs {', '.join(map(str, epochs))}")
        result["curves"][loss] = bound_over_training(students, teacher, data.splits["test"]["x"], epochs)
        result["reports"][loss] = students.reports
        result["models"][loss] = students.models[0]
    return result


def _summaries(runs: list[dict], losses) -> tuple[dict, dict]:
    """Student summaries per loss (over seeds, or over teachers when several) with the
    bound statistics, and the teachers' accuracy."""
    several = len(runs) > 1
    summary = {}
    for loss in losses:
        curves = {k: np.concatenate([r["curves"][loss][k] for r in runs]) for k in ("lhs", "rhs", "holds")}
        groups = [r["reports"][loss] for r in runs]
        keys = (*report.STUDENT_METRICS, *report.AUTHORS_METRICS)
        students = _teachers_summary(groups, keys) if several else _split_summary(groups[0], keys)
        summary[loss] = students | report.bound_stats({"epochs": runs[0]["curves"][loss]["epochs"], **curves})
    teachers = _split_summary([r["teacher"].reports[0] for r in runs], ("accuracy",))
    return summary, teachers


def run_synthetic(
    preset: str = "quick", out: str = "runs/quick", progress: bool = True, modality: str | None = None, overrides=()
) -> dict:
    """The spirals reproduction; see the module docstring.

    Args:
      preset: a preset of ``repsim_jax/configs/synthetic.py`` (``quick``, ``paper``,
        ``paper-cpu``, ``paper-centred``, ``smoke``).
      modality: ``standard``, ``interpolation`` or ``extrapolation`` (overrides ``data.modality``).
      overrides: ``--config.section.key=value`` tokens.

    Returns the content of ``summary.json``.
    """
    start, out = time.time(), pathlib.Path(out)
    config = reproduction_config(
        "synthetic", preset, [*overrides, *([f"--config.data.modality={modality}"] if modality else [])]
    )
    teachers_at = teacher_dirs(config, out)
    stages = Stages(len(teachers_at) * (1 + 2 * len(config.sweep.losses)) + 1, progress)
    runs = [_one_teacher(config, seed, where, stages) for seed, where in teachers_at]
    stages.next("summary and figures (metrics.png, decision_regions.png, cca_logit_bound.png, soft_confusion.png)")
    summary, teachers = _summaries(runs, config.sweep.losses)
    tests = report.compare_to_reference(summary) if "kl" in summary else {}
    keys = [*report.STUDENT_METRICS, *(f"ood_{k}" for k in report.STUDENT_METRICS)]
    authors_keys = [*report.AUTHORS_METRICS, *(f"ood_{k}" for k in report.AUTHORS_METRICS)]
    plots.metric_bars(
        {loss: {k: v for k, v in s.items() if k in keys} for loss, s in summary.items()}, out / "metrics.png"
    )
    axis, labels = decision_grid(runs[0]["models"])
    train = runs[0]["data"].splits["train"]
    plots.decision_regions(axis, labels, train["x"], train["y"], out / "decision_regions.png")
    plots.bound_curves({loss: runs[0]["curves"][loss] for loss in config.sweep.losses}, out / "cca_logit_bound.png")
    _soft_confusion_figure(runs[0]["models"], runs[0]["data"].splits, out / "soft_confusion.png")
    title = f"Synthetic spirals ({preset}, {config.data.modality}, d = {config.model.embedding_dim})"
    return write_summary(out, title, summary, tests, [*keys, *authors_keys], teachers, config, start)
