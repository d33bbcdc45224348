"""The three logit bounds in one compiled call sharing each pair's work: :func:`logit_bounds`."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from repsim_jax.bounds import cca, kl, rep, verdict
from repsim_jax.bounds.basis import split, teacher_basis
from repsim_jax.bounds.logit_stats import logit_stats
from repsim_jax.bounds.pairs import map_pairs, model_shape
from repsim_jax.errors import InputError
from repsim_jax.metrics.identifiability import DEFAULT_MAX_CONDITION
from repsim_jax.metrics.linalg import power_of_two_scale


class LogitBounds(NamedTuple):
    """The three logit bounds of one call to :func:`logit_bounds`."""

    cca_logit: cca.CCALogitBound
    rep_logit: rep.RepLogitBound
    kl_logit: kl.KLLogitBound


def logit_bounds(
    f1,
    g1,
    z1,
    f2,
    g2,
    z2,
    pivots,
    subsets,
    *,
    max_condition: float = DEFAULT_MAX_CONDITION,
    pairs_per_step: int | None = None,
    validate: bool = True,
) -> LogitBounds:
    """:func:`~repsim_jax.bounds.cca_logit_bound`, :func:`~repsim_jax.bounds.rep_logit_bound` and
    :func:`~repsim_jax.bounds.kl_logit_bound` in one compiled call.

    Same results as the three calls (teacher = model 1), for one or many pairs, with the
    inputs validated once, in one compiled map whose pairs share their work: one
    :func:`~repsim_jax.bounds.basis.split` of the student's embeddings on the teacher's
    basis, one cross product ``[1, F̃]ᵀZ`` and one set of logit statistics
    (:func:`~repsim_jax.bounds.logit_stats.logit_stats`: two elementwise passes over the
    student's logits).

    Args:
      f1, g1, z1: teacher embeddings (n, d₁), unembeddings (K, d₁), logits (n, K);
      f2, g2, z2: the student's; either side may carry a leading pair axis.
      pivots, subsets, max_condition: as in :func:`~repsim_jax.bounds.rep_logit_bound`.
      pairs_per_step, validate: as in :func:`~repsim_jax.bounds.cca_logit_bound`.
    """
    if validate:
        (f1, g1), (f2, g2), pivots, subsets, max_condition = rep.checked(
            (f1, g1), (f2, g2), pivots, subsets, max_condition
        )
        # same n and K on both sides, K >= 2: everything the KL bound checks besides finiteness
        (_, z1), (_, z2) = cca.checked((f1, z1), (f2, z2))
        if model_shape(z1)[1] != model_shape(g1)[0]:
            raise InputError(f"z1 has {model_shape(z1)[1]} labels but the unembeddings g1 {model_shape(g1)[0]}")
    scales = tuple(power_of_two_scale(a, b) for a, b in ((f1, f2), (g1, g2), (z1, z2)))
    extra = (pivots, subsets, jnp.asarray(max_condition), *scales)
    result = map_pairs(_prepare, _pair, (f1, g1, z1), (f2, g2, z2), extra, pairs_per_step)
    return LogitBounds(
        verdict.in_input_units("logit_bounds cca_logit", result.cca_logit, cca.exponents(scales[2]), validate),
        verdict.in_input_units("logit_bounds rep_logit", result.rep_logit, rep.exponents(*scales[:2]), validate),
        kl.checked_units("logit_bounds kl_logit", result.kl_logit, scales[2], validate),
    )


def _prepare(f1, g1, logits, pivots, subsets, max_condition, f_scale, g_scale, logit_scale):
    """The teacher's state for the three bounds, on inputs divided by their power-of-2 scales."""
    basis, factor = teacher_basis(f1 / f_scale)
    return (
        basis,
        (f_scale, g_scale),
        cca.teacher_state(basis, logits, logit_scale, with_kl=True),
        rep.teacher_state(factor, g1 / g_scale, pivots, subsets, max_condition),
    )


def _pair(state, f2, g2, logits):
    """One student's three bounds: one split on the teacher's basis, one cross product and
    one set of logit statistics shared between them."""
    basis, (f_scale, g_scale), cca_teacher, rep_teacher = state
    f2 = f2 / f_scale
    coords, gram = split(basis, f2)
    cross = cca.cross_products(f2, logits / cca_teacher[2].scale)
    stats = logit_stats(cca_teacher[2], logits, cross[0])
    return LogitBounds(
        cca.bound_from(cca_teacher, coords, gram, cross, stats),
        rep.bound_from(rep_teacher, coords, gram, g2 / g_scale, f2.shape[0]),
        kl.bound_from(cca_teacher[2], stats),
    )
