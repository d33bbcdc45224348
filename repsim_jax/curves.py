"""Training curves of distilled students, inverse-variance weighted over teachers.

Training logs the report quantities of config ``eval.curves`` every ``eval.every`` epochs
as ``eval/<split>/<name>`` rows of ``metrics.jsonl`` (:class:`repsim_jax.evaluate.Curves`).
:func:`find_runs` reads those rows from every student workdir under some directories (a
sweep per teacher, or ``reproduce synthetic``'s output): a workdir is a student when its
``config.json`` names a ``teacher.workdir``, and its teacher is that path; its loss
is ``loss.name`` (``ce``: trained on the labels, the baseline, still compared with the
teacher).

:func:`curve_data` combines them as the authors' CIFAR figures do (arXiv 2602.15438; their
``figures/inverse_variance_weighted_average.py``): each teacher is one measuring
instrument. At each epoch, teacher ``t`` with ``n_t`` student seeds gives the mean ``m_t``
and the variance of that mean ``v_t = s_t² / n_t`` (``s_t²`` the unbiased variance over its
seeds); the point is ``m = Σ_t (m_t / v_t) / Σ_t (1 / v_t)`` with
``σ = sqrt(1 / Σ_t (1 / v_t))``, drawn as ``m ± 2σ`` (the authors' per-observation form
``Σ_t Σ_i y_ti/s_t² / Σ_t n_t/s_t²`` is the same number; :func:`repsim_jax.report.over_teachers`,
which the reproductions' summaries use too). Where the weights do not exist, a teacher
with a single seed (no ``v_t``) or whose seeds all give the same value (``v_t = 0``, e.g.
accuracy 1), the point is the plain mean of the ``m_t`` and σ their standard error
``std(m_t, ddof=1) / √T``, without a band for one teacher (σ undefined); the authors' code
returns NaN there. Each point records which rule made it. A null value (a metric the report
could not compute for a seed) leaves that seed out of the point.

The quantities drawn (:data:`FIGURE_METRICS`) are those of the authors' figures: the CCA
score, m_CCA, d_rep² in their training-time convention (``authors/rep_dissimilarity_train``)
and d_rep (its square root per student, then weighted, as they do), d²_logit and d_logit,
KL(teacher‖student), accuracy and agreement with the teacher.
"""

from __future__ import annotations

import json
import math

import numpy as np
from etils import epath

from repsim_jax.errors import InputError
from repsim_jax.report import over_teachers
from repsim_jax.workdir import is_workdir, metrics_path, read_config

__all__ = [
    "FIGURE_METRICS",
    "PAIRINGS",
    "BASELINE",
    "StudentRuns",
    "find_runs",
    "weighted_point",
    "curve_data",
]

FIGURE_METRICS = (
    ("CCA score", "authors/cca_score", None),
    ("m_CCA", "mean_cca", None),
    ("d_rep² (authors' training-time)", "authors/rep_dissimilarity_train", None),
    ("d_rep (authors' training-time)", "authors/rep_dissimilarity_train", np.sqrt),
    ("d²_logit", "logit_distance", np.square),
    ("d_logit", "logit_distance", None),
    ("KL(teacher‖student)", "kl_divergence", None),
    ("accuracy", "accuracy", None),
    ("agreement", "agreement", None),
)
"""``(label, curve name in the rows, per-student transform or None)`` of each panel."""

PAIRINGS = (("l1", "kl"), ("l1", "l2"), ("l2", "kl"))
BASELINE = "ce"


class StudentRuns:
    """The curve rows of one student workdir: its ``teacher`` (path), ``loss``, ``dim``
    (``model.embedding_dim``) and ``values[(split, name)][seed][epoch] = value``."""

    def __init__(self, workdir, teacher: str, loss: str, dim: int, rows: list[dict]):
        self.workdir, self.teacher, self.loss, self.dim = str(workdir), teacher, loss, dim
        self.values: dict[tuple[str, str], dict[int, dict[int, float]]] = {}
        for row in rows:
            for key, value in row.items():
                parts = key.split("/", 2)
                if parts[0] != "eval" or len(parts) < 3:
                    continue  # train/* and the test split's eval/accuracy, eval/ce, eval/agreement
                value = math.nan if value is None else float(value)
                self.values.setdefault((parts[1], parts[2]), {}).setdefault(int(row["seed"]), {})[row["epoch"]] = value


def _rows(path: epath.Path) -> list[dict]:
    """The rows of a ``metrics.jsonl``; a last line without its newline (a write cut short
    while training) is left out, any other line that is not a row is an InputError."""
    *complete, _partial = path.read_text().split("\n")
    rows = []
    for number, line in enumerate(complete, 1):
        try:
            row = json.loads(line)
        except ValueError:
            raise InputError(f"{path}: line {number} is not JSON") from None
        if not isinstance(row, dict) or not {"epoch", "seed"} <= set(row):
            raise InputError(f"{path}: line {number} is not a metrics row (needs 'epoch' and 'seed')")
        rows.append(row)
    return rows


