"""Teacher–student evaluation report (``WORKDIR/report.json``).

For each split, with student probabilities ``q`` and teacher probabilities ``p``:

- prediction: ``accuracy``, ``weighted_f1`` (per-class F1 weighted by support);
- agreement with the teacher: ``agreement`` (same argmax), ``kl_divergence``
  ``(1/n)Σ KL(p‖q)``, ``min_probability`` (smallest probability of each model: the τ of
  the KL–logit bound, arXiv 2602.15438), ``logit_distance`` (clr distance);
- representations (teacher = model 1): ``rep_dissimilarity``, ``mean_cca`` (the mean of
  the top ``cca_components`` canonical correlations when given, as the authors report
  top-2 on SUB; all otherwise; of the column spaces with ``default_rank_tol`` as in
  :mod:`repsim_jax.compare`, so rank-deficient embeddings have a value), ``linear_cka``, ``procrustes_distance`` (see
  :mod:`repsim_jax.metrics`), and
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

A metric that is undefined for the data (e.g. d_rep with fewer than ``d+1`` labels)
is ``null`` and its reason is listed under ``skipped``.

Training curves (config ``eval.curves``) are these numbers during training:
:class:`Curves` computes the chosen :data:`CURVE_METRICS` with :func:`split_report`
(``only=``) every ``eval.every`` epochs, so a curve's last point is the report's value.
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable, Collection

import jax
import numpy as np
import scipy.special
import scipy.stats
from etils import epath
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from repsim_jax import authors, metrics
from repsim_jax.errors import InputError
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

CURVE_METRICS = (
    "accuracy",
    "weighted_f1",
    "nll",
    "ece",
    "brier",
    "min_probability/student",
    "min_probability/teacher",
    "agreement",
    "kl_divergence",
    "logit_distance",
    "rep_dissimilarity",
    "rep_dissimilarity_reference",
    "mean_cca",
    "linear_cka",
    "procrustes_distance",
    *(f"ranking/{k}" for k in ("pairwise_accuracy", "kendall_tau", "spearman", "ndcg")),
    *(f"authors/{k}" for k in authors.KEYS),
)
"""The scalars of :func:`split_report` by flattened name (``section/key``): what
config ``eval.curves`` may ask the training loop for."""


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """``ECE = Σ_b (|b|/n) |acc_b − conf_b|`` over equal-width confidence bins."""
    conf, pred = probs.max(-1), probs.argmax(-1)
    bins = np.minimum((conf * num_bins).astype(int), num_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        mask = bins == b
        ece += mask.mean() * abs(np.mean(pred[mask] == labels[mask]) - conf[mask].mean())
    return float(ece)


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """``(1/n) Σ_x ‖q(x) − e_{y(x)}‖²``, as ``‖q‖² − 2 q_y + 1`` per input (no n × K one-hot)."""
    picked = np.take_along_axis(probs, np.asarray(labels)[:, None], -1)[:, 0]
    return float(np.mean(np.einsum("nk,nk->n", probs, probs) - 2 * picked + 1))


_PAIR_ELEMENTS = 1 << 23
"""Label-pair entries (rows × K(K−1)/2) that :func:`ranking_agreement` forms at once:
a chunk's int16 pair signs and their temporaries stay near 100 MB whatever n is."""


def _dense_ranks(x: np.ndarray) -> np.ndarray:
    """Per-row ranks ``1..K`` with tied values sharing one rank: the order and the ties of
    ``x`` exactly, in int16 (int32 from K = 2¹⁵ labels)."""
    ranks = scipy.stats.rankdata(x, method="dense", axis=-1)
    return ranks.astype(np.int16 if x.shape[-1] < 2**15 else np.int32)


