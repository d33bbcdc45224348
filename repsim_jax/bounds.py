"""Bound checks between distributional and representational distances, over many pairs at once.

Every check takes a teacher (model 1) and a student (model 2). Each array argument is
either one model's array or a stack with a leading pair axis; a side whose arrays are
not stacked is shared by all pairs, and its own work (QR, eigenvalues, log-softmax) is
done once, before a single compiled ``lax.map`` over the pairs (a plain loop on CPU,
``batch_size`` vmapped pairs per step on accelerators). :func:`logit_bounds` runs the
three logit bounds with one validation of the inputs. Results are NamedTuples
of arrays (with the pair axis when one was given) holding ``lhs``, ``rhs``, ``holds``,
``slack = rhs / lhs`` and the ingredients. ``holds`` allows a rounding margin of
``1000·eps·(|lhs| + |rhs|)`` plus ``(1000·eps)²`` times the scale of the inputs (see
:func:`_holds`). The forms and their proofs are in each docstring and in
docs/theory.md §3 (derived for this project from the definitions of arXiv 2602.15438
and 2506.03784).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import _validate
from repsim_jax.metrics._batching import dividing_batch_size
from repsim_jax.metrics._linalg import center_columns, matmul, squared_norm
from repsim_jax.metrics.identifiability import DEFAULT_MAX_CONDITION, _validate_subsets
from repsim_jax.metrics.llv import _llv, _side, _validate_sets


class CCALogitBound(NamedTuple):
    """``lhs = Σᵢ(1 − ρᵢ²)λᵢ ≤ middle ≤ rhs = d²_logit`` (see :func:`cca_logit_bound`)."""

    lhs: jax.Array
    middle: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    eigenvalues: jax.Array
    correlations: jax.Array
    teacher_span_residual: jax.Array
    student_span_residual: jax.Array


class RepLogitBound(NamedTuple):
    """``lhs = d²_rep ≤ rhs = (d₁+1)·mean ‖L₁⁻¹‖₂²·d²_logit`` (see :func:`rep_logit_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    logit_distance_sq: jax.Array
    errors: jax.Array
    subset_rhs: jax.Array
    subset_holds: jax.Array
    inverse_norm_sq: jax.Array
    included: jax.Array


class KLLogitBound(NamedTuple):
    """``lhs = d²_logit ≤ rhs = KL/τ²`` (see :func:`kl_logit_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    kl: jax.Array
    tau: jax.Array
    rhs_per_input: jax.Array
    holds_per_input: jax.Array
    slack_per_input: jax.Array


class LLVSVDBound(NamedTuple):
    """``lhs = d_SVD ≤ rhs = 2·M·d_LLV`` and ``lhs ≤ sharp_rhs`` (see :func:`llv_svd_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    sharp_rhs: jax.Array
    sharp_holds: jax.Array
    llv: jax.Array
    label_term: jax.Array
    input_term: jax.Array
    embedding_part: jax.Array
    unembedding_part: jax.Array
    label_pivot: jax.Array
    input_set: jax.Array


def _holds(lhs, rhs, scale=0.0, unit=0.0):
    """``lhs ≤ rhs`` up to rounding: ``1000·eps·(|lhs| + |rhs| + unit)`` plus ``(1000·eps)²·scale``.

    The ``scale`` term is for models equal up to rounding: their squared distances are then
    O(eps²·scale), with ``scale`` the mean squared size of the arrays they come from. The
    ``unit`` term is for quantities computed as ``1 − cos`` of size ``unit``, whose
    rounding error is O(eps·unit) even when they are 0.
    """
    tolerance = 1e3 * jnp.finfo(jnp.result_type(lhs, rhs)).eps
    return lhs <= rhs + tolerance * (jnp.abs(lhs) + jnp.abs(rhs) + unit) + jnp.square(tolerance) * scale


def _slack(lhs, rhs):
    return jnp.where(lhs > 0, rhs / jnp.where(lhs > 0, lhs, 1.0), jnp.inf)


def _map(function, xs, batch_size):
    """``lax.map`` over the pair axis; ``batch_size > 1`` vmaps that many pairs per step."""
    if batch_size == 1:
        return jax.lax.map(function, xs)
    length = jax.tree.leaves(xs)[0].shape[0]
    return jax.lax.map(function, xs, batch_size=dividing_batch_size(length, batch_size))


@functools.partial(jax.jit, static_argnames=("prepare", "pair", "batch_size"))
def _over_pairs(prepare, pair, teacher, student, extra, batch_size):
    """``pair(prepare(*teacher, *extra), *student)`` for one pair, or mapped over the stacked side(s).

    An unstacked teacher is prepared once, outside the map, and shared by every pair.
    """
    t_stacked, s_stacked = teacher[0].ndim == 3, student[0].ndim == 3
    if not (t_stacked or s_stacked):
        return pair(prepare(*teacher, *extra), *student)
    if not t_stacked:
        state = prepare(*teacher, *extra)
        return _map(lambda s: pair(state, *s), student, batch_size)
    if not s_stacked:
        return _map(lambda t: pair(prepare(*t, *extra), *student), teacher, batch_size)
    return _map(lambda ts: pair(prepare(*ts[0], *extra), *ts[1]), (teacher, student), batch_size)


def _pairs(prepare, pair, teacher, student, extra, batch_size):
    """:func:`_over_pairs` with the default pairs per step: 1 (a plain loop) on CPU and 16
    on accelerators."""
    if batch_size is None:
        batch_size = 1 if jax.default_backend() == "cpu" else 16
    elif int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    return _over_pairs(prepare, pair, tuple(teacher), tuple(student), extra, int(batch_size))


def _side_arrays(side: str, names, arrays):
    """Validates one model's arrays: all 2-D (one model) or all 3-D (a stack of pairs)."""
    arrays = [a if hasattr(a, "ndim") else np.asarray(a) for a in arrays]
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1 or ranks.pop() not in (2, 3):
        raise InputError(f"{side} arrays ({', '.join(names)}) must all be 2-D (one model) or all 3-D (a stack)")
    rank = arrays[0].ndim
    checked = [_validate.as_float_array(n, a, ndim=rank) for n, a in zip(names, arrays)]
    if rank == 3 and len({a.shape[0] for a in checked}) > 1:
        raise InputError(f"{side} stacks differ in their number of pairs: {[a.shape[0] for a in checked]}")
    return checked


def _check_pair_counts(teacher, student):
    if teacher[0].ndim == 3 and student[0].ndim == 3 and teacher[0].shape[0] != student[0].shape[0]:
        raise InputError(f"teacher and student stacks hold {teacher[0].shape[0]} and {student[0].shape[0]} pairs")


def _model(a):
    """Shape of one model's array (without a pair axis)."""
    return a.shape[-2:]


# --------------------------------------------------------------------------- teacher basis


def _teacher_basis(f):
    """``Q`` (n × (d+1)), an orthonormal basis of span[1, F] whose first column is ±1/√n,
    and F's coordinates ``R = QᵀF``; ``Q[:, 1:]`` spans the centred F. Householder QR:
    Cholesky-QR2 lost accuracy on rank-deficient teachers (LayerNorm outputs)."""
    ones = jnp.ones((f.shape[0], 1), f.dtype)
    basis, factor = jnp.linalg.qr(jnp.concatenate([ones, f], axis=1))
    return basis, factor[:, 1:]


def _split(basis, f):
    """``F = Q C + E`` with ``E ⟂ Q``: returns ``C = QᵀF`` and ``S = EᵀE``.

    With ``F₁ = Q R``, every ``‖F₁X − F Y‖² = ‖RX − CY‖² + tr(YᵀSY)`` (:func:`_distance_sq`):
    a student costs two n-row products and one Gram, all matmuls. ``E`` is formed
    explicitly, so S stays accurate when F lies (almost) in the teacher's span.
    """
    coords = matmul(basis.T, f)
    residual = f - matmul(basis, coords)
    return coords, matmul(residual.T, residual)


def _distance_sq(target, coords, gram, y):
    """``‖F₁X − F Y‖²`` from ``target = RX`` and :func:`_split`'s ``(C, S)``; batched over leading axes."""
    return squared_norm(target - matmul(coords, y)) + jnp.sum(y * matmul(gram, y), axis=(-2, -1))


def _label_centred(x):
    """Subtracts the mean over labels (axis -1 for logits, the label rows of an unembedding: use ``.T``)."""
    return x - jnp.mean(x, axis=-1, keepdims=True)


# --------------------------------------------------------------------------- a student's logit statistics


class _TeacherLogits(NamedTuple):
    """What each student's pass needs from the teacher's logits ``t`` (n × K), computed once."""

    logits: jax.Array
    probs: jax.Array  # p = softmax(t)
    normaliser: jax.Array  # (n,) lse(t)
    row_mean: jax.Array  # (n,) mean_y t
    prob_dot: jax.Array  # (n,) Σ_y p t
    min_log_prob: jax.Array  # (n,) min_y log p
    clr_sq: jax.Array  # (n,) ‖t̄(x)‖²
    column_mean: jax.Array  # (K,) mean_x t̄: t̄ label-centred


def _teacher_logits(logits):
    normaliser = jax.nn.logsumexp(logits, axis=-1)
    log_p = logits - normaliser[:, None]
    probs = jnp.exp(log_p)
    centred = _label_centred(logits)
    return _TeacherLogits(
        logits,
        probs,
        normaliser,
        jnp.mean(logits, axis=-1),
        jnp.sum(probs * logits, axis=-1),
        jnp.min(log_p, axis=-1),
        jnp.sum(jnp.square(centred), axis=-1),
        jnp.mean(centred, axis=0),
    )


class _LogitStats(NamedTuple):
    """A student's logit statistics against the teacher (:func:`_logit_stats`)."""

    diff_sq: jax.Array  # (n,) ‖Z̄_t(x) − Z̄_s(x)‖²
    kl: jax.Array  # (n,) KL_x(p ‖ q)
    log_tau: jax.Array  # (n,) log τ_x: smallest log-probability of either model
    student_clr_sq: jax.Array  # (n,) ‖Z̄_s(x)‖²
    centred_diff_sq: jax.Array  # Σ_x ‖D̄(x) − mean_x D̄‖², D̄ = Z̄_t − Z̄_s (0 without column sums)
    student_row_mean: jax.Array  # (n,) mean_y z


def _logit_stats(teacher: _TeacherLogits, logits, column_sum=None):
    """Everything the CCA and KL bounds need from the student's logits z, in two stages of
    row reductions (row sums; then the centred and exponential terms) and no log-softmax.

    With ``δ = t − z``, ``s_x = Σ_y p δ`` and ``u = s_x − δ`` (so ``Σ_y p u = 0``):
    ``KL_x = Σ_y p δ + lse(z) − lse(t) = log Σ_y p e^u = log1p(Σ_y p (expm1(u) − u))``, a sum
    of non-negative terms whose rounding is relative to |u| (not to lse, whose rounding
    swamps a KL near 0), and ``lse(z) = lse(t) + KL_x − s_x`` gives ``log q``. Should
    ``p e^u`` overflow (a KL_x beyond the float range's log), the pair falls back to
    ``KL_x = s_x + lse(z) − lse(t)``. ``column_sum`` (``Σ_x z``, from the CCA cross
    product) adds the column-centred ``Σ_x ‖D̄ − mean_x D̄‖²``.
    """
    n = logits.shape[0]
    row_mean = jnp.mean(logits, axis=-1)
    shift = teacher.prob_dot - jnp.sum(teacher.probs * logits, axis=-1)
    difference = teacher.logits - logits
    centred = difference - (teacher.row_mean - row_mean)[:, None]
    u = shift[:, None] - difference
    kl = jnp.log1p(jnp.sum(teacher.probs * jnp.maximum(jnp.expm1(u) - u, 0.0), axis=-1))
    kl, student_normaliser = jax.lax.cond(
        jnp.all(jnp.isfinite(kl)),
        lambda: (kl, teacher.normaliser + kl - shift),
        lambda: _kl_by_normalisers(teacher, logits, shift),
    )
    log_tau = jnp.minimum(teacher.min_log_prob, jnp.min(logits, axis=-1) - student_normaliser)
    centred_diff_sq = jnp.zeros((), logits.dtype)
    if column_sum is not None:
        column_mean = teacher.column_mean - (column_sum / n - jnp.mean(row_mean))
        centred_diff_sq = squared_norm(centred - column_mean)
    return _LogitStats(
        jnp.sum(jnp.square(centred), axis=-1),
        jnp.maximum(kl, 0.0),
        log_tau,
        jnp.sum(jnp.square(logits - row_mean[:, None]), axis=-1),
        centred_diff_sq,
        row_mean,
    )


def _kl_by_normalisers(teacher, logits, shift):
    """``(KL_x, lse(z))`` as ``Σ_y p δ + lse(z) − lse(t)``: never overflows, rounding O(eps·|lse|)."""
    normaliser = jax.nn.logsumexp(logits, axis=-1)
    return shift + normaliser - teacher.normaliser, normaliser


# --------------------------------------------------------------------------- CCA–logit


def _cca_teacher(basis, logits):
    """The teacher's share of the CCA bound, from its basis of span[1, F_t] and logits."""
    centred = center_columns(_label_centred(logits))
    eigenvalues = _squared_singular_values(centred) / logits.shape[0]
    span = basis[:, 1:]
    residual = squared_norm(centred - matmul(span, matmul(span.T, centred))) / logits.shape[0]
    return eigenvalues, residual, _teacher_logits(logits)


def _squared_singular_values(x):
    """σ² of x, descending: the eigenvalues of the Gram matrix of its shorter side (an
    n × K SVD through LAPACK costs seconds on CPU). The Gram resolves eigenvalues only
    down to its rounding, ``w·eps·σ²_max`` (w its width); smaller ones are set to 0, which
    can only lower the CCA bound's lhs, so the bound stays valid."""
    short = x if x.shape[0] >= x.shape[1] else x.T
    values = jnp.linalg.eigvalsh(matmul(short.T, short))[::-1]
    resolved = values > short.shape[1] * jnp.finfo(x.dtype).eps * values[0]
    return jnp.where(resolved, values, 0.0)


def _unexplained(coords, gram):
    """``1 − ρᵢ²`` ascending (ρ: canonical correlations of the teacher and the centred student),
    and the student's whitening W (``WᵀF̃ᵀF̃W = I`` on F̃'s range, zero columns off it).

    ``F̃ = Q_c C_c + E`` (``C_c`` the coordinates on the centred teacher span): with
    ``F̃ᵀF̃ = C_cᵀC_c + S``, the ``1 − ρ²`` are the eigenvalues of ``WᵀSW``; directions
    outside F̃'s range count as ρ = 0.
    """
    covariance = matmul(coords.T, coords) + gram
    values, vectors = jnp.linalg.eigh(covariance)
    kept = values > jnp.max(values) * values.shape[0] * jnp.finfo(values.dtype).eps
    whitening = vectors * jnp.where(kept, jax.lax.rsqrt(jnp.where(kept, values, 1.0)), 0.0)
    unexplained = jnp.linalg.eigvalsh(
        matmul(whitening.T, matmul(gram, whitening)) + jnp.diag(jnp.where(kept, 0.0, 1.0))
    )
    return jnp.clip(unexplained, 0.0, 1.0), whitening


def _cca_cross(embeddings, logits):
    """``(Σ_x z, F̃ᵀZ)``: the student's column sums and cross product, one matmul."""
    ones = jnp.ones((embeddings.shape[0], 1), embeddings.dtype)
    sums = matmul(jnp.concatenate([ones, center_columns(embeddings)], axis=1).T, logits)
    return sums[0], sums[1:]


def _cca_from(teacher, coords, gram, cross, stats: _LogitStats):
    """The CCA–logit bound of one student from its split, cross product and logit statistics."""
    eigenvalues, residual_t, _ = teacher
    n = stats.diff_sq.shape[0]
    unexplained, whitening = _unexplained(coords[1:], gram)
    unexplained = unexplained[: min(coords.shape[0] - 1, coords.shape[1])]
    size = max(unexplained.shape[0], eigenvalues.shape[0])
    weights = jnp.pad(unexplained, (0, size - unexplained.shape[0]), constant_values=1.0)
    lam = jnp.pad(eigenvalues, (0, size - eigenvalues.shape[0]))
    lhs = jnp.sum(weights * lam)
    rhs = jnp.sum(stats.diff_sq) / n
    middle = stats.centred_diff_sq / n
    # ‖(I − P)Z̃‖² = ‖Z̃‖² − ‖WᵀF̃ᵀZ̃‖², with F̃ᵀZ̃ = F̃ᵀZ(I − 11ᵀ/K) as F̃ᵀ1 = 0; ‖Z̃‖² from
    # the row statistics: Σ_x ‖Z̄_s(x)‖² − n‖mean_x Z̄_s‖²
    column_mean = cross[0] / n - jnp.mean(stats.student_row_mean)
    total = jnp.maximum(jnp.sum(stats.student_clr_sq) - n * jnp.sum(jnp.square(column_mean)), 0.0)
    residual_s = jnp.maximum(total - squared_norm(matmul(whitening.T, _label_centred(cross[1]))), 0.0) / n
    scale = jnp.sum(eigenvalues) + total / n
    holds = _holds(lhs, middle, scale) & _holds(middle, rhs, scale)
    rho = jnp.sqrt(1.0 - weights)
    return CCALogitBound(lhs, middle, rhs, holds, _slack(lhs, rhs), lam, rho, residual_t, residual_s)


def _cca_prepare(embeddings, logits):
    basis, _ = _teacher_basis(embeddings)
    return basis, _cca_teacher(basis, logits)


def _cca_pair(state, embeddings, logits):
    basis, teacher = state
    coords, gram = _split(basis, embeddings)
    cross = _cca_cross(embeddings, logits)
    return _cca_from(teacher, coords, gram, cross, _logit_stats(teacher[2], logits, cross[0]))


def _checked_cca(teacher, student):
    """Validated ``(embeddings, logits)`` of both sides for :func:`cca_logit_bound`."""
    teacher = _side_arrays("teacher", ("teacher_embeddings", "teacher_logits"), teacher)
    student = _side_arrays("student", ("student_embeddings", "student_logits"), student)
    _check_pair_counts(teacher, student)
    n, (d_t, d_s) = _model(teacher[0])[0], (_model(teacher[0])[1], _model(student[0])[1])
    if len({_model(a)[0] for a in (*teacher, *student)}) > 1:
        raise InputError("row (input) counts differ between the embeddings and logits")
    if _model(teacher[1])[1] != _model(student[1])[1] or _model(teacher[1])[1] < 2:
        raise InputError(
            f"logits need the same number K >= 2 of labels, got {_model(teacher[1])[1]} and {_model(student[1])[1]}"
        )
    if n <= d_t + d_s:
        raise InputError(
            f"too few samples for the CCA-logit bound: n={n} <= d_t+d_s={d_t + d_s} makes every canonical correlation 1"
        )
    return teacher, student


def cca_logit_bound(
    teacher_embeddings,
    student_embeddings,
    teacher_logits,
    student_logits,
    batch_size: int | None = None,
    validate: bool = True,
) -> CCALogitBound:
    """CCA–logit bound (arXiv 2602.15438, Thm F.1 in centred form), for one or many pairs.

        Σᵢ (1 − ρᵢ²) λᵢ  ≤  (1/n) Σ_x ‖(Z̄_t − E Z̄_t) − (Z̄_s − E Z̄_s)‖²  ≤  d²_logit

    λ: eigenvalues of ``Cov_x(Z̄_t)`` (1/n), descending. ρ: canonical correlations of the
    *embeddings* (f_t, f_s), descending; both padded with zeros to a common length.

    Why it holds (exact whenever each model's centred logits lie in the span of its own
    centred embeddings, i.e. ``Z = F Gᵀ`` plus any per-label bias and per-input shift):
    write ``Z̃_t = Q_t W`` (Q_t an orthonormal basis of the centred f_t) and let P_s project
    onto the centred f_s. Since ``Z̃_s`` lies in range(P_s), the middle term is at least the
    regression residual ``(1/n)‖(I − P_s)Z̃_t‖² = Σᵢ (1 − ρᵢ²) aᵢ`` with
    ``Q_tᵀP_sQ_t = U diag(ρ²) Uᵀ`` and ``a = diag((1/n)UᵀWWᵀU)``. By Schur–Horn ``a`` is
    majorised by λ, and a sum with increasing weights ``1 − ρᵢ²`` is smallest when the
    largest λ meets the smallest weight: ``Σ(1 − ρᵢ²)λᵢ`` (λ sorted descending). The last
    step is ``d²_logit = middle + ‖E(Z̄_t − Z̄_s)‖²``. The ingredients
    ``teacher_span_residual``/``student_span_residual`` (``(1/n)‖(I − P)Z̃‖²``) measure
    any violation of the precondition; with the arrays of a ``Z = F Gᵀ + b`` model they are
    rounding-level. The bound is attained when ``Z̃_s = P_s Z̃_t`` with the top canonical
    directions aligned to the top eigenvectors.

    Computation: the teacher's basis (Cholesky-QR2), eigenvalues (of the logits' Gram
    matrix; those below its rounding level are set to 0, which only lowers lhs) and
    residual are computed once; each student costs the products of :func:`_split` and
    ``[1, F̃_s]ᵀZ_s``, two d_s × d_s eigen-decompositions (``1 − ρ²`` directly, so it stays
    accurate for ρ near 1; a rank-deficient student's null directions count as ρ = 0) and
    two elementwise passes over its logits (:func:`_logit_stats`).

    Args:
      teacher_embeddings (n, d_t), student_embeddings (n, d_s), teacher_logits (n, K),
        student_logits (n, K); each side may carry a leading pair axis.

    Raises ValueError for n <= d_t + d_s (then at least d_t + d_s − n + 1 of the ρ are 1
    whatever the data; no ridge is offered because ridge-shrunk ρ would no longer give a
    valid bound). See docs/theory.md §3.1.
    """
    teacher, student = (teacher_embeddings, teacher_logits), (student_embeddings, student_logits)
    if validate:
        teacher, student = _checked_cca(teacher, student)
    return _pairs(_cca_prepare, _cca_pair, teacher, student, (), batch_size)


# --------------------------------------------------------------------------- rep–logit


def _rep_teacher(factor, g1, pivots, subsets, max_condition):
    """The teacher's share of the rep–logit bound, from the coordinates R of F₁ on its basis."""
    l1 = g1[subsets] - g1[pivots][:, None, None, :]
    singular = jnp.linalg.svd(l1, compute_uv=False)
    condition = jnp.sqrt(jnp.sum(jnp.square(singular), -1) * jnp.sum(1.0 / jnp.square(singular), -1))
    included = jnp.isfinite(condition) & (condition <= max_condition)
    logit_target = matmul(factor, _label_centred(g1.T))
    delta_target = matmul(factor, jnp.swapaxes(l1, -1, -2))
    inverse_norm_sq = 1.0 / jnp.square(singular[..., -1])
    return factor, logit_target, delta_target, jnp.linalg.inv(l1), inverse_norm_sq, included, pivots, subsets


def _rep_from(teacher, coords, gram, g2, n):
    """The rep–logit bound of one student (n inputs) from its split ``(C, S)`` on the teacher's basis."""
    factor, logit_target, delta_target, inverse, inverse_norm_sq, included, pivots, subsets = teacher
    d1 = factor.shape[1]
    logit_sq = _distance_sq(logit_target, coords, gram, _label_centred(g2.T)) / n
    l2_t = jnp.swapaxes(g2[subsets] - g2[pivots][:, None, None, :], -1, -2)
    maps_t = matmul(l2_t, jnp.swapaxes(inverse, -1, -2))  # Aᵀ = L₂ᵀL₁⁻ᵀ
    errors = _distance_sq(factor, coords, gram, maps_t) / n
    subset_rhs = inverse_norm_sq * _distance_sq(delta_target, coords, gram, l2_t) / n
    count = jnp.maximum(jnp.sum(included), 1)
    lhs = jnp.sum(jnp.where(included, errors, 0.0)) / count
    mean_inverse = jnp.sum(jnp.where(included, inverse_norm_sq, 0.0)) / count
    rhs = (d1 + 1) * mean_inverse * logit_sq
    scale = squared_norm(factor) / n
    subset_holds = jnp.where(included, _holds(errors, subset_rhs, scale), True)
    holds = _holds(lhs, rhs, scale) & jnp.all(subset_holds)
    return RepLogitBound(
        lhs, rhs, holds, _slack(lhs, rhs), logit_sq, errors, subset_rhs, subset_holds, inverse_norm_sq, included
    )


def _rep_prepare(f1, g1, pivots, subsets, max_condition):
    basis, factor = _teacher_basis(f1)
    return basis, _rep_teacher(factor, g1, pivots, subsets, max_condition)


def _rep_pair(state, f2, g2):
    basis, teacher = state
    coords, gram = _split(basis, f2)
    return _rep_from(teacher, coords, gram, g2, f2.shape[0])


def _checked_rep(teacher, student, pivots, subsets, max_condition):
    """Validated arguments of :func:`rep_logit_bound`."""
    teacher = _side_arrays("teacher", ("f1", "g1"), teacher)
    student = _side_arrays("student", ("f2", "g2"), student)
    _check_pair_counts(teacher, student)
    (n1, d1), (k1, w1), (n2, d2), (k2, w2) = (_model(a) for a in (*teacher, *student))
    if n1 != n2 or k1 != k2 or d1 != w1 or d2 != w2:
        raise InputError(f"shapes do not match: f1 {(n1, d1)}, g1 {(k1, w1)}, f2 {(n2, d2)}, g2 {(k2, w2)}")
    if k1 < d1 + 1:
        raise InputError(f"too few labels for d_rep: need K >= d1 + 1 = {d1 + 1}, got K={k1}")
    pivots, subsets = _validate_subsets(pivots, subsets, k1, d1)
    max_condition = _validate.non_negative("max_condition", max_condition)
    return teacher, student, pivots, subsets, max_condition


def rep_logit_bound(
    f1,
    g1,
    f2,
    g2,
    pivots,
    subsets,
    max_condition: float = DEFAULT_MAX_CONDITION,
    batch_size: int | None = None,
    validate: bool = True,
) -> RepLogitBound:
    """d_rep–logit bound (arXiv 2602.15438), per pivot/subset and globally, for one or many pairs.

    Per pivot p and subset S (|S| = d₁), with ``L₁ = G₁[S] − G₁[p]``, ``L₂ = G₂[S] − G₂[p]``
    and ``Δ_y(x) = (Z̄₁_y − Z̄₁_p) − (Z̄₂_y − Z̄₂_p)`` for y ∈ S (``Z = F Gᵀ``):

        e_pS = (1/n)Σ_x ‖f₁ − L₁⁻¹L₂ f₂‖²  ≤  ‖L₁⁻¹‖₂² · (1/n)Σ_x ‖Δ(x)‖²

    since ``L₁(f₁ − L₁⁻¹L₂f₂) = L₁f₁ − L₂f₂ = Δ`` exactly (``‖L₁⁻¹‖₂ = 1/σ_min(L₁)``).
    Globally, with ``D = Z̄₁ − Z̄₂``: ``‖Δ‖² = Σ_{y∈S}(D_y − D_p)² ≤ (d₁+1)(Σ_{y∈S}D_y² + D_p²)
    ≤ (d₁+1)‖D‖²`` (``(a−b)² ≤ (1+t)a² + (1+1/t)b²`` with t = d₁; the constant is sharp:
    it is the top eigenvalue of that quadratic form), hence

        d²_rep = mean_pS e_pS  ≤  (d₁ + 1) · mean_pS ‖L₁⁻¹‖₂² · d²_logit.

    The constant ``2(d₁+1)`` also holds but is a factor 2 looser (docs/theory.md §3.2,
    with the equality cases). Means run over the subsets that ``rep_dissimilarity`` keeps
    (Frobenius condition ≤ ``max_condition``), so ``lhs`` equals its d²_rep. Logits are the
    bias-free ``F Gᵀ`` of the representations.

    Args:
      f1, g1: teacher embeddings (n, d₁) and unembeddings (K, d₁); f2, g2: student's.
      pivots (P,), subsets (P, C, d₁): as from :func:`repsim_jax.metrics.sample_pivot_subsets`.
    """
    teacher, student = (f1, g1), (f2, g2)
    if validate:
        teacher, student, pivots, subsets, max_condition = _checked_rep(
            teacher, student, pivots, subsets, max_condition
        )
    extra = (pivots, subsets, jnp.asarray(max_condition))
    return _pairs(_rep_prepare, _rep_pair, teacher, student, extra, batch_size)


# --------------------------------------------------------------------------- KL–logit


def _kl_from(teacher: _TeacherLogits, stats: _LogitStats):
    """The KL–logit bound of one student from its logit statistics."""
    lhs_x, kl_x, log_tau_x = stats.diff_sq, stats.kl, stats.log_tau
    rhs_x = jnp.where(kl_x > 0, kl_x * jnp.exp(-2.0 * log_tau_x), 0.0)
    lhs, kl, log_tau = jnp.mean(lhs_x), jnp.mean(kl_x), jnp.min(log_tau_x)
    rhs = jnp.where(kl > 0, kl * jnp.exp(-2.0 * log_tau), 0.0)
    scale_x = teacher.clr_sq + stats.student_clr_sq
    holds_x = _holds(lhs_x, rhs_x, scale_x)
    return KLLogitBound(
        lhs,
        rhs,
        _holds(lhs, rhs, jnp.mean(scale_x)),
        _slack(lhs, rhs),
        kl,
        jnp.exp(log_tau),
        jnp.mean(rhs_x),
        jnp.all(holds_x),
        _slack(lhs, jnp.mean(rhs_x)),
    )


def _kl_pair(teacher, logits):
    return _kl_from(teacher, _logit_stats(teacher, logits))


def _checked_kl(teacher, student):
    """Validated logits of both sides for :func:`kl_logit_bound`."""
    teacher = _side_arrays("teacher", ("logits_p",), teacher)
    student = _side_arrays("student", ("logits_q",), student)
    _check_pair_counts(teacher, student)
    if _model(teacher[0]) != _model(student[0]):
        raise InputError(f"logit shapes differ: {_model(teacher[0])} and {_model(student[0])}")
    if _model(teacher[0])[1] < 2:
        raise InputError("too few labels: the KL-logit bound needs K >= 2")
    return teacher, student


def kl_logit_bound(logits_p, logits_q, batch_size: int | None = None, validate: bool = True) -> KLLogitBound:
    """KL–logit bound: if every probability of both models is ≥ τ, ``d²_logit ≤ KL/τ²``.

    Per input, with ``u = log p − log q`` and ``v = p − q`` (``Σ v = 0``):
    ``‖clr p − clr q‖² = ‖u − mean u‖² ≤ ‖u‖² ≤ ‖v‖²/τ_x²`` (log is 1/τ-Lipschitz on [τ, 1])
    ``≤ ‖v‖₁²/(2τ_x²)`` (v's positive and negative parts each have ℓ₁ mass ‖v‖₁/2)
    ``≤ KL_x/τ_x²`` (Pinsker: ``‖v‖₁² ≤ 2 KL_x``), τ_x the smallest probability of either
    model at x. Averaging: ``d²_logit ≤ mean_x KL_x/τ_x² ≤ KL/τ²`` with τ = min_x τ_x.
    ``(2/τ²)·KL`` (Pinsker without the ‖v‖₂ ≤ ‖v‖₁/√2 step) also holds but is 2× looser;
    the bound is approached only for K = 2, and for larger K lhs/rhs stays ≲ 2/K
    (docs/theory.md §3.3).
    Since τ ≤ 1/K the factor is ≥ K²: ``slack`` (rhs/lhs) reports how vacuous it is.

    Returns global (``lhs``, ``rhs``, ``holds``, ``slack``) and per-input
    (``rhs_per_input = mean_x KL_x/τ_x²``, ``holds_per_input`` = the inequality at every
    x) forms; KL is ``KL(p ‖ q)`` (p = teacher). ``rhs`` is +inf when ``1/τ²`` overflows.
    """
    teacher, student = (logits_p,), (logits_q,)
    if validate:
        teacher, student = _checked_kl(teacher, student)
    return _pairs(_teacher_logits, _kl_pair, teacher, student, (), batch_size)


# --------------------------------------------------------------------------- all three


class LogitBounds(NamedTuple):
    """The three logit bounds of one call to :func:`logit_bounds`."""

    cca_logit: CCALogitBound
    rep_logit: RepLogitBound
    kl_logit: KLLogitBound


def logit_bounds(
    f1,
    g1,
    logits1,
    f2,
    g2,
    logits2,
    pivots,
    subsets,
    max_condition: float = DEFAULT_MAX_CONDITION,
    batch_size: int | None = None,
    validate: bool = True,
) -> LogitBounds:
    """:func:`cca_logit_bound`, :func:`rep_logit_bound` and :func:`kl_logit_bound` in one compiled call.

    Same results as the three calls (teacher = model 1), for one or many pairs, with the
    inputs validated once, in one compiled map whose pairs share their work: one
    :func:`_split` of the student's embeddings on the teacher's basis, one cross product
    ``[1, F̃]ᵀZ`` and one set of logit statistics (:func:`_logit_stats`: two elementwise
    passes over the student's logits).

    Args:
      f1, g1, logits1: teacher embeddings (n, d₁), unembeddings (K, d₁), logits (n, K);
      f2, g2, logits2: the student's; either side may carry a leading pair axis.
      pivots, subsets, max_condition: as in :func:`rep_logit_bound`.
    """
    if validate:
        (f1, g1), (f2, g2), pivots, subsets, max_condition = _checked_rep(
            (f1, g1), (f2, g2), pivots, subsets, max_condition
        )
        # same n and K on both sides, K >= 2: everything the KL bound checks besides finiteness
        (_, logits1), (_, logits2) = _checked_cca((f1, logits1), (f2, logits2))
        if _model(logits1)[1] != _model(g1)[0]:
            raise InputError(f"logits have {_model(logits1)[1]} labels but the unembeddings {_model(g1)[0]}")
    extra = (pivots, subsets, jnp.asarray(max_condition))
    return _pairs(_all_prepare, _all_pair, (f1, g1, logits1), (f2, g2, logits2), extra, batch_size)


def _all_prepare(f1, g1, logits, pivots, subsets, max_condition):
    basis, factor = _teacher_basis(f1)
    return basis, _cca_teacher(basis, logits), _rep_teacher(factor, g1, pivots, subsets, max_condition)


def _all_pair(state, f2, g2, logits):
    """One student's three bounds: one split on the teacher's basis, one cross product and
    one set of logit statistics shared between them."""
    basis, cca_teacher, rep_teacher = state
    coords, gram = _split(basis, f2)
    cross = _cca_cross(f2, logits)
    stats = _logit_stats(cca_teacher[2], logits, cross[0])
    return LogitBounds(
        _cca_from(cca_teacher, coords, gram, cross, stats),
        _rep_from(rep_teacher, coords, gram, g2, f2.shape[0]),
        _kl_from(cca_teacher[2], stats),
    )


# --------------------------------------------------------------------------- LLV–SVD


def _llv_teacher(f1, g1, labels, label_pivot, subsets, input_sets, weight):
    return f1, g1, labels, label_pivot, subsets, input_sets, weight


def _llv_pair(state, f2, g2):
    f1, g1, labels, label_pivot, subsets, input_sets, weight = state
    llv = _llv(matmul(f1, g1.T), matmul(f2, g2.T), labels, label_pivot, input_sets, weight)
    members = labels[jnp.argsort(labels == llv.label_pivot, stable=True)][:-1]
    by_subset = jax.vmap(lambda s: _side(f1, g1, f2, g2, llv.label_pivot, members[s]))(subsets)
    embedding_part = 1.0 - jnp.min(by_subset)
    unembedding_part = 1.0 - _side(g1, f1, g2, f2, llv.input_set[0], llv.input_set[1:])
    lhs = jnp.maximum(embedding_part, unembedding_part)
    rhs = 2.0 * subsets.shape[-1] * llv.value
    sharp_rhs = jnp.minimum(1.0, 2.0 * jnp.square(jnp.maximum(llv.label_term, llv.input_term)))
    return LLVSVDBound(
        lhs,
        rhs,
        _holds(lhs, rhs, unit=1.0),
        _slack(lhs, rhs),
        sharp_rhs,
        _holds(lhs, sharp_rhs, unit=1.0),
        llv.value,
        llv.label_term,
        llv.input_term,
        embedding_part,
        unembedding_part,
        llv.label_pivot,
        llv.input_set,
    )


def llv_svd_bound(
    f1,
    g1,
    f2,
    g2,
    subsets,
    input_sets,
    labels=None,
    label_pivot=None,
    weight: float = 1e-5,
    batch_size: int | None = None,
    validate: bool = True,
) -> LLVSVDBound:
    """``d_SVD ≤ 2·M·d_LLV`` (arXiv 2506.03784), with the sharper ``d_SVD ≤ min(1, 2·max(T₁,T₂)²)``.

    d_LLV and d_SVD are those of :mod:`repsim_jax.metrics.llv` on the logits ``F Gᵀ``:
    the pivot label minimises T₁ over ``labels`` (unless ``label_pivot`` is given), the
    input set minimising T₂ among ``input_sets`` is used, and d_SVD takes the worst of the
    label subsets ``subsets`` (positions into ``labels`` with the pivot removed, so the same
    positions serve every pair) and of the chosen input set. M is the subset size.

    Proof of the form implemented. Let ``X``, ``Y`` (n × M) be the standardised log-ratio
    columns of the two models and ``C = XᵀY/n`` their correlation matrix. Then
    ``‖X − Y‖²/n = 2M − 2 tr C`` and ``tr C ≤ ‖C‖_* = M·m_SVD``, so
    ``d_SVD = 1 − m_SVD ≤ (1/2M)Σ_y Var(x_y − y_y) ≤ ½ max_y Var(x_y − y_y) ≤ 2T₁²`` because
    ``Std(x_y − y_y) ≤ a_y + b_y ≤ 2T₁`` (triangle inequality for Std). The unembedding
    side is identical with T₂ (samples are labels). As m_SVD ≥ 0, d_SVD ≤ 1 as well, and
    ``min(1, 2t²) ≤ 2Mt`` for every t ≥ 0 when M ≥ 1, which gives the paper's form
    ``2·M·d_LLV`` (d_LLV ≥ max(T₁, T₂)) as a corollary (docs/theory.md §3.4).

    Args:
      f1, g1, f2, g2: teacher and student representations (a side may be stacked).
      subsets: (C, M) positions in the pivot-free label set; input_sets: (S, M+1) inputs.
      labels: the label set (default all); weight: λ of d^λ_LLV.
    """
    teacher, student = (f1, g1), (f2, g2)
    if validate:
        teacher = _side_arrays("teacher", ("f1", "g1"), teacher)
        student = _side_arrays("student", ("f2", "g2"), student)
        _check_pair_counts(teacher, student)
        n, k = _model(teacher[0])[0], _model(teacher[1])[0]
        labels = jnp.arange(k, dtype=jnp.int32) if labels is None else _validate.label_indices("labels", labels, k, 1)
        if len(set(labels.tolist())) != labels.shape[0] or labels.shape[0] < 2:
            raise InputError("labels must hold at least 2 distinct label indices")
        subsets = _validate.label_indices("subsets", subsets, labels.shape[0] - 1, ndim=2)
        input_sets = _validate_sets("input_sets", input_sets, n)
        if input_sets.shape[1] != subsets.shape[1] + 1:
            raise InputError(f"input_sets rows need M + 1 = {subsets.shape[1] + 1} inputs, got {input_sets.shape[1]}")
        if label_pivot is not None and int(label_pivot) not in set(labels.tolist()):
            raise InputError(f"label_pivot {label_pivot} is not in the label set")
        weight = _validate.non_negative("weight", weight)
    extra = (labels, label_pivot, subsets, input_sets, weight)
    return _pairs(_llv_teacher, _llv_pair, teacher, student, extra, batch_size)