def _workdirs(root: epath.Path):
    """``root`` and every directory under it holding a ``config.json``, in name order."""
    if is_workdir(root):
        yield root
    for child in sorted(root.iterdir()):
        if child.is_dir():
            yield from _workdirs(child)


def find_runs(directories) -> list[StudentRuns]:
    """Every student workdir (a ``config.json`` naming ``teacher.workdir``, and a
    ``metrics.jsonl``) at or under ``directories``; InputError when there is none."""
    runs = []
    for directory in directories:
        root = epath.Path(directory)
        if not root.is_dir():
            raise InputError(f"{directory}: not a directory")
        for workdir in _workdirs(root):
            config = read_config(workdir)
            if not config.teacher.workdir or not metrics_path(workdir).exists():
                continue
            rows = _rows(metrics_path(workdir))
            runs.append(
                StudentRuns(workdir, config.teacher.workdir, config.loss.name, config.model.embedding_dim, rows)
            )
    if not runs:
        raise InputError(
            f"no student workdir (config.json with teacher.workdir, and metrics.jsonl) under {', '.join(directories)}"
        )
    return runs


def weighted_point(groups) -> tuple[float, float, str]:
    """``(mean, σ, rule)`` of one point from each teacher's student values: non-finite
    values (a metric the report left null) dropped, then
    :func:`repsim_jax.report.over_teachers` (the rule ``inverse-variance`` or ``equal``);
    ``(nan, nan, "none")`` when no value is left."""
    groups = [g[np.isfinite(g)] for g in (np.asarray(g, np.float64) for g in groups)]
    groups = [g for g in groups if g.size]
    if not groups:
        return math.nan, math.nan, "none"
    return over_teachers(groups)


def _chosen_dim(runs: list[StudentRuns], dim: int | None) -> int:
    dims = sorted({r.dim for r in runs})
    if dim is None:
        if len(dims) > 1:
            raise InputError(f"the runs hold embedding dims {dims}: choose one with --dim")
        return dims[0]
    if dim not in dims:
        raise InputError(f"--dim {dim}: the runs hold embedding dims {dims}")
    return dim


def curve_data(runs: list[StudentRuns], dim: int | None = None) -> dict:
    """Per loss, split and panel of :data:`FIGURE_METRICS` (those the rows hold): the
    epochs, weighted means, σ and each point's rule, over the teachers of the runs with
    embedding dim ``dim`` (needed when they hold several). Also ``teachers`` (paths),
    ``seeds`` per loss and teacher, and ``dim``."""
    dim = _chosen_dim(runs, dim)
    runs = [r for r in runs if r.dim == dim]
    teachers = sorted({r.teacher for r in runs})
    series: dict = {}
    for loss in sorted({r.loss for r in runs}):
        of_loss = [r for r in runs if r.loss == loss]
        keys = {key for r in of_loss for key in r.values}
        for split in sorted({split for split, _ in keys}):
            for label, name, transform in FIGURE_METRICS:
                if (split, name) in keys:
                    line = _curve(of_loss, teachers, (split, name), transform)
                    series.setdefault(loss, {}).setdefault(split, {})[label] = line
    seeds = {
        loss: {t: _seeds([r for r in runs if (r.loss, r.teacher) == (loss, t)]) for t in teachers} for loss in series
    }
    return {"dim": dim, "teachers": teachers, "seeds": seeds, "series": series}


def _seeds(runs: list[StudentRuns]) -> list[int]:
    return sorted({seed for run in runs for by_seed in run.values.values() for seed in by_seed})


def _curve(runs: list[StudentRuns], teachers: list[str], key, transform) -> dict:
    """One panel's line for one loss and split (:func:`curve_data`)."""
    per_teacher = {t: {} for t in teachers}  # teacher -> epoch -> values over seeds
    for run in runs:
        for by_epoch in run.values.get(key, {}).values():
            for epoch, value in by_epoch.items():
                per_teacher[run.teacher].setdefault(epoch, []).append(value)
    epochs = sorted({e for by_epoch in per_teacher.values() for e in by_epoch})
    out = {"epochs": epochs, "mean": [], "sigma": [], "rule": []}
    for epoch in epochs:
        groups = [np.asarray(by_epoch[epoch], np.float64) for by_epoch in per_teacher.values() if epoch in by_epoch]
        if transform is not None:
            with np.errstate(invalid="ignore"):
                groups = [transform(g) for g in groups]
        mean, sigma, rule = weighted_point(groups)
        out["mean"].append(mean)
        out["sigma"].append(sigma)
        out["rule"].append(rule)
    return out
