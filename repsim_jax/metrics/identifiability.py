"""Linear-identifiability dissimilarity d_rep (arXiv 2602.15438).

Equal conditionals imply ``f₁ = A f₂`` with ``A`` fixed by any pivot label ``p`` and
``d₁`` further labels ``S``: ``L₁ = G₁[S] − G₁[p]`` (d₁ × d₁), ``L₂ = G₂[S] − G₂[p]``
(d₁ × d₂), ``A = L₁⁻¹L₂``. d_rep measures how far the embeddings are from that map:

    e_pS = (1/n) Σ_x ‖f₁(x) − A f₂(x)‖²,      d²_rep = mean over (pivot, subset) of e_pS

(the authors' reference code returns d²_rep/(P·C) instead: each e_pS is divided by P·C
before the mean; see docs/theory.md §4 and ``rep_dissimilarity_reference`` in reports).

Moment form (ours). With ``R = [[R_a, R_b], [0, R_c]]`` the triangular factor of the
uncentred ``[F₂, F₁]`` (``F₂ = Q_aR_a``, ``F₁ = Q_aR_b + Q_cR_c``),

    n·e_pS = ‖R_c‖²_F + ‖L₁⁻¹ (W[S] − W[p])‖²_F,     W = G₁R_bᵀ − G₂R_aᵀ   (K × d₂),

so after one O(n(d₁+d₂)²) factorisation each subset costs a d₁ × d₁ QR ``L₁ᵀ = VT``
(V orthogonal, only the triangular T formed), ``T⁻¹`` (matrix products,
``linalg.upper_triangular_inverse``) and one product: ``L₁⁻¹ = VT⁻ᵀ``, so
``‖L₁⁻¹(W[S] − W[p])‖ = ‖(W[S] − W[p])ᵀT⁻¹‖`` and ``‖L₁⁻¹‖_F = ‖T⁻¹‖_F``; the error and
the condition number below come from the same ``T⁻¹``, all subsets batched
(benchmarks/RESULTS.md times this against LAPACK's LU of the same batch). ``‖R_c‖²/n``
is the part of f₁ that no linear map of f₂ explains; ``W[S] − W[p] = 0`` exactly when the unembeddings
transform as the identifiability result requires.

Subsets whose ``L₁`` is ill-conditioned (Frobenius condition number
``‖L₁‖_F‖L₁⁻¹‖_F`` above ``max_condition``) are excluded from the mean and counted.

Pivots and subsets: every one (:func:`all_pivot_subsets`) or a random sample
(:func:`sample_pivot_subsets`); :func:`pivot_subsets` chooses between them by a budget.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import (
    from_unit,
    log_from_unit,
    matmul,
    power_of_two_scale,
    scale_exponent,
    squared_norm,
    thin_qr,
    upper_factor,
    upper_triangular_inverse,
)
from repsim_jax.metrics.logit import finish, validate_reps, validate_unembeddings
from repsim_jax.metrics.moments import Moments, raw_factor

DEFAULT_MAX_CONDITION = 1e5


class RepDissimilarity(NamedTuple):
    """Full result of :func:`rep_dissimilarity_details`.

    value: d_rep (or d²_rep if requested) over the included subsets.
    errors: e_pS for every (pivot, subset), shape (P, C); NaN-free even when excluded.
    condition: Frobenius condition numbers of L₁, shape (P, C).
    included: mask of the subsets that entered the mean, shape (P, C).
    num_excluded: number of ill-conditioned subsets left out.
    """

    value: jax.Array
    errors: jax.Array
    condition: jax.Array
    included: jax.Array
    num_excluded: jax.Array


def sample_pivot_subsets(key, num_labels: int, dim: int, num_pivots: int, num_subsets: int):
    """Random distinct pivots (P,) and, per pivot, C subsets of ``dim`` distinct labels.

    Each subset excludes its own pivot. Returns ``(pivots (P,), subsets (P, C, dim))``
    of int32 label indices.
    """
    if dim < 1 or num_pivots < 1 or num_subsets < 1:
        raise InputError("dim, num_pivots and num_subsets must all be >= 1")
    if num_labels - 1 < dim:
        raise InputError(
            f"too few labels: subsets of {dim} labels besides the pivot need num_labels >= {dim + 1}, got {num_labels}"
        )
    if num_pivots > num_labels:
        raise InputError(f"num_pivots={num_pivots} exceeds num_labels={num_labels}")
    pivot_key, subset_key = jax.random.split(key)
    pivots = jax.random.permutation(pivot_key, num_labels)[:num_pivots]
    noise = jax.random.uniform(subset_key, (num_pivots, num_subsets, num_labels))
    is_pivot = jnp.arange(num_labels)[None, None, :] == pivots[:, None, None]
    subsets = jnp.argsort(jnp.where(is_pivot, jnp.inf, noise), axis=-1)[..., :dim]
    return pivots.astype(jnp.int32), subsets.astype(jnp.int32)


def all_pivot_subsets(num_labels: int, dim: int):
    """Every pivot and, per pivot, every subset of ``dim`` of the other labels.

    Returns ``(pivots (K,), subsets (K, C(K−1, dim), dim))`` of int32 label indices:
    ``pivots = 0..K−1`` and row ``p`` of ``subsets`` lists the ``dim``-subsets of the
    labels other than ``p``, each sorted ascending, in the lexicographic order of
    ``itertools.combinations``. d_rep over them is the exact mean over (pivot, subset).
    """
    if dim < 1:
        raise InputError(f"dim must be >= 1, got {dim}")
    if num_labels < dim + 1:
        raise InputError(
            f"too few labels: subsets of {dim} labels besides the pivot need num_labels >= {dim + 1}, got {num_labels}"
        )
    others = np.array(list(itertools.combinations(range(num_labels - 1), dim)), np.int32)  # labels 0..K−2
    pivots = np.arange(num_labels, dtype=np.int32)
    subsets = others[None] + (others[None] >= pivots[:, None, None])  # skip the pivot, order kept
    return jnp.asarray(pivots), jnp.asarray(subsets, jnp.int32)


def pivot_subsets(num_labels: int, dim: int, num_pivots: int = 10, num_subsets: int = 20, seed: int = 0):
    """The (pivot, subset) choice for d_rep: exhaustive when affordable, sampled otherwise.

    Rule: with ``K = num_labels``, all ``K·C(K−1, dim)`` pairs (:func:`all_pivot_subsets`)
    whenever ``K·C(K−1, dim) ≤ num_pivots·num_subsets`` (the budget); otherwise
    ``sample_pivot_subsets(jax.random.key(seed), K, dim, min(num_pivots, K), num_subsets)``.
    Returns ``(pivots (P,), subsets (P, C, dim))`` of int32 label indices.
    """
    if num_labels >= dim + 1 and num_labels * math.comb(num_labels - 1, dim) <= num_pivots * num_subsets:
        return all_pivot_subsets(num_labels, dim)
    return sample_pivot_subsets(jax.random.key(seed), num_labels, dim, min(num_pivots, num_labels), num_subsets)


_SUBSET_BATCH_ENTRIES = 1 << 20
"""Entries of the d₁ × max(d₁, d₂) matrices per (pivot, subset) pair (``L₁``, its inverse,
the mapped residual) formed at once by :func:`_subset_errors`: 4 MiB per such array in
float32, however many pairs there are (P·C = 20,000 at d = 50 formed 200 MB arrays)."""


def _subset_errors(factor, count, g1, g2, pivots, subsets):
    """``(e_pS / 4^k, condition numbers of L₁, k)``; ``factor`` is the raw R of ``[F₂, F₁]``.

    R and the unembeddings are first divided by powers of 2 (``2^k`` for R): e_pS scales
    with ‖R‖² and not at all with the unembeddings' scale (``A = L₁⁻¹L₂``), so nothing
    overflows or underflows for inputs of any magnitude.
    """
    factor_scale, g_scale = power_of_two_scale(factor), power_of_two_scale(g1, g2)
    factor, g1, g2 = factor / factor_scale, g1 / g_scale, g2 / g_scale
    d2 = g2.shape[1]
    r_a, r_b, r_c = factor[:d2, :d2], factor[:d2, d2:], factor[d2:, d2:]
    w = matmul(g1, r_b.T) - matmul(g2, r_a.T)
    num_pivots, num_subsets, dim = subsets.shape

    def residual_and_condition(pair):
        pivot, subset = pair
        w_diff = w[subset] - w[pivot]
        l1 = g1[subset] - g1[pivot]
        # L₁ᵀ = VT ⇒ L₁⁻¹ = VT⁻ᵀ: ‖L₁⁻¹X‖ = ‖XᵀT⁻¹‖ and ‖L₁⁻¹‖_F = ‖T⁻¹‖_F (V drops out)
        inverse = upper_triangular_inverse(jnp.linalg.qr(l1.T, mode="r"))
        return squared_norm(matmul(w_diff.T, inverse)), jnp.sqrt(squared_norm(l1) * squared_norm(inverse))

    # batches of (pivot, subset) pairs, vectorised within a batch: memory bounded whatever P·C is
    pairs = (jnp.repeat(pivots, num_subsets), subsets.reshape(-1, dim))
    batch = max(1, min(num_pivots * num_subsets, _SUBSET_BATCH_ENTRIES // (dim * max(dim, w.shape[1]))))
    residual, condition = jax.lax.map(residual_and_condition, pairs, batch_size=batch)
    errors = (squared_norm(r_c) + residual) / count
    shape = (num_pivots, num_subsets)
    return errors.reshape(shape), condition.reshape(shape), scale_exponent(factor_scale)


def _summarise(errors, condition, max_condition):
    """:class:`RepDissimilarity` with ``value`` = the mean of the included errors (d²_rep in
    the errors' units; NaN when none is included)."""
    included = jnp.isfinite(condition) & (condition <= max_condition)
    safe_errors = jnp.where(included, errors, 0.0)
    num_included = jnp.sum(included)
    mean = jnp.sum(safe_errors) / jnp.maximum(num_included, 1)
    mean = jnp.where(num_included > 0, mean, jnp.nan)
    return RepDissimilarity(mean, safe_errors, condition, included, included.size - num_included)


def _joint_factor(x):
    """R of ``[F₂, F₁] = QR`` (square, upper triangular): Cholesky-QR2 when the rows allow it
    (:func:`~repsim_jax.metrics.linalg.thin_qr`, Householder fallback), else ``upper_factor``."""
    return thin_qr(x)[1] if x.shape[0] >= x.shape[1] else upper_factor(x)


@jax.jit
def _rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, max_condition):
    """:func:`_summarise` of the inputs divided by powers of 2 (units ``4^k``), and ``k``."""
    scale = power_of_two_scale(f1, f2)
    factor = _joint_factor(jnp.concatenate([f2 / scale, f1 / scale], axis=1))
    errors, condition, exponent = _subset_errors(factor, f1.shape[0], g1, g2, pivots, subsets)
    return _summarise(errors, condition, max_condition), exponent + scale_exponent(scale)