def _pair_signs(x: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``sign(x_i − x_j)`` per row for the label pairs ``(first[m], second[m])`` (i < j)."""
    ranks = _dense_ranks(x)
    return np.sign(ranks[:, first] - ranks[:, second])


def _row_statistics(p, q, first, second) -> tuple[np.ndarray, ...]:
    """Per input of a chunk: the number of label pairs ordered alike by ``p`` and ``q``,
    Kendall's τ-b, Spearman's ρ and the NDCG (see :func:`ranking_agreement`)."""
    sign_p, sign_q = _pair_signs(p, first, second), _pair_signs(q, first, second)
    same = np.count_nonzero(sign_p == sign_q, axis=-1)
    concordance = np.sum(sign_p * sign_q, axis=-1, dtype=np.int64)
    untied = np.count_nonzero(sign_p, axis=-1).astype(np.float64) * np.count_nonzero(sign_q, axis=-1)
    del sign_p, sign_q
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = concordance / np.sqrt(untied)  # 0/0 = NaN where p or q ties every label
        rank_p, rank_q = scipy.stats.rankdata(p, axis=-1), scipy.stats.rankdata(q, axis=-1)
        rp, rq = rank_p - rank_p.mean(-1, keepdims=True), rank_q - rank_q.mean(-1, keepdims=True)
        spearman = np.sum(rp * rq, -1) / np.sqrt(np.sum(rp**2, -1) * np.sum(rq**2, -1))
    discount = 1.0 / np.log2(np.arange(2, p.shape[-1] + 2))
    dcg = np.sum(np.take_along_axis(p, np.argsort(-q, -1, kind="stable"), -1) * discount, -1)
    ideal = np.sum(-np.sort(-p, -1) * discount, -1)
    return same, tau, spearman, dcg / ideal


def ranking_agreement(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Agreement of the per-input label rankings by ``p`` (reference) and ``q``.

    With ``s_p = sign(p_i − p_j)``, ``s_q = sign(q_i − q_j)`` over the label pairs i < j
    of one input: ``pairwise_accuracy`` = the fraction of pairs with ``s_p = s_q`` (over
    all inputs' pairs); ``kendall_tau`` = τ-b = ``Σ s_p s_q / sqrt(Σ|s_p| · Σ|s_q|)``
    (Kendall 1945, the variant of ``scipy.stats.kendalltau``; NaN for an input whose p or
    q ties every label); ``spearman`` = Pearson correlation of the average ranks;
    ``ndcg`` = DCG of the ``q`` ranking with relevance ``p`` (gain ``p/log₂(1+rank)``)
    over the ideal DCG, labels that ``q`` ties ranked in label order. τ-b and ρ are
    averaged over the inputs where defined (nanmean), NDCG over all.

    Computed over chunks of inputs whose ``rows × K(K−1)/2`` pair signs stay within
    :data:`_PAIR_ELEMENTS` (at least one input per chunk), vectorised within a chunk: the
    memory is O(n + K² + chunk) beside the inputs, not O(n·K²).
    """
    n, k = p.shape
    first, second = np.triu_indices(k, 1)
    step = max(1, _PAIR_ELEMENTS // max(1, first.size))
    chunks = [_row_statistics(p[s : s + step], q[s : s + step], first, second) for s in range(0, n, step)]
    same, tau, spearman, ndcg = (np.concatenate(parts) for parts in zip(*chunks))
    return {
        "pairwise_accuracy": float(np.sum(same) / (n * first.size)),
        "kendall_tau": float(np.nanmean(tau)),
        "spearman": float(np.nanmean(spearman)),
        "ndcg": float(np.mean(ndcg)),
    }


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


def _representation_metrics(
    t_emb, t_g, s_emb, s_g, pivot_options, cca_components=None, wanted: Callable[[str], bool] = lambda name: True
) -> tuple[dict, dict]:
    """d_rep, m_CCA (top ``cca_components``), CKA and Procrustes with the teacher as
    model 1, those of them ``wanted``; errors → skipped."""
    values, skipped = {}, {}
    num_labels, dim = t_g.shape
    if wanted("rep_dissimilarity") or wanted("rep_dissimilarity_reference"):
        try:
            pivots, subsets = metrics.pivot_subsets(num_labels, dim, **pivot_options)
            count = int(subsets.shape[0] * subsets.shape[1])
            values["pivot_subsets"] = {
                "pivots_used": int(subsets.shape[0]),
                "subsets_per_pivot": int(subsets.shape[1]),
                "options": pivot_options,
            }
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values["rep_dissimilarity"] = metrics.rep_dissimilarity(t_emb, t_g, s_emb, s_g, pivots, subsets)
            values["rep_dissimilarity_reference"] = float(values["rep_dissimilarity"]) ** 2 / count
        except ValueError as err:
            values["rep_dissimilarity"], skipped["rep_dissimilarity"] = None, str(err)
    # column spaces, as in compare/streaming: defined for rank-deficient embeddings (LayerNorm outputs,
    # bias columns); the tolerance of the dtype the metric computes in (float32 unless x64 is on)
    rank_tol = metrics.default_rank_tol(jax.dtypes.canonicalize_dtype(t_emb.dtype))
    kernels = {
        "mean_cca": functools.partial(metrics.mean_cca, num_components=cca_components, rank_tol=rank_tol),
        "linear_cka": metrics.linear_cka,
        "procrustes_distance": metrics.procrustes_distance,
    }
    for name, fn in kernels.items():
        if not wanted(name):
            continue
        try:
            values[name] = fn(t_emb, s_emb)
        except ValueError as err:
            values[name], skipped[name] = None, str(err)
    return {k: v if v is None or isinstance(v, dict) else float(v) for k, v in values.items()}, skipped


def _wanted(only: Collection[str] | None) -> Callable[[str], bool]:
    """``name -> bool``: whether report key ``name`` (or a key inside it, ``name/...``)
    is among the flattened names ``only`` (every key when ``only`` is None)."""
    if only is None:
        return lambda name: True
    return lambda name: any(k == name or k.startswith(name + "/") for k in only)


def split_report(
    student: tuple,
    teacher: tuple | None,
    labels,
    pivot_options: dict | None = None,
    cca_components: int | None = None,
    only: Collection[str] | None = None,
) -> dict:
    """Every metric for one split. ``student``/``teacher`` are
    ``(embeddings, logits, unembedding G)`` as NumPy arrays; ``pivot_options``
    (``num_pivots``, ``num_subsets``, ``seed``) go to :func:`repsim_jax.metrics.pivot_subsets`;
    ``cca_components``: m_CCA over the top-k canonical correlations (None or 0: all).
    ``only``: compute just these flattened keys (:data:`CURVE_METRICS`, e.g.
    ``authors/cca_score``; the training curves' choice) besides the prediction metrics,
    which are always there; None: every metric."""
    wanted = _wanted(only)
    s_emb, s_logits, s_g = (np.asarray(a, np.float64) for a in student)
    labels = np.asarray(labels)
    q = scipy.special.softmax(s_logits, axis=-1)
    pred = q.argmax(-1)
    report = {
        "accuracy": float(np.mean(pred == labels)),
        "weighted_f1": float(f1_score(labels, pred, average="weighted")),
        "nll": float(-np.mean(np.log(np.maximum(q[np.arange(len(labels)), labels], 1e-300)))),
        "ece": expected_calibration_error(q, labels),
        "brier": brier_score(q, labels),
        "min_probability": {"student": float(q.min())},
        "skipped": {},
    }
    t_arrays = None if teacher is None else tuple(np.asarray(a, np.float64) for a in teacher)
    if wanted("authors"):
        keys = [k for k in authors.KEYS if wanted(f"authors/{k}")]
        report["authors"], skipped = authors.section((s_emb, s_logits, s_g), t_arrays, labels, pivot_options, keys)
        report["skipped"].update(skipped)
    if t_arrays is None:
        return report
    t_emb, t_logits, t_g = t_arrays
    p = scipy.special.softmax(t_logits, axis=-1)
    report["agreement"] = float(np.mean(pred == p.argmax(-1)))
    report["min_probability"]["teacher"] = float(p.min())
    if wanted("kl_divergence"):
        report["kl_divergence"] = float(metrics.kl_divergence(t_logits, s_logits))
    if wanted("logit_distance"):
        report["logit_distance"] = float(metrics.logit_distance(t_logits, s_logits))
    reps, skipped = _representation_metrics(t_emb, t_g, s_emb, s_g, pivot_options or {}, cca_components or None, wanted)
    report.update(reps)
    report["skipped"].update(skipped)
    if wanted("ranking"):
        report["ranking"] = ranking_agreement(p, q)
    return report


def _outputs(trained, x, preprocess):
    return (*trained.outputs(x, preprocess), trained.unembeddings)


def evaluate(
    student,
    splits: dict[str, dict],
    workdir: str | None = None,
    teacher=None,
    preprocess: Callable | None = None,
    pivot_options: dict | None = None,
    cca_components: int | None = None,
    run: dict | None = None,
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
    """
    if not splits:
        raise InputError("evaluate needs at least one data split")
    outs, report = {}, {}
    for name, data in splits.items():
        if "x" not in data or "y" not in data:
            raise InputError(f"split {name!r} needs 'x' and 'y', got keys {sorted(data)}")
        s = _outputs(student, data["x"], preprocess)
        t = None if teacher is None else _outputs(teacher, data["x"], preprocess)
        outs[name] = s
        report[name] = split_report(s, t, data["y"], pivot_options, cca_components)
    with_concepts = {n: d for n, d in splits.items() if "concepts" in d}
    if "train" in with_concepts:
        probe = concept_probe(
            outs["train"][0],
            np.asarray(with_concepts["train"]["concepts"]),
            {n: (outs[n][0], np.asarray(d["concepts"])) for n, d in with_concepts.items()},
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
    ):
        unknown = [n for n in names if n not in CURVE_METRICS]
        if unknown:
            raise InputError(f"eval.curves: unknown metric {unknown[0]!r}; choose from {', '.join(CURVE_METRICS)}")
        self.names = tuple(names)
        self._splits = splits
        self._preprocess = preprocess
        self._options = (pivot_options, cca_components)
        self._teacher = {
            n: None if teacher is None else _outputs(teacher, d["x"], preprocess) for n, d in splits.items()
        }

    def __call__(self, students) -> list[dict]:
        rows = []
        for student in students:
            row = {}
            for split, data in self._splits.items():
                s = _outputs(student, data["x"], self._preprocess)
                report = split_report(s, self._teacher[split], data["y"], *self._options, only=self.names)
                for name in self.names:
                    try:
                        row[f"{split}/{name}"] = _flat_value(report, name)
                    except KeyError:
                        continue
            rows.append(row)
        return rows
