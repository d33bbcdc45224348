"""Comparison and logit bounds of two models on shared inputs, from representation chunks.

Two models with logits ``Z₁ = F₁G₁ᵀ`` and ``Z₂ = F₂G₂ᵀ`` (rows are inputs, K labels) are
compared over n inputs without ever holding an (n, K) array: :class:`PairStream` keeps

* the joint :class:`~repsim_jax.metrics.moments.Moments` of ``[F₁, F₂]`` (count, mean and
  the triangular factor R of the centred data, O((d₁+d₂)²)), and
* the running means of ``KL_x = KL(p₁(·|x) ‖ p₂(·|x))`` and of the reverse direction (and
  of their logs, for KLs below the dtype's range), the smallest log-probability of either
  model and the top-label agreement, read off each chunk's logits ``ROW_BLOCK`` × K at a
  time (then discarded) by :func:`repsim_jax.metrics.kl.kl_rows`, the one KL implementation.

Memory is O(d² + K·d + m·d + ROW_BLOCK·K) for chunks of m rows, whatever n. Everything in
:meth:`PairStream.result` is a function of these: the metrics through their
``*_from_moments`` forms and the three bounds of :mod:`repsim_jax.bounds` (arXiv
2602.15438; proofs in the docstrings there and in docs/theory.md §3) through the moment
forms below, which give the same ``lhs``/``rhs``/``holds`` as the in-memory functions on
the full arrays (up to rounding). With Ĝᵢ = C Gᵢ (labels centred, ``C = I − 11ᵀ/K``), R
the centred factor (``F̃ = [F̃₁, F̃₂] = QR``) and R_raw the uncentred one
(``[F₁, F₂]ᵀ[F₁, F₂] = R_rawᵀR_raw``):

* ``d²_logit = (1/n)‖R_raw [Ĝ₁, −Ĝ₂]ᵀ‖²`` (:func:`~repsim_jax.metrics.logit_distance_from_moments`);
* CCA–logit middle term ``(1/n)Σ_x‖(Z̄₁−EZ̄₁) − (Z̄₂−EZ̄₂)‖² = (1/n)‖R [Ĝ₁, −Ĝ₂]ᵀ‖²``;
* CCA–logit λ, the eigenvalues of ``Cov_x(Z̄₁) = Ĝ₁Σ_fĜ₁ᵀ`` (``Σ_f = R₁₁ᵀR₁₁/n``): its
  nonzero part is ``eig(Σ_f^{1/2}Ĝ₁ᵀĜ₁Σ_f^{1/2}) = σ(R₁₁Ĝ₁ᵀ)²/n = σ(R₁₁U₁ᵀ)²/n`` with
  ``Ĝ₁ = Q₁U₁`` (thin QR): a d₁ × d₁ singular-value problem, the square root of the
  eigenproblem, so nothing is squared;
* CCA–logit ``1 − ρ²``: ``F̃₂ = Q₁R₁₂ + Q₂R₂₂`` splits the student into its coordinates
  ``R₁₂`` on the teacher's centred span and a residual with Gram ``R₂₂ᵀR₂₂``, the two
  arguments of the bound's own :func:`~repsim_jax.bounds.basis.unexplained` (accurate
  for ρ near 1);
* d_rep–logit: ``e_pS`` from :func:`~repsim_jax.metrics.rep_dissimilarity_from_moments`,
  per-subset ``(1/n)Σ_x‖Δ(x)‖² = (1/n)‖R_raw [L₁, −L₂]ᵀ‖²`` (``Δ = F₁L₁ᵀ − F₂L₂ᵀ``);
* KL–logit: ``KL = mean_x KL_x`` and ``τ = exp(min over x, y and both models of log p)``
  from the chunks, ``rhs = KL/τ²`` in log space (``log10_rhs``, finite whenever τ > 0).

Scale: the summary works on the moments and unembeddings divided by powers of 2 near their
largest magnitudes (exact), and :meth:`PairStream.result` multiplies each value back in
float64, so embeddings of any size give the right values (float32 chunks ×1e30 give
d_logit ≈ 1e30 and d²_logit ≈ 1e60).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.bounds import CCALogitBound, KLLogitBound, RepLogitBound, verdict
from repsim_jax.bounds.basis import label_centred, unexplained
from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.batching import dividing_batch_size
from repsim_jax.metrics.cca import default_rank_tol, mean_cca_from_moments
from repsim_jax.metrics.cka import linear_cka_from_moments
from repsim_jax.metrics.identifiability import pivot_subsets, rep_dissimilarity_from_moments
from repsim_jax.metrics.kl import kl_rows, kl_teacher
from repsim_jax.metrics.linalg import from_unit, matmul, power_of_two_scale, scale_exponent, squared_norm, upper_factor
from repsim_jax.metrics.logit import distance_from_raw_factor, logit_distance_from_moments
from repsim_jax.metrics.moments import Moments, empty, from_data, merge, raw_factor
from repsim_jax.metrics.shape import gram_distance_from_moments, procrustes_distance_from_moments
from repsim_jax.row_statistics import fold_processes


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PairState:
    """Joint moments of ``[F₁, F₂]``, ``mean_x KL_x`` and ``log Σ_x KL_x`` (shape (2,):
    KL(p₁ ‖ p₂), KL(p₂ ‖ p₁)), the smallest log-probability of either model and the
    fraction of inputs whose top labels agree."""

    moments: Moments
    kl_mean: jax.Array
    log_kl_sum: jax.Array
    log_tau: jax.Array
    agreement: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ZooState:
    """Joint moments of ``[F₁, …, F_M]`` and, per tracked ordered pair (a vector of length
    P), ``mean_x KL_x`` and ``log Σ_x KL_x`` in both directions (P, 2), the smallest
    log-probability of either model and the fraction of inputs where both models' largest
    logits are at the same label."""

    moments: Moments
    kl_mean: jax.Array
    log_kl_sum: jax.Array
    log_tau: jax.Array
    agreement: jax.Array


ROW_BLOCK = 16
"""Rows whose (ROW_BLOCK, K) logits are formed at a time inside a chunk: the block stays in
cache through its passes (2× faster than whole-chunk passes on a 2-core CPU, K = 50,000)."""


def _block_logit_terms(fs, gts, pairs):
    """``(Σ_x KL_x, log Σ_x KL_x, min_x log τ_x, Σ_x [argmax Z_i(x) = argmax Z_j(x)])`` of each
    ordered pair ``(i, j)`` of ``pairs`` over a block of rows, the KL terms in both directions
    (shape (P, 2): KL(pᵢ ‖ pⱼ), KL(pⱼ ‖ pᵢ)), the others of shape (P,): each model's logits
    ``fᵢGᵢᵀ``, top labels and :func:`~repsim_jax.metrics.kl.kl_teacher` formed once, then
    :func:`~repsim_jax.metrics.kl.kl_rows` once per direction that a pair needs (a loop:
    compiled once, whatever P; a zoo of all ordered pairs computes each direction once)."""
    logits = jnp.stack([matmul(f, gt) for f, gt in zip(fs, gts)])
    top = jnp.argmax(logits, axis=-1)
    sides = kl_teacher(logits)
    directions = sorted(set(pairs) | {(j, i) for i, j in pairs})

    def direction_terms(index):
        p, q = index
        rows = kl_rows(jax.tree.map(lambda a: a[p], sides), logits[p], logits[q])
        return jnp.sum(rows.value), jax.nn.logsumexp(rows.log_value), jnp.min(rows.log_tau)

    sums, log_sums, log_taus = jax.lax.map(direction_terms, tuple(jnp.asarray(c) for c in zip(*directions)))
    forward = jnp.asarray([directions.index(pair) for pair in pairs])
    reverse = jnp.asarray([directions.index((j, i)) for i, j in pairs])
    first, second = (jnp.asarray(column) for column in zip(*pairs))
    agreeing = jnp.sum(top[first] == top[second], axis=-1).astype(sums.dtype)

    def both(terms):
        return jnp.stack([terms[forward], terms[reverse]], axis=-1)

    return both(sums), both(log_sums), log_taus[forward], agreeing


def _chunk_logit_terms(fs, gts, pairs):
    """:func:`_block_logit_terms` of a chunk, ``ROW_BLOCK`` rows at a time (a loop), then the remainder.

    ``Gᵢᵀ`` (dᵢ × K) is passed transposed: XLA:CPU would otherwise transpose G in every block.
    """
    rows = fs[0].shape[0]
    whole = rows - rows % ROW_BLOCK
    parts = []
    if whole:
        blocks = tuple(f[:whole].reshape(-1, ROW_BLOCK, f.shape[1]) for f in fs)
        parts.append(_combined(jax.lax.map(lambda b: _block_logit_terms(b, gts, pairs), blocks)))
    if whole < rows:
        parts.append(_block_logit_terms(tuple(f[whole:] for f in fs), gts, pairs))
    return _combined(tuple(jnp.stack(values) for values in zip(*parts)))


def _combined(terms):
    """The terms of :func:`_block_logit_terms` of several blocks (leading axis) as one block's."""
    sums, log_sums, log_taus, agreeing = terms
    return jnp.sum(sums, 0), jax.nn.logsumexp(log_sums, 0), jnp.min(log_taus, 0), jnp.sum(agreeing, 0)