@jax.jit
def _rep_dissimilarity_from_moments(state: Moments, g1, g2, pivots, subsets, max_condition):
    d1 = state.widths[0]
    reordered = jnp.concatenate([state.factor[:, d1:], state.factor[:, :d1]], axis=1)
    moved = Moments(
        state.count, jnp.concatenate([state.mean[d1:], state.mean[:d1]]), upper_factor(reordered), (state.widths[1], d1)
    )
    errors, condition, exponent = _subset_errors(raw_factor(moved), state.count, g1, g2, pivots, subsets)
    return _summarise(errors, condition, max_condition), exponent


def _in_input_units(name, unit: RepDissimilarity, exponent, squared, validate, check_errors) -> RepDissimilarity:
    """The kernels' result in the inputs' units: d_rep (or d²_rep) and e_pS multiplied back
    by ``2^k`` once; with ``validate``, InputError for values outside the dtype's range."""
    value = finish(name, unit.value, exponent, squared, validate)
    errors = from_unit(unit.errors, exponent, squared=True)
    if validate and check_errors:
        checks.representable(f"{name} per-subset errors", errors, log_from_unit(unit.errors, exponent, True))
    return unit._replace(value=value, errors=errors)


def rep_dissimilarity_from_moments(
    state: Moments,
    g1,
    g2,
    pivots,
    subsets,
    *,
    squared: bool = False,
    max_condition=DEFAULT_MAX_CONDITION,
    validate: bool = True,
) -> RepDissimilarity:
    """:func:`rep_dissimilarity_details` from streamed :class:`Moments` of ``[F₁, F₂]``;
    ``validate`` checks the unembeddings, subsets and that the values are inside the dtype's
    range (False inside jit)."""
    if validate:
        g1, g2 = validate_unembeddings(state, g1, g2)
        pivots, subsets = validate_subsets(pivots, subsets, g1.shape[0], state.widths[0])
        max_condition = checks.non_negative("max_condition", max_condition)
    unit, exponent = _rep_dissimilarity_from_moments(state, g1, g2, pivots, subsets, max_condition)
    return _in_input_units("rep_dissimilarity_from_moments", unit, exponent, squared, validate, check_errors=True)


