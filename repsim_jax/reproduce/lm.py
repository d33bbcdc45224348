"""Next-token predictors (arXiv 2602.15438): do KL or logit-distance students keep the
teacher's linearly readable concepts?

``run_lm(preset, out)``: a GPT-2-family teacher trained from scratch on the concept
language (:mod:`repsim_jax.lm.concept_language`: ``data.source = "concepts"``), then
students distilled with each loss of ``sweep.losses`` (KL, L2 = squared logit distance,
L2 + Procrustes) over ``sweep.seeds`` (vmapped). Per model, linear probes
(:func:`repsim_jax.evaluate.concept_probe`: standardised logistic regression, one per
concept) read each latent concept from the final hidden states f at up to 16 evenly
spaced positions of ``L/2 .. L − 2`` (after at least L/2 words; the last position, which
predicts the next sequence's mark, is left out), fitted on training sequences and scored on the held-out
ones: ``concept_probe_<concept>`` and their mean ``concept_probe_accuracy``. The
students' other metrics (d_logit, KL, m_CCA, d_rep, …) are those of their
``report.json`` on the held-out split. ``bayes_accuracy`` is the best accuracy any
classifier reaches at those positions (:func:`repsim_jax.lm.concept_language.bayes_accuracy`,
averaged over them).

Writes ``OUT/teacher/``, ``OUT/students/<loss>/``, ``summary.json``
(``{loss: {metric: {"mean", "std", "values"}}}`` plus ``teacher``, ``bayes_accuracy``,
``significance`` against KL, ``config``, ``wall_time_s``), ``summary.md`` and
``metrics.png`` (each metric but perplexity per loss, the teacher's bar beside the
students' for accuracy and the probes).
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from repsim_jax import plots, report
from repsim_jax.config import with_values
from repsim_jax.evaluate import concept_probe
from repsim_jax.lm.concept_language import CONCEPTS, bayes_accuracy
from repsim_jax.reproduce.progress import Stages
from repsim_jax.reproduce.students import distil_students, reproduction_config, train_teacher, write_summary

__all__ = ["LM_METRICS", "probe_positions", "concept_probes", "run_lm"]

PROBE_METRICS = ("concept_probe_accuracy", *(f"concept_probe_{name}" for name in CONCEPTS))
LM_METRICS = (*report.PROBE_STUDY_METRICS, "perplexity", *PROBE_METRICS)
TESTED = ("concept_probe_accuracy", "logit_distance", "mean_cca", "rep_dissimilarity")


def probe_positions(length: int, most: int = 16) -> np.ndarray:
    """The positions probed in sequences of ``length`` inputs: ``L/2 .. L − 2`` (position
    t has read the mark and t words), at most ``most`` of them evenly spaced."""
    return np.unique(np.linspace(length // 2, length - 2, min(most, length - 1 - length // 2)).round().astype(int))


def _probe_rows(model, tokens: np.ndarray, concepts: np.ndarray, positions) -> tuple[np.ndarray, np.ndarray]:
    """Hidden states (n·P, d) at ``positions`` of every sequence and each row's concepts."""
    f = model.outputs(tokens[:, :-1])[0][:, positions]
    return f.reshape(-1, f.shape[-1]), np.repeat(concepts, len(positions), axis=0)


def concept_probes(model, data) -> dict[str, float]:
    """Held-out accuracy of a linear probe per concept on ``model``'s hidden states
    (module docstring): ``concept_probe_<concept>`` and their mean."""
    positions = probe_positions(data.length)
    fit = _probe_rows(model, data.splits["train"], data.concepts["train"], positions)
    scored = _probe_rows(model, data.splits["test"], data.concepts["test"], positions)
    row = {}
    for c, name in enumerate(CONCEPTS):
        probe = concept_probe(fit[0], fit[1][:, [c]], {"test": (scored[0], scored[1][:, [c]])})
        row[f"concept_probe_{name}"] = probe["test"]["accuracy"]
    return row | {"concept_probe_accuracy": float(np.mean(list(row.values())))}


def _row(seed_report: dict, model, data) -> dict:
    """The held-out report of one model with its concept probes."""
    return dict(seed_report["test"]) | concept_probes(model, data)


def _bayes(length: int) -> dict[str, float]:
    """Bayes-optimal accuracy per concept, averaged over the probed positions, and its mean."""
    words = probe_positions(length)
    best = {
        f"concept_probe_{n}": float(np.mean([bayes_accuracy(c, int(t)) for t in words])) for c, n in enumerate(CONCEPTS)
    }
    return best | {"concept_probe_accuracy": float(np.mean(list(best.values())))}


def _add_bayes(out: pathlib.Path, result: dict, bayes: dict) -> dict:
    """``bayes_accuracy`` added to ``summary.json`` and as a line of ``summary.md``."""
    result["bayes_accuracy"] = bayes
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=list))
    line = ", ".join(f"{k} = {v:.4g}" for k, v in bayes.items())
    with open(out / "summary.md", "a") as md:
        md.write(f"\nBayes-optimal accuracy at the probed positions (the ceiling of any probe): {line}\n")
    return result


def run_lm(preset: str = "quick", out: str = "runs/lm", progress: bool = True, overrides=()) -> dict:
    """The concept-language LM reproduction; see the module docstring.

    Args:
      preset: a preset of ``repsim_jax/configs/lm.py`` (``smoke``, ``quick``, ``paper``, ``default``).
      overrides: ``--config.section.key=value`` tokens.

    Returns the content of ``summary.json``.
    """
    start, out = time.time(), pathlib.Path(out)
    config = with_values(reproduction_config("lm", preset, overrides), {"data.source": "concepts"})
    losses = tuple(config.sweep.losses)
    stages = Stages(2 + 2 * len(losses), progress)
    teacher_run = train_teacher(config, out, stages)
    teacher, data = teacher_run.model, teacher_run.built.data
    teacher_row = _row(teacher_run.reports[0], teacher, data)
    summary = {}
    for loss in losses:
        students = distil_students(config, teacher, loss, out, stages)
        stages.next(f"{loss} students: concept probes on the hidden states")
        rows = [_row(r, m, data) for m, r in zip(students.models, students.reports)]
        summary[loss] = report.summarise_seeds(rows, LM_METRICS)
    stages.next("summary and figure (metrics.png)")
    tests = report.compare_to_reference(summary, keys=TESTED) if "kl" in summary else {}
    teacher_summary = report.summarise_seeds([teacher_row], ("accuracy", *PROBE_METRICS))
    shown = {loss: {k: v for k, v in s.items() if k != "perplexity"} for loss, s in summary.items()}
    plots.metric_bars(shown | {"teacher": teacher_summary}, out / "metrics.png")
    title = (
        f"LM on the concept language ({preset}): {config.model.depth} blocks of width {config.model.width}, "
        f"{data.vocab_size} tokens, {data.length} positions"
    )
    result = write_summary(out, title, summary, tests, LM_METRICS, teacher_summary, config, start)
    return _add_bayes(out, result, _bayes(data.length))