def merge_states(a: ZooState, b: ZooState) -> ZooState:
    """The state of the union of the inputs behind ``a`` and ``b`` (same models and pairs):
    the moments merged exactly (:func:`~repsim_jax.metrics.moments.merge`), each pair's KL
    and agreement means weighted by the counts, the log-sums added in log space, the smallest
    log-probabilities' minimum. Streaming is :func:`_add` chunk by chunk; several processes
    are a merge of their states (:meth:`ZooStream.merge_processes`)."""
    moments = merge(a.moments, b.moments)
    share = jnp.where(moments.count > 0, b.moments.count / jnp.maximum(moments.count, 1), 0.0)
    return ZooState(
        moments,
        a.kl_mean + share * (b.kl_mean - a.kl_mean),
        jnp.logaddexp(a.log_kl_sum, b.log_kl_sum),
        jnp.minimum(a.log_tau, b.log_tau),
        a.agreement + share * (b.agreement - a.agreement),
    )


@functools.partial(jax.jit, static_argnames="pairs")
def _add(state: ZooState, gts, fs, pairs) -> ZooState:
    """The state after the aligned chunk ``fs``: the chunk's own state merged in (:func:`merge_states`)."""
    kl_sum, log_kl_sum, log_tau, agreeing = _chunk_logit_terms(fs, gts, pairs)
    rows = fs[0].shape[0]
    return merge_states(state, ZooState(from_data(*fs), kl_sum / rows, log_kl_sum, log_tau, agreeing / rows))