def validate_subsets(pivots, subsets, num_labels, dim):
    pivots = checks.label_indices("pivots", pivots, num_labels, ndim=1)
    subsets = checks.label_indices("subsets", subsets, num_labels, ndim=3)
    if subsets.shape[0] != pivots.shape[0]:
        raise InputError(f"subsets must have one row per pivot: {subsets.shape[0]} rows for {pivots.shape[0]} pivots")
    if subsets.shape[2] != dim:
        raise InputError(f"each subset must hold d1={dim} labels (the width of f1), got {subsets.shape[2]}")
    if bool(jnp.any(subsets == pivots[:, None, None])):
        raise InputError("a subset contains its own pivot label")
    ordered = jnp.sort(subsets, axis=-1)
    if bool(jnp.any(ordered[..., 1:] == ordered[..., :-1])):
        raise InputError("a subset repeats a label")
    return pivots, subsets


def validate_rep_options(num_labels: int, dim: int, pivots, subsets, max_condition):
    """``(pivots, subsets, max_condition)`` checked as d_rep needs them: K ≥ d₁ + 1 labels,
    subsets of d₁ labels, ``max_condition ≥ 0`` (shared by :func:`rep_dissimilarity` and
    :func:`repsim_jax.bounds.rep_logit_bound`)."""
    if num_labels < dim + 1:
        raise InputError(f"too few labels for d_rep: need K >= d1 + 1 = {dim + 1}, got K={num_labels}")
    pivots, subsets = validate_subsets(pivots, subsets, num_labels, dim)
    return pivots, subsets, checks.non_negative("max_condition", max_condition)


