"""Concept preservation and transfer on concept shapes (arXiv 2602.15438, 2506.00653,
2410.23501).

``run_concepts(preset, out)``: a concept-bottleneck teacher; KL/L1/L2 students over
seeds; per model the linear concept-probe accuracy/F1 on its embeddings
(:func:`repsim_jax.evaluate.concept_probe`), the all-or-none linear properties and,
student → teacher, the affine transfer (:mod:`repsim_jax.metrics.concepts`). Writes
``summary.json``, ``summary.md`` and ``metrics.png`` to ``out``.
"""

from __future__ import annotations

import pathlib
import time

from repsim_jax import plots, report
from repsim_jax.metrics.concepts import linear_properties, transfer_properties
from repsim_jax.reproduce.progress import Stages
from repsim_jax.reproduce.students import distil_students, reproduction_config, train_teacher, write_summary

__all__ = ["CONCEPT_METRICS", "run_concepts", "run_concept_students"]

CONCEPT_METRICS = (
    *report.PROBE_STUDY_METRICS,
    "procrustes_distance",
    "concept_probe_accuracy",
    "concept_probe_f1",
    "direction_auc",
    "parallelism",
    "steering_success",
    "transfer_r2",
    "transfer_auc",
    "transfer_cosine",
)


def _embeddings(model, data) -> dict:
    """Train/test embeddings and the unembedding ``G`` of a :class:`TrainedModel`."""
    return {
        "train": model.outputs(data.splits["train"]["x"], data.preprocess)[0],
        "test": model.outputs(data.splits["test"]["x"], data.preprocess)[0],
        "G": model.unembeddings,
    }


def _concept_row(seed_report: dict, outs: dict, data, teacher_outs: dict | None) -> dict:
    """The test report flattened with the concept probe, linear and transfer properties."""
    tr, te = data.splits["train"], data.splits["test"]
    row = dict(seed_report["test"])
    row["concept_probe_accuracy"] = seed_report["test"]["concept_probe"]["accuracy"]
    row["concept_probe_f1"] = seed_report["test"]["concept_probe"]["f1"]
    row |= linear_properties(
        (outs["train"], tr["y"], tr["concepts"]), (outs["test"], te["y"], te["concepts"]), outs["G"], data.num_classes
    )
    if teacher_outs is not None:
        row |= transfer_properties(
            (outs["train"], outs["test"]),
            (teacher_outs["train"], teacher_outs["test"]),
            (tr["concepts"], te["concepts"]),
        )
    return row


def run_concept_students(title: str, config, losses, tested, out, progress: bool) -> dict:
    """Concept-bottleneck teacher, students of each of ``losses``, concept rows, tests
    of ``tested`` metrics against KL, figure and summaries in ``out``."""
    start, out = time.time(), pathlib.Path(out)
    stages = Stages(2 + 2 * len(losses), progress)
    teacher_run = train_teacher(config, out, stages, **{"model.concept_bottleneck": True})
    teacher, data = teacher_run.model, teacher_run.built.data
    t_outs = _embeddings(teacher, data)
    teacher_summary = report.summarise_seeds(
        [_concept_row(teacher_run.reports[0], t_outs, data, None)], CONCEPT_METRICS
    )
    summary = {}
    for loss in losses:
        students = distil_students(config, teacher, loss, out, stages)
        stages.next(f"{loss} students: concept probes, linear and transfer properties")
        rows = [_concept_row(r, _embeddings(m, data), data, t_outs) for m, r in zip(students.models, students.reports)]
        summary[loss] = report.summarise_seeds(rows, CONCEPT_METRICS)
    stages.next("summary and figure (metrics.png)")
    tests = report.compare_to_reference(summary, keys=tested) if "kl" in summary else {}
    plots.metric_bars(summary, out / "metrics.png")
    return write_summary(
        out,
        f"{title}: concept-bottleneck teacher on concept_shapes",
        summary,
        tests,
        CONCEPT_METRICS,
        teacher_summary,
        config,
        start,
    )


def run_concepts(preset: str = "quick", out: str = "runs/concepts", progress: bool = True, overrides=()) -> dict:
    """KL vs logit-distance students of a concept-bottleneck teacher; see the module
    docstring. ``preset``: of ``repsim_jax/configs/concepts.py``."""
    config = reproduction_config("concepts", preset, overrides)
    metrics = ("concept_probe_accuracy", "mean_cca", "rep_dissimilarity")
    return run_concept_students(f"Concepts ({preset})", config, config.sweep.losses, metrics, out, progress)
