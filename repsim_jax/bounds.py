"""Bound checks between distributional and representational distances, over many pairs at once.

Every check takes a teacher (model 1) and a student (model 2). Each array argument is
either one model's array or a stack with a leading pair axis; a side whose arrays are
not stacked is shared by all pairs, and its own work (QR, eigenvalues, log-softmax) is
done once, before a single compiled ``lax.map`` over the pairs (a plain loop on CPU,
``batch_size`` vmapped pairs per step on accelerators). :func:`logit_bounds` runs the
three logit bounds with one validation of the inputs. Results are NamedTuples
of arrays (with the pair axis when one was given) holding ``lhs``, ``rhs``, ``holds``,
``slack = rhs / lhs``, ``tolerance``, ``within_round_off`` and the ingredients. The forms
and their proofs are in each docstring and in docs/theory.md §3 (derived for this project
from the definitions of arXiv 2602.15438 and 2506.03784).

Round-off: with ``r = 1000·eps`` of the dtype, ``holds`` is
``lhs ≤ (1 + r)·rhs + tolerance`` with ``tolerance = r·(|lhs| + unit) + r²·scale``, where
``scale`` is the mean squared size of the arrays the squared distances come from (models
equal up to rounding have squared distances O(eps²·scale)) and ``unit`` the size of
quantities computed as ``1 − cos`` (:func:`_tolerance`). ``within_round_off`` marks a bound
that holds only thanks to that allowance (lhs > rhs by less than it), e.g. identical models
whose lhs is rounding noise of 1e-13 against an rhs of 1e-15.

Scale: the squared distances are computed on inputs divided by powers of 2 near their
largest magnitudes (exact; :func:`~repsim_jax.metrics._linalg.power_of_two_scale`) and
multiplied back once, so ``holds`` and ``slack`` are right at any input scale; validation
raises InputError when a reported value is outside the dtype's range (e.g. float32
embeddings ×1e30 make d²_logit ≈ 1e61). The KL bound's ``rhs = KL/τ²`` is computed in log
space: ``log10_rhs`` is finite whenever τ > 0, ``holds`` is decided there, and ``rhs``
itself is +inf only where that finite ``log10_rhs`` exceeds the dtype's range.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import _validate
from repsim_jax.metrics._batching import dividing_batch_size
from repsim_jax.metrics._linalg import center_columns, matmul, power_of_two_scale, scale_exponent, squared_norm
from repsim_jax.metrics.identifiability import DEFAULT_MAX_CONDITION, _validate_subsets
from repsim_jax.metrics.kl import KLTeacher, kl_rows, kl_teacher, log_mean_exp
from repsim_jax.metrics.llv import _llv, _side, _validate_sets


class CCALogitBound(NamedTuple):
    """``lhs = Σᵢ(1 − ρᵢ²)λᵢ ≤ middle ≤ rhs = d²_logit`` (see :func:`cca_logit_bound`)."""

    lhs: jax.Array
    middle: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    tolerance: jax.Array
    within_round_off: jax.Array
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
    tolerance: jax.Array
    within_round_off: jax.Array
    logit_distance_sq: jax.Array
    errors: jax.Array
    subset_rhs: jax.Array
    subset_holds: jax.Array
    inverse_norm_sq: jax.Array
    included: jax.Array


class KLLogitBound(NamedTuple):
    """``lhs = d²_logit ≤ rhs = KL/τ²`` (see :func:`kl_logit_bound`); ``log10_rhs`` and
    ``log10_tau`` stay finite where ``rhs`` overflows and ``tau`` underflows."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    tolerance: jax.Array
    within_round_off: jax.Array
    log10_rhs: jax.Array
    kl: jax.Array
    tau: jax.Array
    log10_tau: jax.Array
    rhs_per_input: jax.Array
    holds_per_input: jax.Array
    slack_per_input: jax.Array