_merge_states = jax.jit(merge_states)


@functools.partial(jax.jit, static_argnames="widths")
def _selected_moments(moments: Moments, columns, widths) -> Moments:
    return Moments(moments.count, moments.mean[columns], upper_factor(moments.factor[:, columns]), widths)


def block_pair_moments(moments: Moments, first: int, second: int) -> Moments:
    """The joint moments of blocks ``first`` and ``second`` alone: the centred factor's
    columns of the two blocks (their centred Gram) re-triangularised, R of ``R[:, cols]``
    (compiled once per pair of widths, whichever blocks)."""
    blocks = (moments.block(first), moments.block(second))
    columns = np.concatenate([np.arange(block.start, block.stop) for block in blocks])
    return _selected_moments(moments, columns, (moments.widths[first], moments.widths[second]))


def _unembedding_factors(g1, g2):
    """``Uᵢ`` (dᵢ × dᵢ) with ``Ĝᵢ = QᵢUᵢ`` (thin QR of ``Ĝᵢ = C Gᵢ``, labels centred).

    As Qᵢ has orthonormal columns, ``‖AĜᵢᵀ‖ = ‖AUᵢᵀ‖`` and ``σ(AĜᵢᵀ) = σ(AUᵢᵀ)`` for any A:
    after this O(K·d²) step every product with the unembeddings is d × d.
    """
    return tuple(upper_factor(label_centred(g.T).T) for g in (g1, g2))


def _normalised(state: PairState, g1, g2):
    """The moments and unembeddings divided by powers of 2 near their largest magnitudes
    (exact), and the exponents ``(k_f, k_g)`` of those powers: every squared quantity of the
    summary is then O(1)-sized and its value in the inputs' units is ``4^k`` times it."""
    moments = state.moments
    f_scale, g_scale = power_of_two_scale(moments.factor, moments.mean), power_of_two_scale(g1, g2)
    scaled = Moments(moments.count, moments.mean / f_scale, moments.factor / f_scale, moments.widths)
    return scaled, g1 / g_scale, g2 / g_scale, (scale_exponent(f_scale), scale_exponent(g_scale))


def _cca_logit(state: Moments, g1, g2, factors, logit_sq):
    """CCA–logit chain ``Σ(1−ρᵢ²)λᵢ ≤ middle ≤ d²_logit`` from the moments (module doc, bounds.cca_logit_bound).

    ``λ = σ(R₁₁Ĝ₁ᵀ)²/n = σ(R₁₁U₁ᵀ)²/n`` (d₁ values, descending) meets ``1 − ρ²`` (ascending,
    ``min(d₁, d₂)`` values); the λ beyond them have weight 1 (ρ = 0), as the in-memory
    bound pads them.
    """
    d1, d2 = state.widths
    r, n = state.factor, state.count
    u1, u2 = factors
    eigenvalues = jnp.square(jnp.linalg.svd(matmul(r[:d1, :d1], u1.T), compute_uv=False)) / n
    fractions, _ = unexplained(r[:d1, d1:], matmul(r[d1:, d1:].T, r[d1:, d1:]))
    kept = min(d1, d2)
    lhs = jnp.sum(fractions[:kept] * eigenvalues[:kept]) + jnp.sum(eigenvalues[kept:])
    middle = from_unit(*distance_from_raw_factor(r, n, g1, g2), squared=True)
    tolerance = verdict.tolerance(middle, jnp.sum(eigenvalues) + squared_norm(matmul(r[:, d1:], u2.T)) / n)
    holds = verdict.holds(lhs, middle, tolerance) & verdict.holds(middle, logit_sq, tolerance)
    strictly = (lhs <= middle) & (middle <= logit_sq)
    return dict(
        lhs=lhs, middle=middle, rhs=logit_sq, holds=holds, tolerance=tolerance, within_round_off=holds & ~strictly
    )


