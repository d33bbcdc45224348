"""The CCA–logit bound (arXiv 2602.15438, Thm F.1 in centred form): :func:`cca_logit_bound`."""

from __future__ import annotations

import jax.numpy as jnp

from repsim_jax.bounds import verdict
from repsim_jax.bounds.basis import label_centred, split, teacher_basis, unexplained
from repsim_jax.bounds.logit_stats import LogitStats, logit_stats, teacher_logits
from repsim_jax.bounds.pairs import check_pair_counts, map_pairs, model_shape, side_arrays
from repsim_jax.errors import InputError
from repsim_jax.metrics.linalg import center_columns, matmul, power_of_two_scale, scale_exponent, squared_norm

CCALogitBound = verdict.result_type(
    "CCALogitBound",
    ("lhs", "middle", "rhs"),
    ("eigenvalues", "correlations", "teacher_span_residual", "student_span_residual"),
    """``lhs = Σᵢ(1 − ρᵢ²)λᵢ ≤ middle ≤ rhs = d²_logit`` (see :func:`cca_logit_bound`).""",
    __name__,
)


def teacher_state(basis, logits, logit_scale, with_kl):
    """The teacher's share of the CCA bound (in units of the logit scale c), from its basis
    of span[1, F_t] and its logits."""
    centred = center_columns(label_centred(logits / logit_scale))
    eigenvalues = _squared_singular_values(centred) / logits.shape[0]
    span = basis[:, 1:]
    residual = squared_norm(centred - matmul(span, matmul(span.T, centred))) / logits.shape[0]
    return eigenvalues, residual, teacher_logits(logits, logit_scale, with_kl)


def _squared_singular_values(x):
    """σ² of x, descending: the eigenvalues of the Gram matrix of its shorter side (an
    n × K SVD through LAPACK costs seconds on CPU). The Gram resolves eigenvalues only
    down to its rounding, ``w·eps·σ²_max`` (w its width); smaller ones are set to 0, which
    can only lower the CCA bound's lhs, so the bound stays valid."""
    short = x if x.shape[0] >= x.shape[1] else x.T
    values = jnp.linalg.eigvalsh(matmul(short.T, short))[::-1]
    resolved = values > short.shape[1] * jnp.finfo(x.dtype).eps * values[0]
    return jnp.where(resolved, values, 0.0)


def cross_products(embeddings, logits):
    """``(Σ_x z, F̃ᵀZ)``: the student's column sums and cross product, one matmul (of the
    scaled embeddings and logits)."""
    ones = jnp.ones((embeddings.shape[0], 1), embeddings.dtype)
    sums = matmul(jnp.concatenate([ones, center_columns(embeddings)], axis=1).T, logits)
    return sums[0], sums[1:]


def bound_from(teacher, coords, gram, cross, stats: LogitStats):
    """The CCA–logit bound of one student from its split, cross product and logit statistics."""
    eigenvalues, residual_t, _ = teacher
    n = stats.diff_sq.shape[0]
    fractions, whitening = unexplained(coords[1:], gram)
    fractions = fractions[: min(coords.shape[0] - 1, coords.shape[1])]
    size = max(fractions.shape[0], eigenvalues.shape[0])
    weights = jnp.pad(fractions, (0, size - fractions.shape[0]), constant_values=1.0)
    lam = jnp.pad(eigenvalues, (0, size - eigenvalues.shape[0]))
    lhs = jnp.sum(weights * lam)
    rhs = jnp.sum(stats.diff_sq) / n
    middle = stats.centred_diff_sq / n
    # ‖(I − P)Z̃‖² = ‖Z̃‖² − ‖WᵀF̃ᵀZ̃‖², with F̃ᵀZ̃ = F̃ᵀZ(I − 11ᵀ/K) as F̃ᵀ1 = 0; ‖Z̃‖² from
    # the row statistics: Σ_x ‖Z̄_s(x)‖² − n‖mean_x Z̄_s‖²
    column_mean = cross[0] / n - jnp.mean(stats.student_row_mean)
    total = jnp.maximum(jnp.sum(stats.student_clr_sq) - n * jnp.sum(jnp.square(column_mean)), 0.0)
    residual_s = jnp.maximum(total - squared_norm(matmul(whitening.T, label_centred(cross[1]))), 0.0) / n
    tolerance = verdict.tolerance(middle, jnp.sum(eigenvalues) + total / n)
    holds = verdict.holds(lhs, middle, tolerance) & verdict.holds(middle, rhs, tolerance)
    return CCALogitBound(
        **verdict.decided(lhs, rhs, holds, tolerance, (lhs <= middle) & (middle <= rhs)),
        middle=middle,
        eigenvalues=lam,
        correlations=jnp.sqrt(1.0 - weights),
        teacher_span_residual=residual_t,
        student_span_residual=residual_s,
    )


