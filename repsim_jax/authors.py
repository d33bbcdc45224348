"""The authors' conventions: the numbers of arXiv 2602.15438's public code beside ours.

The authors' PyTorch code (GitHub bemigini/logit-distance-bounds-rep-sim, commit ddd5286)
reports some quantities under other conventions than :mod:`repsim_jax.evaluate`. Each
split of a report carries them in an ``authors`` section with the keys :data:`KEYS`; for
a teacher (model ``t``: embeddings f_t, unembeddings G_t, probabilities p) and a student
(``s``: f_s, G_s, q), on the split's n inputs with labels y:

- ``rep_dissimilarity_eval`` (:func:`rep_dissimilarity_eval`, teacher = model 1):
  ``mean_{(p,S)} mean_x ‖f_t(x) − A f_s(x)‖`` (norms not squared), their evaluation scripts;
- ``rep_dissimilarity_train`` (:func:`rep_dissimilarity_train`, student = model 1):
  ``d²_rep / (P·C)``, their training-time evaluation;
- ``kl_student_teacher`` = ``mean_x KL(q‖p)`` (their evaluation scripts),
  ``kl_teacher_student`` = ``mean_x KL(p‖q)`` (their training-time evaluation), both by
  :func:`repsim_jax.metrics.kl_divergence`;
- ``ece_per_class``, ``brier_per_class`` (:func:`ece_per_class`, :func:`brier_per_class`):
  one-vs-rest calibration of the student's q per class, macro-averaged over classes;
- ``cca_score`` (:func:`cca_score`): scikit-learn's ``CCA(n_components=2)`` R² score.

Both d_rep values use the pivots and subsets of the report's own ``rep_dissimilarity``
(:func:`repsim_jax.metrics.pivot_subsets` with the report's ``pivot_subsets.options``,
for the width of model 1) and keep every subset: no exclusion by condition number. A
subset whose ``L₁`` is singular to float64 precision (condition number ≥ 1/eps) makes
them undefined (the authors' matrix inverse fails or returns rounding noise there): the
value is then null with the reason under ``skipped``.

The teacher's own report (no model to compare with) has the same seven keys: its own
``ece_per_class`` and ``brier_per_class``, and null for the five pairwise keys.

Everything is computed in float64 (the authors compute in float32). docs/theory.md
§4.1 states how each key relates to the report's own metrics.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from sklearn.cross_decomposition import CCA
from sklearn.exceptions import ConvergenceWarning

from repsim_jax import metrics
from repsim_jax.errors import InputError
from repsim_jax.heap import release_freed_memory

__all__ = [
    "KEYS",
    "NUM_BINS",
    "CCA_COMPONENTS",
    "rep_dissimilarity_eval",
    "rep_dissimilarity_train",
    "ece_per_class",
    "brier_per_class",
    "cca_score",
    "section",
]

KEYS = (
    "rep_dissimilarity_eval",
    "rep_dissimilarity_train",
    "kl_student_teacher",
    "kl_teacher_student",
    "ece_per_class",
    "brier_per_class",
    "cca_score",
)
NUM_BINS = 15  # utils/metrics.py::multiclass_calibration default
CCA_COMPONENTS = 2  # CCA(n_components=2) of their interpolation/extrapolation scripts
_SINGULAR = 1.0 / float(np.finfo(np.float64).eps)  # condition numbers from here on: L₁ singular to float64 precision
_BATCH_ELEMENTS = 1 << 22  # float64 entries of the residuals f₁ − A f₂ held at once (32 MiB)


def _subsets_all_kept(f1, g1, f2, g2, pivots, subsets) -> metrics.RepDissimilarity:
    """:func:`repsim_jax.metrics.rep_dissimilarity_details` (squared, float64) with every
    subset kept; InputError when some ``L₁`` is singular to float64 precision (Frobenius
    condition number ≥ 1/eps ≈ 4.5e15, or not finite): its inverse means nothing there."""
    with jax.enable_x64(True):
        details = metrics.rep_dissimilarity_details(
            np.asarray(f1, np.float64),
            np.asarray(g1, np.float64),
            np.asarray(f2, np.float64),
            np.asarray(g2, np.float64),
            pivots,
            subsets,
            squared=True,
            max_condition=_SINGULAR,
        )
    singular = int(details.num_excluded)
    if singular:
        raise InputError(
            f"L1 = G1[S] - G1[p] is singular to float64 precision (condition number >= {_SINGULAR:.2g}) for "
            f"{singular} of {details.included.size} (pivot, subset) pairs; the authors' d_rep inverts each"
        )
    return details


def rep_dissimilarity_train(f1, g1, f2, g2, pivots, subsets) -> float:
    """The authors' training-time d_rep: ``d²_rep / (P·C)``, every subset kept.

    For pivot p and subset S: ``A = L₁⁻¹L₂``, ``L₁ = G₁[S] − G₁[p]``, ``L₂ = G₂[S] − G₂[p]``,
    ``e_pS = (1/n) Σ_x ‖f₁(x) − A f₂(x)‖²``; the value is ``(1/(P·C)) · mean_pS e_pS``:
    ``dissimilarities/representation_dissimilarity.py::calculate_d_rep`` (lines 20–72)
    appends ``e_pS/(P·C)`` per subset and returns the mean of that list. Their label
    centring of G cancels in ``L``. Called with the **student** as model 1
    (``utils/posthoc_eval.py`` lines 110, 117: ``f1=s_embs, g1=s_unembs``).

    Computed from the moment form of :func:`repsim_jax.metrics.rep_dissimilarity_details`
    (squared, no condition-number exclusion), in float64. Arguments as there:
    f1 (n, d₁), g1 (K, d₁), f2 (n, d₂), g2 (K, d₂), pivots (P,), subsets (P, C, d₁).
    """
    details = _subsets_all_kept(f1, g1, f2, g2, pivots, subsets)
    return float(details.value) / details.included.size


@functools.partial(jax.jit, static_argnames="batch_size")
def _mean_norms(f1, g1, f2, g2, pivots, subsets, batch_size):
    """``mean_x ‖f₁(x) − A f₂(x)‖`` for every (pivot, subset), flattened to (P·C,); each
    batch solves for its own maps A, so the P·C maps are never held at once."""

    def mean_norm(pair):
        pivot, subset = pair
        a = jnp.linalg.solve(g1[subset] - g1[pivot], g2[subset] - g2[pivot])
        return jnp.mean(jnp.sqrt(jnp.sum((f1 - f2 @ a.T) ** 2, axis=1)))

    pairs = (jnp.repeat(pivots, subsets.shape[1]), subsets.reshape(-1, subsets.shape[-1]))
    return jax.lax.map(mean_norm, pairs, batch_size=batch_size)


def rep_dissimilarity_eval(f1, g1, f2, g2, pivots, subsets) -> float:
    """The authors' evaluation-script d_rep: the mean of the **unsquared** norms,

        mean_{(p,S)} (1/n) Σ_x ‖f₁(x) − A f₂(x)‖,     A = L₁⁻¹L₂,

    with ``L₁ = G₁[S] − G₁[p]``, ``L₂ = G₂[S] − G₂[p]``, every subset kept:
    ``utils/metrics.py::calculate_d_rep`` (lines ~361–405) appends
    ``Σ_x ‖f₁(x) − A f₂(x)‖ / (n·P·C)`` per subset and returns the sum of that list.
    Called with the **teacher** as model 1 (``evaluation/syn_evaluate_standard.py``,
    ``evaluation/sub_evaluate.py``: ``calculate_d_rep(teacher, student, g_teach, g_student)``).
    By Jensen it is at most ``sqrt(mean_pS e_pS)``, our d_rep with nothing excluded.

    No moment form exists for the mean of norms: each subset's n residuals are formed
    (``A`` by a linear solve, batched over subsets), in float64. Arguments as in
    :func:`rep_dissimilarity_train`.
    """
    _subsets_all_kept(f1, g1, f2, g2, pivots, subsets)  # validates; refuses a singular L₁
    n, width = np.shape(f1)[0], max(np.shape(f1)[1], np.shape(f2)[1])
    count = int(np.shape(subsets)[0] * np.shape(subsets)[1])
    batch_size = max(1, min(count, _BATCH_ELEMENTS // (n * width)))
    with jax.enable_x64(True):
        arrays = (jnp.asarray(a, jnp.float64) for a in (f1, g1, f2, g2))
        norms = _mean_norms(*arrays, jnp.asarray(pivots), jnp.asarray(subsets), batch_size)
        return float(jnp.mean(norms))


def _checked_probabilities(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` (n, K) finite in [0, 1] and integer ``labels`` (n,) in [0, K), as float64/int."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise InputError(f"probabilities must have shape (n >= 1, K >= 2), got {probs.shape}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise InputError("probabilities must be finite and in [0, 1]")
    if labels.shape != probs.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be {probs.shape[0]} integers, got shape {labels.shape} dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise InputError(f"labels must lie in [0, {probs.shape[1]}), got [{labels.min()}, {labels.max()}]")
    return probs, labels


def _one_vs_rest(probs, labels) -> np.ndarray:
    """``y_c(x) = 1[y(x) = c]``, (n, K)."""
    return (labels[:, None] == np.arange(probs.shape[1])[None, :]).astype(np.float64)


def ece_per_class(probs, labels, num_bins: int = NUM_BINS) -> float:
    """Macro average over classes c of the one-vs-rest ECE of ``q_c``:

        ECE_c = (1/n) Σ_b |Σ_{x∈b} (q_c(x) − y_c(x))| = Σ_b (|b|/n) |mean_b q_c − mean_b y_c|,

    bins ``b = (e_b, e_{b+1}]``, ``e = linspace(0, 1, num_bins + 1)`` (open on the left, so
    a probability of exactly 0 falls in no bin but still counts in n); empty bins add
    nothing. ``utils/metrics.py::expected_calibration_error`` and the ``ece_macro`` of
    ``multiclass_calibration`` (lines ~148–200, 15 bins; applied to the student's softmax
    in ``evaluation/syn_evaluate_{interpolation,extrapolation}.py``). Their ``nanmean`` over classes is a
    plain mean here: no class value can be NaN for n ≥ 1.
    """
    probs, labels = _checked_probabilities(probs, labels)
    if int(num_bins) < 1:
        raise InputError(f"num_bins must be >= 1, got {num_bins}")
    edges = np.linspace(0.0, 1.0, int(num_bins) + 1)
    bins = np.searchsorted(edges, probs, side="left") - 1  # q ∈ (e_b, e_{b+1}] → b; q = 0 → −1
    in_a_bin = (bins >= 0) & (bins < num_bins)
    classes = np.broadcast_to(np.arange(probs.shape[1]), probs.shape)
    gap = np.zeros((probs.shape[1], int(num_bins)))
    np.add.at(gap, (classes[in_a_bin], bins[in_a_bin]), (probs - _one_vs_rest(probs, labels))[in_a_bin])
    return float(np.mean(np.sum(np.abs(gap), axis=1)) / probs.shape[0])


def brier_per_class(probs, labels) -> float:
    """Macro average over classes c of ``(1/n) Σ_x (q_c(x) − y_c(x))²``, i.e.
    ``(1/(n·K)) Σ_x ‖q(x) − e_{y(x)}‖²`` = the report's ``brier`` / K: the ``brier_macro``
    of ``utils/metrics.py::multiclass_calibration`` (lines ~148–200)."""
    probs, labels = _checked_probabilities(probs, labels)
    return float(np.mean((probs - _one_vs_rest(probs, labels)) ** 2))


def cca_score(teacher_emb, student_emb, num_components: int = CCA_COMPONENTS) -> float:
    """scikit-learn's ``CCA(n_components=num_components).fit(f_t, f_s).score(f_t, f_s)``:
    the R² (averaged uniformly over the student's columns) of the student's embeddings
    predicted from the teacher's through the fitted CCA (columns centred and scaled to
    unit variance; iterative fit, default ``max_iter=500``, ``tol=1e-6``). As in
    ``evaluation/syn_evaluate_{interpolation,extrapolation}.py`` (``CCA(n_components=2)``, teacher first);
    their training-time evaluation (``utils/posthoc_eval.py``) uses ``n_components`` =
    the embedding width and ``max_iter=1000`` instead. Not symmetric in its arguments.
    scikit-learn's warning that the iteration stopped at ``max_iter`` is not repeated:
    the value is what the authors' scripts get either way.
    """
    teacher_emb, student_emb = np.asarray(teacher_emb, np.float64), np.asarray(student_emb, np.float64)
    if teacher_emb.ndim != 2 or student_emb.ndim != 2 or teacher_emb.shape[0] != student_emb.shape[0]:
        shapes = f"{teacher_emb.shape} and {student_emb.shape}"
        raise InputError(f"cca_score needs two (n, d) embeddings of the same n, got {shapes}")
    bound = min(teacher_emb.shape[0], teacher_emb.shape[1], student_emb.shape[1])
    if not 1 <= num_components <= bound:
        raise InputError(
            f"cca_score with {num_components} components needs n and both embedding widths >= {num_components}, "
            f"got shapes {teacher_emb.shape} and {student_emb.shape}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = CCA(n_components=num_components).fit(teacher_emb, student_emb)
    return float(model.score(teacher_emb, student_emb))


def _kl(logits_p, logits_q) -> float:
    """``mean_x KL(softmax(z_p) ‖ softmax(z_q))`` by the project's one KL kernel, float64."""
    with jax.enable_x64(True):
        return float(metrics.kl_divergence(np.asarray(logits_p, np.float64), np.asarray(logits_q, np.float64)))


