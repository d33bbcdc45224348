"""Named evaluators: a split's report is the ``(name, value)`` pairs of the evaluators that
config ``eval.evaluators`` chooses (big_vision style), shared by ``evaluate``, ``compare``
and the training loop's curves.

Each evaluator takes a :class:`Split` (the student's and teacher's outputs on one split,
the labels and the options) and yields ``(name, value)`` pairs whose ``/``-separated
names nest in the report (``min_probability/student`` → ``{"min_probability":
{"student": …}}``) and ``("skipped/<key>", reason)`` for a value left null:

- ``prediction``: ``accuracy``, ``weighted_f1``, ``nll``, ``ece``, ``brier``,
  ``min_probability/student`` (always run: the report's first lines);
- ``agreement`` (teacher): ``agreement`` (same argmax), ``min_probability/teacher``;
- ``similarity`` (teacher): :func:`similarity` (``kl_divergence``, ``logit_distance``,
  ``mean_cca``, ``linear_cka``, ``procrustes_distance``, ``gram_distance``,
  ``rep_dissimilarity`` with ``rep_dissimilarity_reference`` and ``pivot_subsets``), the
  function ``compare`` uses;
- ``ranking`` (teacher): :func:`repsim_jax.ranking.ranking_agreement` of p and q;
- ``authors``: the authors' conventions (:func:`repsim_jax.authors.section`).

The teacher's own report (no teacher) runs those not marked (teacher).

``prediction``, ``agreement`` and ``ranking`` are :class:`RowEvaluator`: their values follow
from sums over the inputs (:class:`~repsim_jax.row_statistics.RowStatistics`), so a split in
memory is one chunk and several processes, each with its own rows, merge their sums;
``similarity`` and ``authors`` are :class:`SplitEvaluator`: they need every row at once
(gathered across processes).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Callable, Collection, Iterator, NamedTuple

import jax
import numpy as np
import scipy.special

from repsim_jax import authors, metrics
from repsim_jax.calibration import brier_from, calibration_statistics, ece_from
from repsim_jax.errors import InputError
from repsim_jax.heap import release_freed_memory
from repsim_jax.io import Representation
from repsim_jax.ranking import ranking_statistics, ranking_values
from repsim_jax.row_statistics import RowStatistics, gathered_rows, on_every_process

__all__ = [
    "EVALUATORS",
    "DEFAULT_EVALUATORS",
    "KEYS",
    "CURVE_METRICS",
    "Split",
    "check_names",
    "evaluator_of",
    "similarity",
    "split_report",
]

SIMILARITY_METRICS = (
    "kl_divergence",
    "logit_distance",
    "rep_dissimilarity",
    "mean_cca",
    "linear_cka",
    "procrustes_distance",
    "gram_distance",
)
"""The comparison metrics of :func:`similarity` (model 1 the teacher: KL(1 ‖ 2), d_rep maps 2 onto 1)."""

KEYS = {
    "prediction": ("accuracy", "weighted_f1", "nll", "ece", "brier", "min_probability/student"),
    "agreement": ("agreement", "min_probability/teacher"),
    "similarity": (*SIMILARITY_METRICS, "rep_dissimilarity_reference"),
    "ranking": tuple(f"ranking/{k}" for k in ("pairwise_accuracy", "kendall_tau", "spearman", "ndcg")),
    "authors": tuple(f"authors/{k}" for k in authors.KEYS),
}
"""The scalar report keys (flattened, ``section/key``) each evaluator yields."""

CURVE_METRICS = tuple(key for keys in KEYS.values() for key in keys)
"""The scalars of :func:`split_report` by flattened name: what config ``eval.curves`` may
ask the training loop for."""


def evaluator_of(key: str) -> str:
    """The name of the evaluator that yields report key ``key`` (one of :data:`CURVE_METRICS`)."""
    return next(name for name, keys in KEYS.items() if key in keys)


@dataclasses.dataclass
class Split:
    """One split's outputs: ``student`` and ``teacher`` (None: the teacher's own report) as
    :class:`~repsim_jax.io.Representation` in their own dtype (the probabilities in float64),
    integer ``labels``, d_rep's
    ``pivot_options``, m_CCA's ``cca_components`` (None: all) and ``wanted(name)``, whether
    a flattened report key is asked for."""

    student: Representation
    teacher: Representation | None
    labels: np.ndarray
    pivot_options: dict
    cca_components: int | None
    wanted: Callable[[str], bool]

    @functools.cached_property
    def q(self) -> np.ndarray:
        """The student's probabilities."""
        return scipy.special.softmax(np.asarray(self.student.logits, np.float64), axis=-1)

    @functools.cached_property
    def p(self) -> np.ndarray:
        """The teacher's probabilities."""
        return scipy.special.softmax(np.asarray(self.teacher.logits, np.float64), axis=-1)

    def gathered(self) -> Split:
        """This split with every process's rows, in process order (:mod:`repsim_jax.row_statistics`)."""

        def every_row(model: Representation | None) -> Representation | None:
            if model is None:
                return None
            return model._replace(embeddings=gathered_rows(model.embeddings), logits=gathered_rows(model.logits))

        return dataclasses.replace(
            self, student=every_row(self.student), teacher=every_row(self.teacher), labels=gathered_rows(self.labels)
        )


