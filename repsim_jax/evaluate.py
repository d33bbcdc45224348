"""Teacher–student evaluation report (``WORKDIR/report.json``).

Each split's report is the output of the named evaluators of config ``eval.evaluators``
(:mod:`repsim_jax.evaluators`, default all). For each split, with student probabilities
``q`` and teacher probabilities ``p``:

- prediction: ``accuracy``, ``weighted_f1`` (per-class F1 weighted by support);
- agreement with the teacher: ``agreement`` (same argmax), ``kl_divergence``
  ``(1/n)Σ KL(p‖q)``, ``min_probability`` (smallest probability of each model: the τ of
  the KL–logit bound, arXiv 2602.15438), ``logit_distance`` (clr distance);
- representations (teacher = model 1): ``rep_dissimilarity``, ``mean_cca`` (the mean of
  the top ``cca_components`` canonical correlations when given, as the authors report
  top-2 on SUB; all otherwise; of the column spaces with ``default_rank_tol`` as in
  :mod:`repsim_jax.compare`, so rank-deficient embeddings have a value), ``linear_cka``,
  ``procrustes_distance``, ``gram_distance`` (see :mod:`repsim_jax.metrics`;
  :func:`repsim_jax.evaluators.similarity`, as ``compare``), and
  ``rep_dissimilarity_reference = rep_dissimilarity² / (P·C)``, the value the authors'
  code returns on the same P pivots × C subsets (equal when no subset is excluded as
  ill-conditioned; docs/theory.md §4), with the counts under ``pivot_subsets``;
- calibration of the student: ``ece`` (15 equal-width confidence bins,
  ``Σ_b (|b|/n)|acc_b − conf_b|``), ``brier`` (``(1/n)Σ‖q − e_y‖²``), ``nll``;
- ``authors``: the same comparison in the conventions of the authors' public code
  (:mod:`repsim_jax.authors`: d_rep of their evaluation scripts and of their training-time
  evaluation, KL in both directions, per-class ECE and Brier, scikit-learn's CCA score),
  on the pivots/subsets of ``rep_dissimilarity``; the teacher's own report has its
  calibration there and null for the keys that need a teacher;
- ranking agreement of the label orders by ``p`` and ``q`` per input, averaged:
  ``pairwise_accuracy`` (fraction of label pairs ordered alike), ``kendall_tau``,
  ``spearman``, ``ndcg`` (relevance ``p``, ranking by ``q``, gain ``p/log₂(1+rank)``);
- ``concept_probe`` when the data has concepts: per-concept logistic-regression probes
  on the student's embeddings, fitted on ``train`` and scored on each split
  (mean accuracy and F1 over concepts).

With several processes each process runs the models on its own share of each split's
rows (:func:`repsim_jax.row_statistics.own_rows`): the prediction, agreement and ranking
evaluators merge their sums across processes, the similarity and authors evaluators and
the concept probes see the rows gathered in process order; every process gets the same
report and process 0 writes it.

A metric that is undefined for the data (e.g. d_rep with fewer than ``d+1`` labels)
is ``null`` and its reason is listed under ``skipped``.

Training curves (config ``eval.curves``) are these numbers during training:
:class:`Curves` computes the chosen :data:`CURVE_METRICS` with :func:`split_report`
(``only=``) every ``eval.every`` epochs, so a curve's last point is the report's value.
"""

from __future__ import annotations

from typing import Callable, Collection

import jax
import numpy as np
from etils import epath
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from repsim_jax.calibration import brier_score, expected_calibration_error
from repsim_jax.errors import InputError
from repsim_jax.evaluators import CURVE_METRICS, DEFAULT_EVALUATORS, check_names, evaluator_of, split_report
from repsim_jax.ranking import ranking_agreement
from repsim_jax.row_statistics import gathered_rows, own_rows
from repsim_jax.workdir import write_json

__all__ = [
    "expected_calibration_error",
    "brier_score",
    "ranking_agreement",
    "concept_probe",
    "split_report",
    "evaluate",
    "CURVE_METRICS",
    "Curves",
]


def concept_probe(train_emb, train_concepts, splits: dict) -> dict[str, dict[str, float]]:
    """Per-concept logistic-regression probes fitted on ``train_emb``; for each split
    ``(emb, concepts)`` the mean accuracy and mean binary F1 over concepts."""
    mean, std = train_emb.mean(0), train_emb.std(0) + 1e-8
    out = {name: {"accuracy": [], "f1": []} for name in splits}
    for c in range(train_concepts.shape[1]):
        target = train_concepts[:, c]
        if np.unique(target).size < 2:
            continue
        probe = LogisticRegression(max_iter=1000).fit((train_emb - mean) / std, target)
        for name, (emb, concepts) in splits.items():
            pred = probe.predict((emb - mean) / std)
            out[name]["accuracy"].append(np.mean(pred == concepts[:, c]))
            out[name]["f1"].append(f1_score(concepts[:, c], pred, zero_division=0))
    return {name: {k: float(np.mean(v)) if v else None for k, v in d.items()} for name, d in out.items()}


def _outputs(trained, x, preprocess):
    """The model's ``(embeddings, logits, unembeddings)`` on this process's rows of ``x``
    (:func:`repsim_jax.row_statistics.own_rows`: all of them with one process)."""
    return (*trained.outputs(x[own_rows(len(x))], preprocess), trained.unembeddings)