SUBSET_BATCH_ENTRIES = 1 << 20
"""Entries of the ``D × d₁`` products per (pivot, subset) pair that :func:`_subset_terms`
forms at once (4 MiB in float32): P·C = 20,000 subsets at d = 50 no longer form 400 MB arrays."""


def _subset_terms(raw, g1, g2, pivots, subsets):
    """Per (pivot, subset): ``‖L₁⁻¹‖₂² = 1/σ_min(L₁)²`` and ``‖R_raw [L₁, −L₂]ᵀ‖²`` (n times
    the subset's ``(1/n)Σ_x‖Δ‖²``), with ``Lᵢ = Gᵢ[S] − Gᵢ[p]``; the pairs mapped in batches
    of :data:`SUBSET_BATCH_ENTRIES` (a divisor of P·C: :mod:`repsim_jax.metrics.batching`)."""
    num_pivots, num_subsets, dim = subsets.shape

    def terms(pair):
        pivot, subset = pair
        l1, l2 = g1[subset] - g1[pivot], g2[subset] - g2[pivot]
        inverse_norm_sq = 1.0 / jnp.square(jnp.linalg.svd(l1, compute_uv=False)[-1])
        return inverse_norm_sq, squared_norm(matmul(raw, jnp.concatenate([l1, -l2], axis=-1).T))

    pairs = (jnp.repeat(pivots, num_subsets), subsets.reshape(-1, dim))
    size = num_pivots * num_subsets
    batch = dividing_batch_size(size, max(1, SUBSET_BATCH_ENTRIES // (raw.shape[0] * dim)))
    inverse_norm_sq, difference_sq = jax.lax.map(terms, pairs, batch_size=batch)
    return inverse_norm_sq.reshape(num_pivots, num_subsets), difference_sq.reshape(num_pivots, num_subsets)


def _rep_logit(state: Moments, g1, g2, pivots, subsets, details, logit_sq):
    """d_rep–logit bound ``d²_rep ≤ (d₁+1)·mean ‖L₁⁻¹‖₂²·d²_logit`` and its per-subset forms
    ``e_pS ≤ ‖L₁⁻¹‖₂²·(1/n)Σ‖Δ‖²`` (bounds.rep_logit_bound), over the subsets d_rep keeps."""
    d1, n = state.widths[0], state.count
    raw = raw_factor(state)
    inverse_norm_sq, difference_sq = _subset_terms(raw, g1, g2, pivots, subsets)
    difference_sq = difference_sq / n
    included = details.included
    mean_inverse = jnp.sum(jnp.where(included, inverse_norm_sq, 0.0)) / jnp.maximum(jnp.sum(included), 1)
    lhs, rhs = details.value, (d1 + 1) * mean_inverse * logit_sq
    scale = squared_norm(raw[:, :d1]) / n
    subset_rhs = inverse_norm_sq * difference_sq
    subset_holds = jnp.where(
        included, verdict.holds(details.errors, subset_rhs, verdict.tolerance(details.errors, scale)), True
    )
    tolerance = verdict.tolerance(lhs, scale)
    holds = verdict.holds(lhs, rhs, tolerance) & jnp.all(subset_holds)
    strictly = (lhs <= rhs) & jnp.all(jnp.where(included, details.errors <= subset_rhs, True))
    return dict(lhs=lhs, rhs=rhs, holds=holds, tolerance=tolerance, within_round_off=holds & ~strictly)


def _kl_logit(state: PairState, moments: Moments, factors, logit_sq, log_scale):
    """KL–logit bound ``d²_logit ≤ KL/τ²`` (bounds.kl_logit_bound), decided in log space;
    ``lhs`` and ``tolerance`` in the normalised units (``log_scale`` = log of the factor that
    brings them back), ``log_rhs`` and ``log_tau`` in the inputs' units. Its rounding scale
    ``mean_x ‖Z̄₁(x)‖² + ‖Z̄₂(x)‖² = (1/n)(‖R_raw,₁U₁ᵀ‖² + ‖R_raw,₂U₂ᵀ‖²)`` comes from the moments."""
    d1 = moments.widths[0]
    raw = raw_factor(moments)
    u1, u2 = factors
    scale = (squared_norm(matmul(raw[:, :d1], u1.T)) + squared_norm(matmul(raw[:, d1:], u2.T))) / moments.count
    log_rhs = _log_kl(state)[0] - 2.0 * state.log_tau
    tolerance = verdict.tolerance(logit_sq, scale)
    holds = verdict.holds_in_logs(logit_sq, log_rhs, tolerance, log_scale)
    above = jnp.log(logit_sq) + log_scale > log_rhs
    return dict(lhs=logit_sq, holds=holds, tolerance=tolerance, within_round_off=holds & above, log_rhs=log_rhs)


def _log_kl(state: PairState):
    """``log mean_x KL_x`` in both directions: of the running mean where it is a normal
    number, else from the running log-sum (KLs below the dtype's range)."""
    kl = state.kl_mean
    from_sum = state.log_kl_sum - jnp.log(state.moments.count)
    return jnp.where(kl >= jnp.finfo(kl.dtype).tiny, jnp.log(jnp.where(kl > 0, kl, 1.0)), from_sum)


def _comparison_terms(state: PairState, normalised) -> dict:
    """The predictions' comparison of :func:`_summary`: d²_logit in the units of
    ``normalised`` (:func:`_normalised` of the state) with their exponents, log KL both
    ways, agreement."""
    moments, g1, g2, (k_f, k_g) = normalised
    return dict(
        logit_sq=logit_distance_from_moments(moments, g1, g2, squared=True, validate=False),
        log_kl=_log_kl(state),  # both directions
        agreement=state.agreement,
        exponents=dict(f=k_f, g=k_g),
    )


@jax.jit
def _comparison_summary(state: PairState, g1, g2) -> dict:
    """:func:`_comparison_terms` alone (:meth:`ZooStream.pair_comparison`)."""
    return _comparison_terms(state, _normalised(state, g1, g2))


@jax.jit
def _summary(state: PairState, g1, g2, pivots, subsets):
    """Every entry of :meth:`PairStream.result` as arrays in normalised units
    (:func:`_normalised`), with their exponents, plus d_rep's number of excluded subsets."""
    normalised = _normalised(state, g1, g2)
    comparison = _comparison_terms(state, normalised)
    moments, g1, g2, (k_f, k_g) = normalised
    factors = _unembedding_factors(g1, g2)
    logit_sq = comparison["logit_sq"]
    details = rep_dissimilarity_from_moments(moments, g1, g2, pivots, subsets, squared=True, validate=False)
    log_scale = 2.0 * math.log(2.0) * (k_f + k_g)
    return dict(
        **comparison,
        log_tau=state.log_tau,
        linear_cka=linear_cka_from_moments(moments),
        procrustes_distance=procrustes_distance_from_moments(moments),
        gram_distance=gram_distance_from_moments(moments),
        rep_sq=details.value,
        rep_excluded=details.num_excluded,
        cca_logit=_cca_logit(moments, g1, g2, factors, logit_sq),
        rep_logit=_rep_logit(moments, g1, g2, pivots, subsets, details, logit_sq),
        kl_logit=_kl_logit(state, moments, factors, logit_sq, log_scale),
    )


def _in_units(name: str, unit: float, exponent: int) -> float:
    """``unit·2^exponent`` as a Python float; InputError when that is outside float64's range."""
    try:
        value = math.ldexp(unit, exponent)
    except OverflowError:
        value = math.inf
    if unit != 0 and not (value != 0 and math.isfinite(value)):
        log10 = math.log10(abs(unit)) + exponent * math.log10(2.0)
        raise InputError(f"{name} is about 1e{log10:+.1f}, outside the float64 range; rescale the chunks")
    return value


def _exp(log_value: float) -> float:
    """``e^x`` as a Python float, +inf beyond float64's range (its log carries the value)."""
    return math.exp(log_value) if log_value < 709.0 else math.inf


RESULT_TYPES = {"cca_logit": CCALogitBound, "rep_logit": RepLogitBound, "kl_logit": KLLogitBound}
"""The in-memory result type of each streamed bound: a streamed bound holds the fields of its
type that the moments give (no per-subset or per-input arrays), in the type's order."""


def _slack(lhs: float, rhs: float, log10_rhs: float | None = None) -> float:
    """``rhs / lhs`` in float64 (from ``log10_rhs`` where given: rhs may overflow), +inf for lhs = 0."""
    if lhs <= 0:
        return math.inf
    if log10_rhs is None:
        return rhs / lhs
    exponent = log10_rhs - math.log10(lhs)
    return 10.0**exponent if exponent < 308 else math.inf


def _as_fields(name: str, values: dict) -> dict:
    """``values`` ordered as the fields of the bound's result type (:data:`RESULT_TYPES`)."""
    return {field: values[field] for field in RESULT_TYPES[name]._fields if field in values}


COMPARISON_KEYS = ("logit_distance", "kl_divergence", "reverse_kl_divergence", "agreement")
"""The entries of :meth:`ZooStream.pair_comparison`, the first of :meth:`ZooStream.pair_result`."""


def _comparison_values(summary: dict) -> dict:
    """:data:`COMPARISON_KEYS` from :func:`_comparison_terms`' host values, in float64 and
    the inputs' units."""
    f, g = int(summary["exponents"]["f"]), int(summary["exponents"]["g"])
    return dict(
        logit_distance=_in_units("logit_distance", math.sqrt(float(summary["logit_sq"])), f + g),
        kl_divergence=_exp(float(summary["log_kl"][0])),
        reverse_kl_divergence=_exp(float(summary["log_kl"][1])),
        agreement=float(summary["agreement"]),
    )


def _result(summary: dict) -> dict:
    """:meth:`PairStream.result`'s dictionary from :func:`_summary`'s (host values): each value
    multiplied back to the inputs' units in float64."""
    f, g = int(summary["exponents"]["f"]), int(summary["exponents"]["g"])
    logit, rep = 2 * (f + g), 2 * f
    squared = {"cca_logit": logit, "rep_logit": rep, "kl_logit": logit}
    bounds = {}
    for name, exponent in squared.items():
        entry = {k: v for k, v in summary[name].items() if k not in ("log_rhs",)}
        for key in ("lhs", "middle", "rhs", "tolerance"):
            if key in entry:
                entry[key] = _in_units(f"{name} {key}", float(entry[key]), exponent)
        bounds[name] = {k: (bool(v) if k in ("holds", "within_round_off") else v) for k, v in entry.items()}
    log_rhs, log_tau = float(summary["kl_logit"]["log_rhs"]), float(summary["log_tau"])
    bounds["kl_logit"] |= dict(
        rhs=_exp(log_rhs), tau=_exp(log_tau), log10_rhs=log_rhs / math.log(10.0), log10_tau=log_tau / math.log(10.0)
    )
    bounds = {
        name: _as_fields(name, entry | {"slack": _slack(entry["lhs"], entry["rhs"], entry.get("log10_rhs"))})
        for name, entry in bounds.items()
    }
    rep_sq = float(summary["rep_sq"])
    return dict(
        **_comparison_values(summary),
        linear_cka=float(summary["linear_cka"]),
        procrustes_distance=float(summary["procrustes_distance"]),
        gram_distance=float(summary["gram_distance"]),
        rep_dissimilarity=_in_units("rep_dissimilarity", math.sqrt(rep_sq), f),
        **bounds,
    )


class ZooStream:
    """Metrics and logit bounds of ordered pairs of M models over inputs streamed in aligned chunks.

    >>> stream = ZooStream([g1, g2, g3])            # unembeddings (K, dᵢ), one label set
    >>> for chunks in zip(f1_chunks, f2_chunks, f3_chunks):   # (m, dᵢ): the same m inputs
    ...     stream.add(*chunks)
    >>> stream.results()[(0, 2)]["kl_logit"]        # model 1 as teacher of model 3

    ``pairs``: the ordered pairs ``(i, j)`` (0-based, i the teacher) whose KL is tracked;
    default every ordered pair of distinct models. The state is the joint
    :class:`~repsim_jax.metrics.moments.Moments` of ``[F₁, …, F_M]`` (O((Σdᵢ)²) = O(M²d²)),
    each pair's KL mean, KL log-sum and smallest log-probability (O(P)); each :meth:`add`
    forms every model's (ROW_BLOCK, K) logits once per row block, so memory is
    O(M²d² + M·K·d + m·M·d + ROW_BLOCK·M·K) for chunks of m rows. A pair's result is
    :class:`PairStream`'s on that pair: its moments are the joint factor's columns of the
    two blocks re-triangularised (the same centred Gram, so the same values up to rounding).
    """

    def __init__(self, unembeddings, pairs=None):
        gs = [checks.as_float_array(f"g{i + 1}", g, ndim=2) for i, g in enumerate(unembeddings)]
        if len(gs) < 2:
            raise InputError(f"a comparison needs at least 2 models, got {len(gs)}")
        for i, g in enumerate(gs[1:], start=2):
            if g.shape[0] != gs[0].shape[0]:
                raise InputError(
                    f"logits over different label sets are not comparable: g1 has {gs[0].shape[0]} labels "
                    f"and g{i} has {g.shape[0]}"
                )
        self.pairs = tuple((i, j) for i in range(len(gs)) for j in range(len(gs)) if i != j) if pairs is None else pairs
        self.pairs = tuple((int(i), int(j)) for i, j in self.pairs)
        for i in sorted({i for i, _ in self.pairs}):
            if gs[i].shape[0] < gs[i].shape[1] + 1:
                raise InputError(
                    f"too few labels for d_rep: need K >= d{i + 1} + 1 = {gs[i].shape[1] + 1}, got K={gs[i].shape[0]}"
                )
        self.unembeddings = gs
        self._transposed = tuple(jnp.transpose(g) for g in gs)
        self._state: ZooState | None = None

    def add(self, *chunks) -> "ZooStream":
        """Adds the representations of m further inputs: one chunk (m, dᵢ) per model, in order."""
        if len(chunks) != len(self.unembeddings):
            raise InputError(f"expected {len(self.unembeddings)} chunks (one per model), got {len(chunks)}")
        fs = tuple(checks.as_float_array(f"f{i + 1}_chunk", f, ndim=2) for i, f in enumerate(chunks))
        checks.same_rows(**{f"f{i + 1}_chunk": f for i, f in enumerate(fs)})
        for i, (f, g) in enumerate(zip(fs, self.unembeddings), start=1):
            if f.shape[1] != g.shape[1]:
                raise InputError(f"f{i}_chunk has {f.shape[1]} features but g{i} has {g.shape[1]}")
        if self._state is None:
            self._state = self._empty(jnp.result_type(*fs))
        self._state = _add(self._state, self._transposed, fs, self.pairs)
        return self

    def _empty(self, dtype) -> ZooState:
        """The state of no inputs: empty moments, KL sums of zero (log: −inf), log τ = 0, agreement 0."""
        count = len(self.pairs)
        return ZooState(
            empty(tuple(g.shape[1] for g in self.unembeddings), dtype),
            jnp.zeros((count, 2), dtype),
            jnp.full((count, 2), -jnp.inf, dtype),
            jnp.zeros((count,), dtype),
            jnp.zeros((count,), dtype),
        )

    def merge(self, other: "ZooStream") -> "ZooStream":
        """Adds the inputs another stream of the same models and pairs has seen
        (:func:`merge_states`): the result is that of one stream fed both streams' chunks."""
        if other.pairs != self.pairs or any(
            a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(self.unembeddings, other.unembeddings)
        ):
            raise InputError("streams of different models or pairs cannot be merged")
        if other._state is not None:
            self._state = other._state if self._state is None else _merge_states(self._state, other._state)
        return self

    def merge_processes(self) -> "ZooStream":
        """Merges the states of every JAX process (each fed its own inputs) into each
        process's stream: the states are gathered
        (:func:`~repsim_jax.row_statistics.fold_processes`, O(P·(Σdᵢ)²)) and folded with
        :func:`merge_states` in process order, so every process holds the same state. A
        process that saw no inputs contributes an empty state (in the unembeddings' dtype)."""
        if jax.process_count() == 1:
            return self
        local = self._state if self._state is not None else self._empty(self.unembeddings[0].dtype)
        self._state = fold_processes(local, _merge_states)
        return self

    @property
    def count(self) -> int:
        """Number of inputs added so far."""
        return 0 if self._state is None else int(self._state.moments.count)

    def pair_result(self, first: int, second: int, pivot_options: dict | None = None) -> dict:
        """:meth:`PairStream.result` of model ``first`` (the teacher) against model ``second``
        (0-based; the pair must be one of ``pairs``)."""
        index = self._tracked(first, second)
        g1, g2 = self.unembeddings[first], self.unembeddings[second]
        d1, d2 = g1.shape[1], g2.shape[1]
        if self.count <= d1 + d2:
            raise InputError(
                f"too few inputs: n={self.count} <= d{first + 1}+d{second + 1}={d1 + d2} makes every canonical "
                "correlation 1; add more chunks"
            )
        return _pair_result(self._pair_state(first, second, index), g1, g2, pivot_options)

    def pair_comparison(self, first: int, second: int) -> dict:
        """The comparison of the two models' predictions that :meth:`pair_result` starts
        with (``logit_distance``, ``kl_divergence``, ``reverse_kl_divergence``,
        ``agreement``), alone: defined for any number of inputs (no canonical correlations,
        no d_rep), one small compiled program."""
        state = self._pair_state(first, second, self._tracked(first, second))
        summary = _comparison_summary(state, self.unembeddings[first], self.unembeddings[second])
        return _comparison_values(jax.device_get(summary))

    def _tracked(self, first: int, second: int) -> int:
        """The index of pair ``(first, second)`` among the tracked ones; InputError if untracked."""
        if (first, second) not in self.pairs:
            raise InputError(f"pair ({first}, {second}) is not tracked; tracked pairs {list(self.pairs)}")
        return self.pairs.index((first, second))

    def _pair_state(self, first: int, second: int, index: int) -> PairState:
        """The state of pair ``(first, second)``, tracked as ``index``, alone."""
        moments = self.pair_moments(first, second)
        fields = ("kl_mean", "log_kl_sum", "log_tau", "agreement")
        return PairState(moments, *(getattr(self._state, f)[index] for f in fields))

    def pair_moments(self, first: int, second: int) -> Moments:
        """The joint moments of models ``first`` and ``second`` alone (:func:`block_pair_moments`;
        the stream's own when it holds exactly those two models in order)."""
        if self._state is None:
            raise InputError("no inputs were added to the stream")
        if len(self.unembeddings) == 2 and (first, second) == (0, 1):
            return self._state.moments
        return block_pair_moments(self._state.moments, first, second)

    def results(self, pivot_options: dict | None = None) -> dict:
        """``{(i, j): pair_result(i, j)}`` for every tracked pair."""
        return {pair: self.pair_result(*pair, pivot_options) for pair in self.pairs}


def _pair_result(state: PairState, g1, g2, pivot_options: dict | None) -> dict:
    """:meth:`PairStream.result` of one pair's state (its docstring)."""
    d1 = g1.shape[1]
    pivots, subsets = pivot_subsets(g1.shape[0], d1, **(pivot_options or {}))
    summary = jax.device_get(_summary(state, g1, g2, pivots, subsets))
    excluded = int(summary.pop("rep_excluded"))
    if excluded == subsets.shape[0] * subsets.shape[1]:
        raise InputError(f"singular case: all {excluded} pivot/subset matrices L1 are ill-conditioned")
    if excluded:
        warnings.warn(
            f"PairStream: {excluded} of {subsets.shape[0] * subsets.shape[1]} ill-conditioned subsets "
            "excluded from d_rep",
            stacklevel=4,
        )
    moments = state.moments
    mean_cca = mean_cca_from_moments(moments, rank_tol=default_rank_tol(moments.factor.dtype))
    result = _result(summary)
    first = {key: result.pop(key) for key in ("logit_distance", "kl_divergence", "reverse_kl_divergence", "agreement")}
    return first | {"mean_cca": float(mean_cca)} | result


class PairStream(ZooStream):
    """Metrics and logit bounds of two models over inputs streamed in aligned chunks: the
    M = 2 :class:`ZooStream` tracking the one pair (model 1, model 2).

    >>> stream = PairStream(g1, g2)                 # unembeddings (K, d₁), (K, d₂)
    >>> for f1_chunk, f2_chunk in chunks:          # (m, d₁), (m, d₂): the same m inputs
    ...     stream.add(f1_chunk, f2_chunk)
    >>> stream.result()["kl_logit"]                 # {"lhs", "rhs", "holds", "tau"}

    Model 1 is the teacher of the bounds (the model mapped onto by d_rep, ``p`` of the KL).
    Chunks may have any sizes and come in any order: the result is the same up to rounding.
    Each :meth:`add` runs one compiled step, which forms the chunk's (m, K) logits at
    ``Precision.HIGHEST`` (recompiled once per new chunk size).
    """

    def __init__(self, g1, g2):
        super().__init__((g1, g2), pairs=((0, 1),))
        self.g1, self.g2 = self.unembeddings

    def result(self, pivot_options: dict | None = None) -> dict:
        """The comparison and the three logit bounds over every input added.

        Keys: ``logit_distance`` (d_logit, label-centred), ``kl_divergence`` (mean_x KL_x,
        teacher first), ``reverse_kl_divergence`` (mean_x KL(p₂ ‖ p₁)), ``agreement`` (the
        fraction of inputs where both models' largest logits are at the same label),
        ``mean_cca`` (of the column spaces, ``rank_tol = default_rank_tol``: a LayerNorm
        output or a bias-fold column is rank-deficient once centred), ``linear_cka``
        (biased), ``procrustes_distance``, ``gram_distance``, ``rep_dissimilarity`` (d_rep on
        ``pivot_subsets(K, d₁, **pivot_options)``), and the bounds ``cca_logit``
        (``lhs``, ``middle``, ``rhs``, ``holds``, ``slack``, ``tolerance``,
        ``within_round_off``), ``rep_logit`` (``lhs``, ``rhs``, ``holds``, ``slack``,
        ``tolerance``, ``within_round_off``) and ``kl_logit`` (the same and ``log10_rhs``,
        ``tau``, ``log10_tau``): the fields of the in-memory result types that the moments
        give, named and ordered as there (:data:`RESULT_TYPES`), as Python floats
        (float64, in the inputs' units at any scale: module docstring) and bools, equal to
        :func:`repsim_jax.bounds.cca_logit_bound`, :func:`~repsim_jax.bounds.rep_logit_bound`
        and :func:`~repsim_jax.bounds.kl_logit_bound` on the full arrays with the same subsets.
        ``kl_logit``'s ``rhs`` is +inf only where ``log10_rhs`` exceeds float64's range.

        Raises InputError with n ≤ d₁ + d₂ inputs (every canonical correlation would be 1),
        for embeddings constant over the inputs (no m_CCA) or when every pivot/subset matrix
        L₁ is ill-conditioned; warns when some are excluded.
        """
        return self.pair_result(0, 1, pivot_options)

    def comparison(self) -> dict:
        """:meth:`ZooStream.pair_comparison` of model 1 against model 2: the first four
        entries of :meth:`result`, for any number of inputs."""
        return self.pair_comparison(0, 1)