def prediction_statistics(split: Split) -> RowStatistics:
    """The student's sums over the inputs: correct predictions, per label the support,
    the predictions and the true positives (for F1), the NLL, the calibration sums
    (:func:`~repsim_jax.calibration.calibration_statistics`); its smallest probability."""
    q, labels = split.q, split.labels
    num_labels, pred = q.shape[1], q.argmax(-1)
    sums = {
        "correct": np.sum(pred == labels),
        "support": np.bincount(labels, minlength=num_labels),
        "predicted": np.bincount(pred, minlength=num_labels),
        "true_positives": np.bincount(labels[pred == labels], minlength=num_labels),
        "nll": -np.sum(np.log(np.maximum(q[np.arange(len(labels)), labels], 1e-300))),
    }
    return RowStatistics.of(calibration_statistics(q, labels).sums | sums, {"probability": q.min()})


def _weighted_f1(sums: dict) -> float:
    """Support-weighted F1, ``Σ_c (n_c/n) · 2 TP_c / (n_c + P_c)`` (n_c inputs of label c,
    P_c predicted c; 0 where both are 0), as ``sklearn.metrics.f1_score(average="weighted")``."""
    support, predicted, true_positives = sums["support"], sums["predicted"], sums["true_positives"]
    per_label = np.divide(
        2 * true_positives, support + predicted, out=np.zeros_like(support), where=support + predicted > 0
    )
    return float(np.sum(support * per_label) / np.sum(support))


def prediction_values(statistics: RowStatistics) -> Iterator[tuple[str, object]]:
    """Accuracy, support-weighted F1, NLL, ECE, Brier and the smallest probability of the student."""
    sums = statistics.sums
    num_inputs = np.sum(sums["support"])
    yield "accuracy", float(sums["correct"] / num_inputs)
    yield "weighted_f1", _weighted_f1(sums)
    yield "nll", float(sums["nll"] / num_inputs)
    yield "ece", ece_from(statistics)
    yield "brier", brier_from(statistics)
    yield "min_probability/student", float(statistics.minima["probability"])


def agreement_statistics(split: Split) -> RowStatistics:
    """Inputs where student and teacher predict the same label, inputs; the teacher's smallest probability."""
    same = np.sum(split.q.argmax(-1) == split.p.argmax(-1))
    return RowStatistics.of({"same": same, "inputs": len(split.labels)}, {"probability": split.p.min()})


def agreement_values(statistics: RowStatistics) -> Iterator[tuple[str, object]]:
    """The fraction of inputs where student and teacher predict the same label, and the
    teacher's smallest probability (the τ of the KL–logit bound)."""
    yield "agreement", float(statistics.sums["same"] / statistics.sums["inputs"])
    yield "min_probability/teacher", float(statistics.minima["probability"])


def ranking_of_split(split: Split) -> RowStatistics | None:
    """:func:`~repsim_jax.ranking.ranking_statistics` of the teacher's and the student's
    probabilities (None when not wanted)."""
    return ranking_statistics(split.p, split.q) if split.wanted("ranking") else None


def ranking_section(statistics: RowStatistics) -> Iterator[tuple[str, object]]:
    """The ``ranking`` section: :func:`~repsim_jax.ranking.ranking_agreement`."""
    yield "ranking", ranking_values(statistics)


def authors_section(split: Split) -> Iterator[tuple[str, object]]:
    """The ``authors`` section (:func:`repsim_jax.authors.section`) of the keys wanted."""
    keys = [k for k in authors.KEYS if split.wanted(f"authors/{k}")]
    student, teacher = (
        None if m is None else (m.embeddings, m.logits, m.unembeddings) for m in (split.student, split.teacher)
    )
    values, skipped = authors.section(
        student, teacher, split.labels, split.pivot_options, keys, student_probabilities=split.q
    )
    yield "authors", values
    for key, reason in skipped.items():
        yield f"skipped/{key}", reason