def _own_report(student_outputs, teacher_outputs, labels, *options, **keywords) -> dict:
    """:func:`split_report` of this process's rows of a split, merged across processes."""
    across = jax.process_count() > 1
    own = np.asarray(labels)[own_rows(len(labels))]
    return split_report(student_outputs, teacher_outputs, own, *options, **keywords, across_processes=across)


def evaluate(
    student,
    splits: dict[str, dict],
    workdir: str | None = None,
    teacher=None,
    preprocess: Callable | None = None,
    pivot_options: dict | None = None,
    cca_components: int | None = None,
    run: dict | None = None,
    evaluators: Collection[str] = DEFAULT_EVALUATORS,
) -> dict:
    """Report for a student (and optional teacher), written to ``WORKDIR/report.json``.

    Args:
      student, teacher: :class:`repsim_jax.models.TrainedModel`.
      splits: ``{"train": {"x", "y"[, "concepts"]}, "test": {...}}``; any split names.
      workdir: where ``report.json`` goes (not written when ``None``).
      pivot_options: keyword arguments of :func:`repsim_jax.metrics.pivot_subsets`
        for d_rep (its defaults when ``None``); each split's report records them and
        the pivot/subset counts used under ``pivot_subsets``.
      cca_components: m_CCA over the top-k canonical correlations (None or 0: all;
        config key ``eval.cca_components``).
      run: where the model was trained (devices, mesh, ...), stored as the report's ``run``.
      evaluators: the names of :data:`repsim_jax.evaluators.EVALUATORS` reported (config
        key ``eval.evaluators``).
    """
    if not splits:
        raise InputError("evaluate needs at least one data split")
    evaluators = check_names(evaluators)
    outs, report = {}, {}
    for name, data in splits.items():
        if "x" not in data or "y" not in data:
            raise InputError(f"split {name!r} needs 'x' and 'y', got keys {sorted(data)}")
        s = _outputs(student, data["x"], preprocess)
        t = None if teacher is None else _outputs(teacher, data["x"], preprocess)
        outs[name] = s
        report[name] = _own_report(s, t, data["y"], pivot_options, cca_components, evaluators=evaluators)
    with_concepts = {n: d for n, d in splits.items() if "concepts" in d}
    if "train" in with_concepts:
        embeddings = {n: gathered_rows(outs[n][0]) for n in with_concepts}
        probe = concept_probe(
            embeddings["train"],
            np.asarray(with_concepts["train"]["concepts"]),
            {n: (embeddings[n], np.asarray(d["concepts"])) for n, d in with_concepts.items()},
        )
        for name, values in probe.items():
            report[name]["concept_probe"] = values
    if run is not None:
        report["run"] = run
    if workdir is not None and jax.process_index() == 0:
        path = epath.Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "report.json", report)  # atomic: a kill never leaves half a report
    return report


def _flat_value(report: dict, name: str):
    """The value at flattened key ``name`` (``authors/cca_score``) of a split report, or
    ``KeyError`` when the report has no such key (e.g. ``agreement`` without a teacher)."""
    value = report
    for part in name.split("/"):
        value = value[part]
    return value


class Curves:
    """The report quantities ``names`` (:data:`CURVE_METRICS`) of trained students on
    ``splits``, for the training curves (config ``eval.curves``, every ``eval.every``
    epochs): each value is what :func:`split_report` gives, so a curve's last point is the
    final report's number. The teacher's outputs on each split are computed once, here.

    Calling it with students (:class:`repsim_jax.models.TrainedModel`, one per seed) gives
    one dict per student, ``{"<split>/<name>": value}``: null where the report has null
    (the reason is in the report's ``skipped``), absent where it has no such key (the
    teacher-comparing keys of a run without a teacher).
    """

    def __init__(
        self,
        names,
        splits: dict[str, dict],
        teacher=None,
        preprocess: Callable | None = None,
        pivot_options: dict | None = None,
        cca_components: int | None = None,
        evaluators: Collection[str] = DEFAULT_EVALUATORS,
    ):
        unknown = [n for n in names if n not in CURVE_METRICS]
        if unknown:
            raise InputError(f"eval.curves: unknown metric {unknown[0]!r}; choose from {', '.join(CURVE_METRICS)}")
        self.names = tuple(names)
        self._splits = splits
        self._preprocess = preprocess
        self._options = (pivot_options, cca_components)
        self._evaluators = check_names(evaluators)
        missing = [n for n in self.names if evaluator_of(n) not in self._evaluators]
        if missing:
            raise InputError(
                f"eval.curves: {missing[0]!r} comes from evaluator {evaluator_of(missing[0])!r}, "
                f"which eval.evaluators leaves out ({', '.join(self._evaluators)})"
            )
        self._teacher = {
            n: None if teacher is None else _outputs(teacher, d["x"], preprocess) for n, d in splits.items()
        }

    def __call__(self, students) -> list[dict]:
        rows = []
        for student in students:
            row = {}
            for split, data in self._splits.items():
                s = _outputs(student, data["x"], self._preprocess)
                report = _own_report(
                    s, self._teacher[split], data["y"], *self._options, only=self.names, evaluators=self._evaluators
                )
                for name in self.names:
                    try:
                        row[f"{split}/{name}"] = _flat_value(report, name)
                    except KeyError:
                        continue
            rows.append(row)
        return rows