def _pairwise(student, teacher, pivot_options: dict) -> dict:
    """The five keys that compare the student with the teacher, as zero-argument functions."""
    s_emb, s_logits, s_g = student
    t_emb, t_logits, t_g = teacher
    num_labels = t_g.shape[0]

    def d_rep(convention, f1, g1, f2, g2):
        pivots, subsets = metrics.pivot_subsets(num_labels, g1.shape[1], **pivot_options)
        return convention(f1, g1, f2, g2, pivots, subsets)

    return {
        "rep_dissimilarity_eval": lambda: d_rep(rep_dissimilarity_eval, t_emb, t_g, s_emb, s_g),
        "rep_dissimilarity_train": lambda: d_rep(rep_dissimilarity_train, s_emb, s_g, t_emb, t_g),
        "kl_student_teacher": lambda: _kl(s_logits, t_logits),
        "kl_teacher_student": lambda: _kl(t_logits, s_logits),
        "cca_score": lambda: cca_score(t_emb, s_emb),
    }


def section(
    student: tuple,
    teacher: tuple | None,
    labels,
    pivot_options: dict | None = None,
    keys=KEYS,
    *,
    student_probabilities: np.ndarray | None = None,
) -> tuple[dict, dict]:
    """The ``authors`` section of one split and the reasons for its null values.

    Args:
      student, teacher: ``(embeddings (n, d), logits (n, K), unembeddings (K, d))``;
        ``teacher=None`` for a model without a teacher (then the five pairwise keys are null).
      labels: (n,) integer labels of the split.
      pivot_options: keyword arguments of :func:`repsim_jax.metrics.pivot_subsets`, the
        report's ``pivot_subsets.options`` (its defaults when None).
      keys: the keys computed (a subset of :data:`KEYS`, e.g. the training curves' ones).
      student_probabilities: the student's float64 softmax when the caller has it (else
        computed here from its logits).

    Returns ``({key: value or None for key in keys}, {"authors.<key>": reason})``.
    """
    values, skipped = dict.fromkeys(keys), {}
    probs = student_probabilities
    if probs is None:
        probs = scipy.special.softmax(np.asarray(student[1], np.float64), axis=-1)
    computations = {
        "ece_per_class": lambda: ece_per_class(probs, labels),
        "brier_per_class": lambda: brier_per_class(probs, labels),
    }
    if teacher is not None:
        computations |= _pairwise(student, teacher, pivot_options or {})
    for key, compute in computations.items():
        if key not in values:
            continue
        try:
            values[key] = compute()
        except ValueError as err:  # InputError, or scikit-learn refusing the data
            skipped[f"authors.{key}"] = str(err)
        else:
            if not math.isfinite(values[key]):
                values[key], skipped[f"authors.{key}"] = None, f"{key} is not finite"
        release_freed_memory()
    return values, skipped