class LLVSVDBound(NamedTuple):
    """``lhs = d_SVD ≤ rhs = 2·M·d_LLV`` and ``lhs ≤ sharp_rhs`` (see :func:`llv_svd_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    tolerance: jax.Array
    within_round_off: jax.Array
    sharp_rhs: jax.Array
    sharp_holds: jax.Array
    llv: jax.Array
    label_term: jax.Array
    input_term: jax.Array
    embedding_part: jax.Array
    unembedding_part: jax.Array
    label_pivot: jax.Array
    input_set: jax.Array


ROUND_OFF_EPS = 1e3
"""The round-off allowance r of ``holds``, in units of the dtype's eps (module docstring)."""


def _round_off(dtype):
    return ROUND_OFF_EPS * jnp.finfo(dtype).eps


def _tolerance(lhs, scale=0.0, unit=0.0):
    """``r·(|lhs| + unit) + r²·scale`` with ``r = 1000·eps``: the absolute part of the allowance.

    The ``scale`` term is for models equal up to rounding: their squared distances are then
    O(eps²·scale), with ``scale`` the mean squared size of the arrays they come from. The
    ``unit`` term is for quantities computed as ``1 − cos`` of size ``unit``, whose
    rounding error is O(eps·unit) even when they are 0.
    """
    r = _round_off(lhs.dtype)
    return r * (jnp.abs(lhs) + unit) + r * r * scale


def _holds(lhs, rhs, tolerance):
    """``lhs ≤ (1 + r)·rhs + tolerance`` (``r = 1000·eps``; module docstring)."""
    return lhs <= (1.0 + _round_off(lhs.dtype)) * rhs + tolerance


def _slack(lhs, rhs):
    return jnp.where(lhs > 0, rhs / jnp.where(lhs > 0, lhs, 1.0), jnp.inf)


_HEADLINE = ("lhs", "middle", "rhs")
"""Fields that must not underflow either; ingredients such as rounding-level residuals may."""


def _in_input_units(name: str, result, exponents: dict, validate: bool):
    """``result`` with each listed field multiplied by ``2^k`` (k: its exponent), exactly,
    after a kernel computed it on inputs divided by powers of 2; with ``validate``,
    InputError for a value that overflows in the inputs' units, or for an lhs, middle or
    rhs that underflows."""
    updates = {}
    for field, exponent in exponents.items():
        unit = getattr(result, field)
        value = jnp.ldexp(unit, exponent)
        if validate:
            log_value = _safe_log(jnp.abs(unit)) + exponent * math.log(2.0)
            _validate.representable(f"{name}: {field}", value, log_value, underflow=field in _HEADLINE)
        updates[field] = value
    return result._replace(**updates)