def _checked(f1, g1, f2, g2, pivots, subsets, max_condition):
    """Validated arguments of :func:`rep_dissimilarity_details`."""
    f1, g1, f2, g2 = validate_reps(f1, g1, f2, g2)
    return f1, g1, f2, g2, *validate_rep_options(g1.shape[0], f1.shape[1], pivots, subsets, max_condition)


def rep_dissimilarity_details(
    f1,
    g1,
    f2,
    g2,
    pivots,
    subsets,
    *,
    squared: bool = False,
    max_condition: float = DEFAULT_MAX_CONDITION,
    validate: bool = True,
) -> RepDissimilarity:
    """d_rep with its per-subset errors, condition numbers and exclusions; see module doc.

    Args:
      f1, g1: embeddings (n, d₁) and unembeddings (K, d₁) of model 1 (the one mapped onto).
      f2, g2: embeddings (n, d₂) and unembeddings (K, d₂) of model 2.
      pivots: (P,) pivot labels; subsets: (P, C, d₁) labels, pivot excluded
        (see :func:`pivot_subsets`).
      max_condition: subsets with ``‖L₁‖_F‖L₁⁻¹‖_F`` above it are excluded and counted.
    """
    if validate:
        f1, g1, f2, g2, pivots, subsets, max_condition = _checked(f1, g1, f2, g2, pivots, subsets, max_condition)
    return _details(f1, g1, f2, g2, pivots, subsets, squared, max_condition, validate, check_errors=True)


def _details(f1, g1, f2, g2, pivots, subsets, squared, max_condition, validate, check_errors):
    unit, exponent = _rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, max_condition)
    return _in_input_units("rep_dissimilarity", unit, exponent, squared, validate, check_errors)


def rep_dissimilarity(
    f1,
    g1,
    f2,
    g2,
    pivots,
    subsets,
    *,
    squared: bool = False,
    max_condition: float = DEFAULT_MAX_CONDITION,
    validate: bool = True,
) -> jax.Array:
    """d_rep = sqrt(mean_pS (1/n)Σ_x‖f₁(x) − L₁⁻¹L₂ f₂(x)‖²) (arXiv 2602.15438); 0 when identifiable.

    Ill-conditioned subsets are excluded (a warning gives their count when validating);
    :func:`rep_dissimilarity_details` returns the count and the per-subset errors.
    Raises InputError when every subset is ill-conditioned, or when d_rep is outside the
    dtype's range (it is computed scale-safely: embeddings ×1e30 give d_rep ×1e30).
    """
    if validate:
        f1, g1, f2, g2, pivots, subsets, max_condition = _checked(f1, g1, f2, g2, pivots, subsets, max_condition)
    result = _details(f1, g1, f2, g2, pivots, subsets, squared, max_condition, validate, check_errors=False)
    if validate:
        excluded = int(result.num_excluded)
        if excluded == result.included.size:
            raise InputError(
                f"singular case: all {excluded} pivot/subset matrices L1 are ill-conditioned "
                f"(condition > {max_condition:g})"
            )
        if excluded:
            warnings.warn(
                f"rep_dissimilarity: {excluded} of {result.included.size} ill-conditioned subsets excluded",
                stacklevel=2,
            )
    return result.value