_SQUARED = ("lhs", "middle", "rhs", "tolerance", "eigenvalues", "teacher_span_residual", "student_span_residual")
"""The fields of :class:`CCALogitBound` in squared logit units."""


def _prepare(embeddings, logits, embedding_scale, logit_scale):
    """The teacher's state; embeddings and logits are divided by their power-of-2 scales
    (ρ does not depend on the embeddings' scale, the rest is in units of c²)."""
    basis, _ = teacher_basis(embeddings / embedding_scale)
    return basis, embedding_scale, teacher_state(basis, logits, logit_scale, with_kl=False)


def _pair(state, embeddings, logits):
    basis, embedding_scale, teacher = state
    embeddings = embeddings / embedding_scale
    coords, gram = split(basis, embeddings)
    cross = cross_products(embeddings, logits / teacher[2].scale)
    return bound_from(teacher, coords, gram, cross, logit_stats(teacher[2], logits, cross[0]))


def checked(teacher, student):
    """Validated ``(embeddings, logits)`` of both sides for :func:`cca_logit_bound`."""
    teacher = side_arrays("teacher", ("f1", "z1"), teacher)
    student = side_arrays("student", ("f2", "z2"), student)
    check_pair_counts(teacher, student)
    n, (d_t, d_s) = model_shape(teacher[0])[0], (model_shape(teacher[0])[1], model_shape(student[0])[1])
    rows = {name: model_shape(a)[0] for name, a in zip(("f1", "z1", "f2", "z2"), (*teacher, *student))}
    if len(set(rows.values())) > 1:
        raise InputError(f"row (input) counts differ between the embeddings and logits: {rows}")
    k_t, k_s = model_shape(teacher[1])[1], model_shape(student[1])[1]
    if k_t != k_s or k_t < 2:
        raise InputError(f"logits z1 and z2 need the same number K >= 2 of labels, got z1 with {k_t} and z2 with {k_s}")
    if n <= d_t + d_s:
        raise InputError(
            f"too few samples for the CCA-logit bound: n={n} <= d_t+d_s={d_t + d_s} makes every canonical correlation 1"
        )
    return teacher, student


def cca_logit_bound(
    f1,
    z1,
    f2,
    z2,
    *,
    pairs_per_step: int | None = None,
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
    residual are computed once; each student costs the products of
    :func:`~repsim_jax.bounds.basis.split` and ``[1, F̃_s]ᵀZ_s``, two d_s × d_s
    eigen-decompositions (``1 − ρ²`` directly, so it stays accurate for ρ near 1; a
    rank-deficient student's null directions count as ρ = 0) and two elementwise passes
    over its logits (:func:`~repsim_jax.bounds.logit_stats.logit_stats`).

    Args:
      f1, z1: the teacher's embeddings (n, d_t) and logits (n, K); f2, z2: the student's
        (n, d_s), (n, K); each side may carry a leading pair axis.
      pairs_per_step: pairs vmapped per step of the map over pairs (default 1 on CPU, 16
        on accelerators); validate: False skips the input checks (inner loops).

    Raises InputError for n <= d_t + d_s (then at least d_t + d_s − n + 1 of the ρ are 1
    whatever the data; no ridge is offered because ridge-shrunk ρ would no longer give a
    valid bound), and for values outside the dtype's range at the logits' scale (module
    docstring). See docs/theory.md §3.1.
    """
    teacher, student = (f1, z1), (f2, z2)
    if validate:
        teacher, student = checked(teacher, student)
    scales = (power_of_two_scale(teacher[0], student[0]), power_of_two_scale(teacher[1], student[1]))
    result = map_pairs(_prepare, _pair, teacher, student, scales, pairs_per_step)
    return verdict.in_input_units("cca_logit_bound", result, exponents(scales[1]), validate)


def exponents(logit_scale):
    return dict.fromkeys(_SQUARED, 2 * scale_exponent(logit_scale))