def _safe_log(x):
    """``log x`` for x ≥ 0: −inf at 0, with a finite gradient."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)


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
    """What each student's pass needs from the teacher's logits ``t`` (n × K), computed once.

    The quadratic statistics are of ``t/c``, c the pair's power-of-2 logit scale (the
    KL needs the logits themselves)."""

    logits: jax.Array  # t
    kl: KLTeacher | None  # the p side of KL(p ‖ q) (None when no KL is needed)
    scale: jax.Array  # c
    row_mean: jax.Array  # (n,) mean_y t/c
    clr_sq: jax.Array  # (n,) ‖t̄(x)/c‖²
    column_mean: jax.Array  # (K,) mean_x t̄/c: t̄ label-centred


def _teacher_logits(logits, scale, with_kl):
    scaled = logits / scale
    centred = _label_centred(scaled)
    return _TeacherLogits(
        logits,
        kl_teacher(logits) if with_kl else None,
        scale,
        jnp.mean(scaled, axis=-1),
        jnp.sum(jnp.square(centred), axis=-1),
        jnp.mean(centred, axis=0),
    )


class _LogitStats(NamedTuple):
    """A student's logit statistics against the teacher (:func:`_logit_stats`), in units of
    the logit scale c (squared quantities divided by c²)."""

    diff_sq: jax.Array  # (n,) ‖Z̄_t(x) − Z̄_s(x)‖² / c²
    kl: object  # KLRows of KL_x(p ‖ q) and log τ_x, or None
    student_clr_sq: jax.Array  # (n,) ‖Z̄_s(x)‖² / c²
    centred_diff_sq: jax.Array  # Σ_x ‖D̄(x) − mean_x D̄‖² / c², D̄ = Z̄_t − Z̄_s (0 without column sums)
    student_row_mean: jax.Array  # (n,) mean_y z / c


def _logit_stats(teacher: _TeacherLogits, logits, column_sum=None):
    """Everything the CCA and KL bounds need from the student's logits z: the squared
    distances of ``(t − z)/c`` and, when the teacher carries its KL side, ``KL_x`` and
    ``log τ_x`` from :func:`repsim_jax.metrics.kl.kl_rows` (the one KL implementation).
    ``column_sum`` (``Σ_x z/c``, from the CCA cross product) adds the column-centred
    ``Σ_x ‖D̄ − mean_x D̄‖²``.
    """
    n = logits.shape[0]
    difference = teacher.logits - logits
    kl = None if teacher.kl is None else kl_rows(teacher.kl, teacher.logits, logits)
    scaled = logits / teacher.scale
    row_mean = jnp.mean(scaled, axis=-1)
    centred = _label_centred(difference / teacher.scale)
    centred_diff_sq = jnp.zeros((), logits.dtype)
    if column_sum is not None:
        column_mean = teacher.column_mean - (column_sum / n - jnp.mean(row_mean))
        centred_diff_sq = squared_norm(centred - column_mean)
    return _LogitStats(
        jnp.sum(jnp.square(centred), axis=-1),
        kl,
        jnp.sum(jnp.square(scaled - row_mean[:, None]), axis=-1),
        centred_diff_sq,
        row_mean,
    )


# --------------------------------------------------------------------------- CCA–logit


def _cca_teacher(basis, logits, logit_scale, with_kl):
    """The teacher's share of the CCA bound (in units of the logit scale c), from its basis
    of span[1, F_t] and its logits."""
    centred = center_columns(_label_centred(logits / logit_scale))
    eigenvalues = _squared_singular_values(centred) / logits.shape[0]
    span = basis[:, 1:]
    residual = squared_norm(centred - matmul(span, matmul(span.T, centred))) / logits.shape[0]
    return eigenvalues, residual, _teacher_logits(logits, logit_scale, with_kl)


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
    """``(Σ_x z, F̃ᵀZ)``: the student's column sums and cross product, one matmul (of the
    scaled embeddings and logits)."""
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
    tolerance = _tolerance(middle, jnp.sum(eigenvalues) + total / n)
    holds = _holds(lhs, middle, tolerance) & _holds(middle, rhs, tolerance)
    return CCALogitBound(
        lhs=lhs,
        middle=middle,
        rhs=rhs,
        holds=holds,
        slack=_slack(lhs, rhs),
        tolerance=tolerance,
        within_round_off=holds & ~((lhs <= middle) & (middle <= rhs)),
        eigenvalues=lam,
        correlations=jnp.sqrt(1.0 - weights),
        teacher_span_residual=residual_t,
        student_span_residual=residual_s,
    )


_CCA_SQUARED = ("lhs", "middle", "rhs", "tolerance", "eigenvalues", "teacher_span_residual", "student_span_residual")
"""The fields of :class:`CCALogitBound` in squared logit units."""


def _cca_prepare(embeddings, logits, embedding_scale, logit_scale):
    """The teacher's state; embeddings and logits are divided by their power-of-2 scales
    (ρ does not depend on the embeddings' scale, the rest is in units of c²)."""
    basis, _ = _teacher_basis(embeddings / embedding_scale)
    return basis, embedding_scale, _cca_teacher(basis, logits, logit_scale, with_kl=False)


def _cca_pair(state, embeddings, logits):
    basis, embedding_scale, teacher = state
    embeddings = embeddings / embedding_scale
    coords, gram = _split(basis, embeddings)
    cross = _cca_cross(embeddings, logits / teacher[2].scale)
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

    Raises InputError for n <= d_t + d_s (then at least d_t + d_s − n + 1 of the ρ are 1
    whatever the data; no ridge is offered because ridge-shrunk ρ would no longer give a
    valid bound), and for values outside the dtype's range at the logits' scale (module
    docstring). See docs/theory.md §3.1.
    """
    teacher, student = (teacher_embeddings, teacher_logits), (student_embeddings, student_logits)
    if validate:
        teacher, student = _checked_cca(teacher, student)
    scales = (power_of_two_scale(teacher[0], student[0]), power_of_two_scale(teacher[1], student[1]))
    result = _pairs(_cca_prepare, _cca_pair, teacher, student, scales, batch_size)
    return _in_input_units("cca_logit_bound", result, _cca_exponents(scales[1]), validate)


def _cca_exponents(logit_scale):
    return dict.fromkeys(_CCA_SQUARED, 2 * scale_exponent(logit_scale))


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
    subset_holds = jnp.where(included, _holds(errors, subset_rhs, _tolerance(errors, scale)), True)
    tolerance = _tolerance(lhs, scale)
    holds = _holds(lhs, rhs, tolerance) & jnp.all(subset_holds)
    strictly = (lhs <= rhs) & jnp.all(jnp.where(included, errors <= subset_rhs, True))
    return RepLogitBound(
        lhs=lhs,
        rhs=rhs,
        holds=holds,
        slack=_slack(lhs, rhs),
        tolerance=tolerance,
        within_round_off=holds & ~strictly,
        logit_distance_sq=logit_sq,
        errors=errors,
        subset_rhs=subset_rhs,
        subset_holds=subset_holds,
        inverse_norm_sq=inverse_norm_sq,
        included=included,
    )


def _rep_exponents(f_scale, g_scale):
    """Powers of 2 that bring :class:`RepLogitBound`'s fields back to the inputs' units:
    d²_rep, its rhs and the per-subset terms scale with ‖F‖² (A = L₁⁻¹L₂ does not depend on
    G's scale), d²_logit with ‖F‖²‖G‖², ‖L₁⁻¹‖² with ‖G‖⁻²."""
    f, g = 2 * scale_exponent(f_scale), 2 * scale_exponent(g_scale)
    squared = dict.fromkeys(("lhs", "rhs", "tolerance", "errors", "subset_rhs"), f)
    return squared | {"logit_distance_sq": f + g, "inverse_norm_sq": -g}


def _rep_prepare(f1, g1, pivots, subsets, max_condition, f_scale, g_scale):
    """The teacher's state from ``F₁``, ``G₁`` divided by the pair's power-of-2 scales."""
    basis, factor = _teacher_basis(f1 / f_scale)
    return basis, (f_scale, g_scale), _rep_teacher(factor, g1 / g_scale, pivots, subsets, max_condition)


def _rep_pair(state, f2, g2):
    basis, (f_scale, g_scale), teacher = state
    coords, gram = _split(basis, f2 / f_scale)
    return _rep_from(teacher, coords, gram, g2 / g_scale, f2.shape[0])


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

    Raises InputError for values outside the dtype's range at the inputs' scale (module docstring).
    """
    teacher, student = (f1, g1), (f2, g2)
    if validate:
        teacher, student, pivots, subsets, max_condition = _checked_rep(
            teacher, student, pivots, subsets, max_condition
        )
    scales = (power_of_two_scale(teacher[0], student[0]), power_of_two_scale(teacher[1], student[1]))
    extra = (pivots, subsets, jnp.asarray(max_condition), *scales)
    result = _pairs(_rep_prepare, _rep_pair, teacher, student, extra, batch_size)
    return _in_input_units("rep_logit_bound", result, _rep_exponents(*scales), validate)


# --------------------------------------------------------------------------- KL–logit


def _kl_from(teacher: _TeacherLogits, stats: _LogitStats):
    """The KL–logit bound of one student, decided in log space: ``rhs = KL/τ²`` may be far
    beyond the dtype's range (τ below ~1e-19 in float32). ``lhs`` and ``tolerance`` are in
    units of the logit scale c² (the caller multiplies them back); the rest is in the
    inputs' units."""
    rows = stats.kl
    log_scale = 2.0 * jnp.log(teacher.scale)  # log c²
    lhs_x, scale_x = stats.diff_sq, teacher.clr_sq + stats.student_clr_sq
    log_rhs_x = rows.log_value - 2.0 * rows.log_tau
    holds_x = _holds_in_logs(lhs_x, log_rhs_x, _tolerance(lhs_x, scale_x), log_scale)
    lhs, kl, log_tau = jnp.mean(lhs_x), jnp.mean(rows.value), jnp.min(rows.log_tau)
    # log of the mean KL: from the mean itself where it is a normal number, else from the logs
    log_kl = jnp.where(kl >= jnp.finfo(kl.dtype).tiny, _safe_log(kl), log_mean_exp(rows.log_value))
    log_rhs, log_rhs_per_input = log_kl - 2.0 * log_tau, log_mean_exp(log_rhs_x)
    tolerance = _tolerance(lhs, jnp.mean(scale_x))
    holds = _holds_in_logs(lhs, log_rhs, tolerance, log_scale)
    log_lhs = _safe_log(lhs) + log_scale
    return KLLogitBound(
        lhs=lhs,
        rhs=jnp.exp(log_rhs),
        holds=holds,
        slack=_slack_in_logs(log_lhs, log_rhs),
        tolerance=tolerance,
        within_round_off=holds & (log_lhs > log_rhs),
        log10_rhs=log_rhs / math.log(10.0),
        kl=kl,
        tau=jnp.exp(log_tau),
        log10_tau=log_tau / math.log(10.0),
        rhs_per_input=jnp.exp(log_rhs_per_input),
        holds_per_input=jnp.all(holds_x),
        slack_per_input=_slack_in_logs(log_lhs, log_rhs_per_input),
    )


def _holds_in_logs(lhs, log_rhs, tolerance, log_scale):
    """:func:`_holds` for ``c²·lhs ≤ (1 + r)·e^{log_rhs} + c²·tolerance``, compared as logs
    (``log_scale = log c²``)."""
    allowed = jnp.logaddexp(log_rhs + jnp.log1p(_round_off(lhs.dtype)), _safe_log(tolerance) + log_scale)
    return _safe_log(lhs) + log_scale <= allowed


def _slack_in_logs(log_lhs, log_rhs):
    """``rhs / lhs`` from logs (+inf where lhs = 0)."""
    return jnp.where(log_lhs > -jnp.inf, jnp.exp(log_rhs - log_lhs), jnp.inf)


def _kl_exponents(logit_scale):
    return dict.fromkeys(("lhs", "tolerance"), 2 * scale_exponent(logit_scale))


def _kl_checked_units(name, result: KLLogitBound, logit_scale, validate):
    """:func:`_in_input_units` for the KL bound, and (validating) InputError for a KL too
    small for the dtype (logits ~1e-20 in float32); ``rhs`` may overflow and ``tau``
    underflow: ``log10_rhs`` and ``log10_tau`` carry them."""
    result = _in_input_units(name, result, _kl_exponents(logit_scale), validate)
    if validate:
        log_kl = (result.log10_rhs + 2.0 * result.log10_tau) * math.log(10.0)
        _validate.representable(f"{name}: kl", result.kl, log_kl)
    return result


def _kl_prepare(logits, logit_scale):
    return _teacher_logits(logits, logit_scale, with_kl=True)


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
    x) forms; KL is ``KL(p ‖ q)`` (p = teacher), from :mod:`repsim_jax.metrics.kl` (the
    one implementation; relative precision at any KL). ``rhs`` is computed in log space:
    ``log10_rhs = log10 KL − 2 log10 τ`` is finite whenever τ > 0 and ``holds`` is decided
    from it; ``rhs`` itself is +inf only where that ``log10_rhs`` exceeds the dtype's range
    (``log10_tau`` likewise where ``tau`` underflows).
    """
    teacher, student = (logits_p,), (logits_q,)
    if validate:
        teacher, student = _checked_kl(teacher, student)
    logit_scale = power_of_two_scale(teacher[0], student[0])
    result = _pairs(_kl_prepare, _kl_pair, teacher, student, (logit_scale,), batch_size)
    return _kl_checked_units("kl_logit_bound", result, logit_scale, validate)


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
    scales = tuple(power_of_two_scale(a, b) for a, b in ((f1, f2), (g1, g2), (logits1, logits2)))
    extra = (pivots, subsets, jnp.asarray(max_condition), *scales)
    result = _pairs(_all_prepare, _all_pair, (f1, g1, logits1), (f2, g2, logits2), extra, batch_size)
    return LogitBounds(
        _in_input_units("logit_bounds cca_logit", result.cca_logit, _cca_exponents(scales[2]), validate),
        _in_input_units("logit_bounds rep_logit", result.rep_logit, _rep_exponents(*scales[:2]), validate),
        _kl_checked_units("logit_bounds kl_logit", result.kl_logit, scales[2], validate),
    )


def _all_prepare(f1, g1, logits, pivots, subsets, max_condition, f_scale, g_scale, logit_scale):
    """The teacher's state for the three bounds, on inputs divided by their power-of-2 scales."""
    basis, factor = _teacher_basis(f1 / f_scale)
    return (
        basis,
        (f_scale, g_scale),
        _cca_teacher(basis, logits, logit_scale, with_kl=True),
        _rep_teacher(factor, g1 / g_scale, pivots, subsets, max_condition),
    )


def _all_pair(state, f2, g2, logits):
    """One student's three bounds: one split on the teacher's basis, one cross product and
    one set of logit statistics shared between them."""
    basis, (f_scale, g_scale), cca_teacher, rep_teacher = state
    f2 = f2 / f_scale
    coords, gram = _split(basis, f2)
    cross = _cca_cross(f2, logits / cca_teacher[2].scale)
    stats = _logit_stats(cca_teacher[2], logits, cross[0])
    return LogitBounds(
        _cca_from(cca_teacher, coords, gram, cross, stats),
        _rep_from(rep_teacher, coords, gram, g2 / g_scale, f2.shape[0]),
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
    tolerance = _tolerance(lhs, unit=1.0)
    holds = _holds(lhs, rhs, tolerance)
    return LLVSVDBound(
        lhs=lhs,
        rhs=rhs,
        holds=holds,
        slack=_slack(lhs, rhs),
        tolerance=tolerance,
        within_round_off=holds & (lhs > rhs),
        sharp_rhs=sharp_rhs,
        sharp_holds=_holds(lhs, sharp_rhs, tolerance),
        llv=llv.value,
        label_term=llv.label_term,
        input_term=llv.input_term,
        embedding_part=embedding_part,
        unembedding_part=unembedding_part,
        label_pivot=llv.label_pivot,
        input_set=llv.input_set,
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
    if labels is None:  # every label: g1's rows (its last two axes are K × d, stacked or not)
        labels = jnp.arange(jnp.shape(g1)[-2], dtype=jnp.int32)
    if validate:
        teacher = _side_arrays("teacher", ("f1", "g1"), teacher)
        student = _side_arrays("student", ("f2", "g2"), student)
        _check_pair_counts(teacher, student)
        n, k = _model(teacher[0])[0], _model(teacher[1])[0]
        labels = _validate.label_indices("labels", labels, k, 1)
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
