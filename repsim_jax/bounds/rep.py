"""The d_rep–logit bound (arXiv 2602.15438): :func:`rep_logit_bound`."""

from __future__ import annotations

import jax.numpy as jnp

from repsim_jax.bounds import verdict
from repsim_jax.bounds.basis import distance_sq, label_centred, split, teacher_basis
from repsim_jax.bounds.pairs import check_pair_counts, map_pairs, model_shape, side_arrays
from repsim_jax.errors import InputError
from repsim_jax.metrics.identifiability import DEFAULT_MAX_CONDITION, validate_rep_options
from repsim_jax.metrics.linalg import matmul, power_of_two_scale, scale_exponent, squared_norm

RepLogitBound = verdict.result_type(
    "RepLogitBound",
    ("lhs", "rhs"),
    ("logit_distance_sq", "errors", "subset_rhs", "subset_holds", "inverse_norm_sq", "included"),
    """``lhs = d²_rep ≤ rhs = (d₁+1)·mean ‖L₁⁻¹‖₂²·d²_logit`` (see :func:`rep_logit_bound`).""",
    __name__,
)


def teacher_state(factor, g1, pivots, subsets, max_condition):
    """The teacher's share of the rep–logit bound, from the coordinates R of F₁ on its basis."""
    l1 = g1[subsets] - g1[pivots][:, None, None, :]
    singular = jnp.linalg.svd(l1, compute_uv=False)
    condition = jnp.sqrt(jnp.sum(jnp.square(singular), -1) * jnp.sum(1.0 / jnp.square(singular), -1))
    included = jnp.isfinite(condition) & (condition <= max_condition)
    logit_target = matmul(factor, label_centred(g1.T))
    delta_target = matmul(factor, jnp.swapaxes(l1, -1, -2))
    inverse_norm_sq = 1.0 / jnp.square(singular[..., -1])
    return factor, logit_target, delta_target, jnp.linalg.inv(l1), inverse_norm_sq, included, pivots, subsets


def bound_from(teacher, coords, gram, g2, n):
    """The rep–logit bound of one student (n inputs) from its split ``(C, S)`` on the teacher's basis."""
    factor, logit_target, delta_target, inverse, inverse_norm_sq, included, pivots, subsets = teacher
    d1 = factor.shape[1]
    logit_sq = distance_sq(logit_target, coords, gram, label_centred(g2.T)) / n
    l2_t = jnp.swapaxes(g2[subsets] - g2[pivots][:, None, None, :], -1, -2)
    maps_t = matmul(l2_t, jnp.swapaxes(inverse, -1, -2))  # Aᵀ = L₂ᵀL₁⁻ᵀ
    errors = distance_sq(factor, coords, gram, maps_t) / n
    subset_rhs = inverse_norm_sq * distance_sq(delta_target, coords, gram, l2_t) / n
    count = jnp.maximum(jnp.sum(included), 1)
    lhs = jnp.sum(jnp.where(included, errors, 0.0)) / count
    mean_inverse = jnp.sum(jnp.where(included, inverse_norm_sq, 0.0)) / count
    rhs = (d1 + 1) * mean_inverse * logit_sq
    scale = squared_norm(factor) / n
    subset_holds = jnp.where(included, verdict.holds(errors, subset_rhs, verdict.tolerance(errors, scale)), True)
    tolerance = verdict.tolerance(lhs, scale)
    holds = verdict.holds(lhs, rhs, tolerance) & jnp.all(subset_holds)
    strictly = (lhs <= rhs) & jnp.all(jnp.where(included, errors <= subset_rhs, True))
    return RepLogitBound(
        **verdict.decided(lhs, rhs, holds, tolerance, strictly),
        logit_distance_sq=logit_sq,
        errors=errors,
        subset_rhs=subset_rhs,
        subset_holds=subset_holds,
        inverse_norm_sq=inverse_norm_sq,
        included=included,
    )


def exponents(f_scale, g_scale):
    """Powers of 2 that bring :class:`RepLogitBound`'s fields back to the inputs' units:
    d²_rep, its rhs and the per-subset terms scale with ‖F‖² (A = L₁⁻¹L₂ does not depend on
    G's scale), d²_logit with ‖F‖²‖G‖², ‖L₁⁻¹‖² with ‖G‖⁻²."""
    f, g = 2 * scale_exponent(f_scale), 2 * scale_exponent(g_scale)
    squared = dict.fromkeys(("lhs", "rhs", "tolerance", "errors", "subset_rhs"), f)
    return squared | {"logit_distance_sq": f + g, "inverse_norm_sq": -g}


def _prepare(f1, g1, pivots, subsets, max_condition, f_scale, g_scale):
    """The teacher's state from ``F₁``, ``G₁`` divided by the pair's power-of-2 scales."""
    basis, factor = teacher_basis(f1 / f_scale)
    return basis, (f_scale, g_scale), teacher_state(factor, g1 / g_scale, pivots, subsets, max_condition)


def _pair(state, f2, g2):
    basis, (f_scale, g_scale), teacher = state
    coords, gram = split(basis, f2 / f_scale)
    return bound_from(teacher, coords, gram, g2 / g_scale, f2.shape[0])


def checked(teacher, student, pivots, subsets, max_condition):
    """Validated arguments of :func:`rep_logit_bound`."""
    teacher = side_arrays("teacher", ("f1", "g1"), teacher)
    student = side_arrays("student", ("f2", "g2"), student)
    check_pair_counts(teacher, student)
    (n1, d1), (k1, w1), (n2, d2), (k2, w2) = (model_shape(a) for a in (*teacher, *student))
    if n1 != n2 or k1 != k2 or d1 != w1 or d2 != w2:
        raise InputError(f"shapes do not match: f1 {(n1, d1)}, g1 {(k1, w1)}, f2 {(n2, d2)}, g2 {(k2, w2)}")
    return teacher, student, *validate_rep_options(k1, d1, pivots, subsets, max_condition)


def rep_logit_bound(
    f1,
    g1,
    f2,
    g2,
    pivots,
    subsets,
    *,
    max_condition: float = DEFAULT_MAX_CONDITION,
    pairs_per_step: int | None = None,
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
      max_condition: subsets whose L₁ has a larger Frobenius condition are left out (as in d_rep).
      pairs_per_step, validate: as in :func:`~repsim_jax.bounds.cca_logit_bound`.

    Raises InputError for values outside the dtype's range at the inputs' scale (module docstring).
    """
    teacher, student = (f1, g1), (f2, g2)
    if validate:
        teacher, student, pivots, subsets, max_condition = checked(teacher, student, pivots, subsets, max_condition)
    scales = (power_of_two_scale(teacher[0], student[0]), power_of_two_scale(teacher[1], student[1]))
    extra = (pivots, subsets, jnp.asarray(max_condition), *scales)
    result = map_pairs(_prepare, _pair, teacher, student, extra, pairs_per_step)
    return verdict.in_input_units("rep_logit_bound", result, exponents(*scales), validate)