def _similarity_of_split(split: Split) -> Iterator[tuple[str, object]]:
    values, skipped = similarity(split.teacher, split.student, split.pivot_options, split.cca_components, split.wanted)
    yield from values.items()
    for key, reason in skipped.items():
        yield f"skipped/{key}", reason


class RowEvaluator(NamedTuple):
    """An evaluator whose values follow from sums over the inputs: ``statistics(split)``
    (None: nothing wanted) of any rows, merged over processes, then ``finish``."""

    statistics: Callable[[Split], RowStatistics | None]
    finish: Callable[[RowStatistics], Iterator[tuple[str, object]]]
    needs_teacher: bool


class SplitEvaluator(NamedTuple):
    """An evaluator that needs every row of the split at once, run when ``wanted(split)``."""

    run: Callable[[Split], Iterator[tuple[str, object]]]
    wanted: Callable[[Split], bool]
    needs_teacher: bool


EVALUATORS: dict[str, RowEvaluator | SplitEvaluator] = {
    "prediction": RowEvaluator(prediction_statistics, prediction_values, False),
    "agreement": RowEvaluator(agreement_statistics, agreement_values, True),
    "similarity": SplitEvaluator(_similarity_of_split, lambda split: any(map(split.wanted, KEYS["similarity"])), True),
    "ranking": RowEvaluator(ranking_of_split, ranking_section, True),
    "authors": SplitEvaluator(authors_section, lambda split: split.wanted("authors"), False),
}
"""Each evaluator by name."""

DEFAULT_EVALUATORS = tuple(EVALUATORS)


def check_names(names, key: str = "eval.evaluators") -> tuple[str, ...]:
    """``names`` as a tuple; InputError naming ``key`` for an unknown one or without ``prediction``."""
    names = tuple(names)
    unknown = [name for name in names if name not in EVALUATORS]
    if unknown:
        raise InputError(f"{key}: unknown evaluator {unknown[0]!r}; choose from {', '.join(EVALUATORS)}")
    if "prediction" not in names:
        raise InputError(f"{key}: 'prediction' is always reported; add it (got {list(names)})")
    return names


def _wants_rep(wanted) -> bool:
    return wanted("rep_dissimilarity") or wanted("rep_dissimilarity_reference")


def _wanted_metric(name: str, wanted) -> bool:
    """Whether metric ``name`` is needed: asked for, or d_rep for its reference value."""
    return _wants_rep(wanted) if name == "rep_dissimilarity" else wanted(name)


def _one_by_one(first, second, pivot_options, cca_components, wanted) -> tuple[dict, dict]:
    """Each wanted metric the arrays allow, computed on its own; a failure → None and its reason."""
    x, y = first.embeddings, second.embeddings
    rank_tol = metrics.default_rank_tol(jax.dtypes.canonicalize_dtype(x.dtype))
    planned = {
        "mean_cca": lambda: metrics.mean_cca(x, y, num_components=cca_components, rank_tol=rank_tol),
        "linear_cka": lambda: metrics.linear_cka(x, y),
        "procrustes_distance": lambda: metrics.procrustes_distance(x, y),
        "gram_distance": lambda: metrics.gram_distance(x, y),
    }
    z1, z2 = first.all_logits, second.all_logits
    if z1 is not None and z2 is not None:
        planned |= {
            "kl_divergence": lambda: metrics.kl_divergence(z1, z2),
            "logit_distance": lambda: metrics.logit_distance(z1, z2),
        }
    if first.unembeddings is not None and second.unembeddings is not None:
        planned["rep_dissimilarity"] = lambda: _rep_entries(first, second, pivot_options)
    values, skipped = {}, {}
    for name, compute in planned.items():
        if _wanted_metric(name, wanted):
            try:
                result = compute()
                values |= result if isinstance(result, dict) else {name: float(result)}
            except ValueError as error:
                values[name], skipped[name] = None, str(error)
            release_freed_memory()
    return values, skipped


