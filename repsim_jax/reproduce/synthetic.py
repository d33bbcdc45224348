"""Synthetic spirals (arXiv 2602.15438): KL vs logit-distance students of one teacher.

``run_synthetic(preset, out)``: an MLP teacher (cross-entropy), then students distilled
with each loss of ``sweep.losses`` over ``sweep.seeds``; per loss the test metrics
(``ood_<metric>`` on the held-out ring of the interpolation/extrapolation modalities),
Welch and Mann–Whitney tests against KL, and the CCA–logit bound over training. Writes
``summary.json`` (``{loss: {metric: {"mean", "std", "values"}}}`` plus ``teacher``,
``significance``, ``config``, ``wall_time_s``), ``summary.md``, ``metrics.png``,
``decision_regions.png`` and ``cca_logit_bound.png`` to ``out``.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from repsim_jax import plots, report
from repsim_jax.reproduce.students import (
    bound_over_training,
    checkpoint_epochs,
    distil_students,
    reproduction_config,
    train_teacher,
    write_summary,
)

__all__ = ["run_synthetic", "decision_grid"]


def decision_grid(models: dict, extent: float = 11.0, size: int = 200) -> tuple[np.ndarray, dict]:
    """Predicted labels of each :class:`TrainedModel` on a ``size²`` grid over ``[−extent, extent]²``."""
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    return axis, {name: np.argmax(m.outputs(grid)[1], -1).reshape(size, size) for name, m in models.items()}


def _split_summary(reports: list[dict], keys) -> dict:
    out = report.summarise_seeds([r["test"] for r in reports], keys)
    if "ood" in reports[0]:
        out |= report.summarise_seeds([r["ood"] for r in reports], keys, prefix="ood_")
    return out


def run_synthetic(
    preset: str = "quick", out: str = "runs/quick", progress: bool = True, modality: str | None = None, overrides=()
) -> dict:
    """The spirals reproduction; see the module docstring.

    Args:
      preset: a preset of ``experiments/configs/synthetic.py`` (``quick``, ``paper``, ``smoke``).
      modality: ``standard``, ``interpolation`` or ``extrapolation`` (overrides ``data.modality``).
      overrides: ``--config.section.key=value`` tokens.

    Returns the content of ``summary.json``.
    """
    start, out = time.time(), pathlib.Path(out)
    config = reproduction_config(
        "synthetic", preset, [*overrides, *([f"--config.data.modality={modality}"] if modality else [])]
    )
    teacher_run = train_teacher(config, out, progress)
    teacher, data = teacher_run.model, teacher_run.built.data
    summary, curves, seed0 = {}, {}, {"teacher": teacher}
    epochs = checkpoint_epochs(config.reproduce.student_epochs, config.reproduce.bound_every)
    for loss in config.sweep.losses:
        students = distil_students(config, teacher, loss, out, progress)
        curves[loss] = bound_over_training(students, teacher, data.splits["test"]["x"], epochs)
        summary[loss] = _split_summary(students.reports, report.STUDENT_METRICS) | report.bound_stats(curves[loss])
        seed0[loss] = students.models[0]
    tests = report.compare_to_reference(summary) if "kl" in summary else {}
    keys = [*report.STUDENT_METRICS, *(f"ood_{k}" for k in report.STUDENT_METRICS)]
    plots.metric_bars(
        {loss: {k: v for k, v in s.items() if k in keys} for loss, s in summary.items()}, out / "metrics.png"
    )
    axis, labels = decision_grid(seed0)
    train = data.splits["train"]
    plots.decision_regions(axis, labels, train["x"], train["y"], out / "decision_regions.png")
    plots.bound_curves(curves, out / "cca_logit_bound.png")
    return write_summary(
        out,
        f"Synthetic spirals ({preset}, {config.data.modality})",
        summary,
        tests,
        keys,
        _split_summary(teacher_run.reports, ("accuracy",)),
        config,
        start,
    )