def _rep_entries(first: Representation, second: Representation, pivot_options: dict) -> dict:
    """d_rep on ``pivot_subsets(K, d₁, **pivot_options)``, ``rep_dissimilarity_reference =
    d²_rep / (P·C)`` and the ``pivot_subsets`` entry (counts, options); ValueError where d_rep
    is undefined."""
    pivots, subsets = metrics.pivot_subsets(*first.unembeddings.shape, **pivot_options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # excluded ill-conditioned subsets: counted in the kernel's details
        value = float(metrics.rep_dissimilarity(*first[:2], *second[:2], pivots, subsets))
    num_pivots, num_subsets = int(subsets.shape[0]), int(subsets.shape[1])
    return {
        "rep_dissimilarity": value,
        "rep_dissimilarity_reference": value**2 / (num_pivots * num_subsets),
        "pivot_subsets": {"pivots_used": num_pivots, "subsets_per_pivot": num_subsets, "options": pivot_options},
    }


def similarity(
    first: Representation,
    second: Representation,
    pivot_options: dict | None = None,
    cca_components: int | None = None,
    wanted: Callable[[str], bool] = lambda name: True,
) -> tuple[dict, dict]:
    """Model ``first`` (the teacher, model 1) against ``second``: the wanted
    :data:`SIMILARITY_METRICS`, and with d_rep its ``rep_dissimilarity_reference =
    d²_rep / (P·C)`` (the authors' training-time value on the same subsets) and
    ``pivot_subsets`` (counts, options). Returns ``(values, {key: reason})``.

    Each metric is computed on the arrays in memory by its :mod:`repsim_jax.metrics`
    function (KL and d_logit from the stored logits, else ``embeddings @ unembeddingsᵀ``);
    a failure is null with its reason, a metric the arrays cannot give (no logits, no
    unembeddings) is absent. The streamed and multi-process comparison
    (:mod:`repsim_jax.streaming`) gives the same values up to rounding."""
    return _one_by_one(first, second, pivot_options or {}, cca_components, wanted)


def wanted_keys(only: Collection[str] | None) -> Callable[[str], bool]:
    """``name -> bool``: whether report key ``name`` (or a key inside it, ``name/...``)
    is among the flattened names ``only`` (every key when ``only`` is None)."""
    if only is None:
        return lambda name: True
    return lambda name: any(k == name or k.startswith(name + "/") for k in only)


def _nested(pairs: Iterator[tuple[str, object]]) -> dict:
    """The report of ``(name, value)`` pairs, ``/``-separated names nested."""
    report = {}
    for name, value in pairs:
        *path, leaf = name.split("/", 1) if name.startswith("skipped/") else name.split("/")
        node = report
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    report.setdefault("skipped", {})
    return report


def split_report(
    student: tuple,
    teacher: tuple | None,
    labels,
    pivot_options: dict | None = None,
    cca_components: int | None = None,
    only: Collection[str] | None = None,
    evaluators: Collection[str] = DEFAULT_EVALUATORS,
    across_processes: bool = False,
) -> dict:
    """The report of one split: the pairs of the ``evaluators`` (names of :data:`EVALUATORS`)
    nested. ``student``/``teacher`` are ``(embeddings, logits, unembedding G)`` arrays;
    ``pivot_options`` (``num_pivots``, ``num_subsets``, ``seed``) go to
    :func:`repsim_jax.metrics.pivot_subsets`; ``cca_components``: m_CCA over the top-k
    canonical correlations (None or 0: all). ``only``: compute just these flattened keys
    (:data:`CURVE_METRICS`, e.g. ``authors/cca_score``; the training curves' choice) besides
    the prediction metrics, which are always there; None: every key of the evaluators.

    ``across_processes``: the rows given are this process's share of the split (every
    process calls this with its own rows, :func:`repsim_jax.row_statistics.own_rows`): the
    row evaluators' statistics are merged across processes, the others see every process's
    rows gathered in process order; each process gets the whole split's report."""

    def outputs(arrays) -> Representation:
        embeddings, logits, unembeddings = (np.asarray(a) for a in arrays)
        return Representation(embeddings, unembeddings, logits)

    split = Split(
        outputs(student),
        None if teacher is None else outputs(teacher),
        np.asarray(labels),
        pivot_options or {},
        cca_components or None,
        wanted_keys(only),
    )
    whole = functools.cache(lambda: split.gathered() if across_processes else split)
    chosen = [EVALUATORS[name] for name in check_names(evaluators)]
    runs = [e for e in chosen if teacher is not None or not e.needs_teacher]
    return _nested(pair for evaluator in runs for pair in _releasing(_pairs(evaluator, split, whole, across_processes)))


def _pairs(evaluator, split: Split, whole: Callable[[], Split], across_processes: bool):
    """The ``(name, value)`` pairs of ``evaluator`` on ``split`` (this process's rows when
    ``across_processes``) or on ``whole()`` (every row)."""
    if isinstance(evaluator, SplitEvaluator):
        return evaluator.run(whole()) if evaluator.wanted(split) else iter(())
    compute = functools.partial(evaluator.statistics, split)
    statistics = on_every_process(compute) if across_processes else compute()
    if statistics is None:
        return iter(())
    return evaluator.finish(statistics.merge_processes() if across_processes else statistics)


def _releasing(pairs: Iterator[tuple[str, object]]) -> Iterator[tuple[str, object]]:
    """``pairs``, then the memory their computation freed given back (:mod:`repsim_jax.heap`)."""
    yield from pairs
    release_freed_memory()
