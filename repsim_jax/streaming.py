"""Comparison and logit bounds of two models on shared inputs, from representation chunks.

Two models with logits ``Z₁ = F₁G₁ᵀ`` and ``Z₂ = F₂G₂ᵀ`` (rows are inputs, K labels) are
compared over n inputs without ever holding an (n, K) array: :class:`PairStream` keeps

* the joint :class:`~repsim_jax.metrics.moments.Moments` of ``[F₁, F₂]`` (count, mean and
  the triangular factor R of the centred data, O((d₁+d₂)²)), and
* the running mean of ``KL_x = KL(p₁(·|x) ‖ p₂(·|x))`` and the smallest log-probability of
  each model, read off each chunk's logits (log-softmax, ``ROW_BLOCK`` × K at a time, then
  discarded).

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
  arguments of the bound's own ``_unexplained`` (accurate for ρ near 1);
* d_rep–logit: ``e_pS`` from :func:`~repsim_jax.metrics.rep_dissimilarity_from_moments`,
  per-subset ``(1/n)Σ_x‖Δ(x)‖² = (1/n)‖R_raw [L₁, −L₂]ᵀ‖²`` (``Δ = F₁L₁ᵀ − F₂L₂ᵀ``);
* KL–logit: ``KL = mean_x KL_x`` and ``τ = exp(min over x, y and both models of log p)``
  from the chunks, ``rhs = KL/τ²``.
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp

from repsim_jax.bounds import _holds, _label_centred, _unexplained
from repsim_jax.errors import InputError
from repsim_jax.metrics import _validate
from repsim_jax.metrics._linalg import matmul, safe_sqrt, squared_norm, upper_factor
from repsim_jax.metrics.cca import default_rank_tol, mean_cca_from_moments
from repsim_jax.metrics.cka import linear_cka_from_moments
from repsim_jax.metrics.identifiability import pivot_subsets, rep_dissimilarity_from_moments
from repsim_jax.metrics.logit import distance_from_raw_factor, logit_distance_from_moments
from repsim_jax.metrics.moments import Moments, empty, raw_factor, update


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PairState:
    """Joint moments of ``[F₁, F₂]``, ``mean_x KL_x`` and each model's smallest log-probability."""

    moments: Moments
    kl_mean: jax.Array
    min_log_prob: jax.Array  # (2,): min over inputs and labels of log p₁, log p₂


ROW_BLOCK = 16
"""Rows whose (ROW_BLOCK, K) logits are formed at a time inside a chunk: the block stays in
cache through its passes (2× faster than whole-chunk passes on a 2-core CPU, K = 50,000)."""


def _block_kl(f1, g1t, f2, g2t):
    """``(Σ_x KL_x, [min log p₁, min log p₂])`` over a block of rows, from its logits ``fᵢGᵢᵀ``.

    Log-softmax ``log p = z − lse(z)``; with ``w = exp(z₁ − max z₁)`` (p₁ up to its
    normaliser ``Σw``), ``KL_x = Σ_y p₁(z₁ − z₂) + lse(z₂) − lse(z₁) = Σ_y w(z₁ − z₂)/Σ_y w
    + lse(z₂) − lse(z₁)`` (as in :func:`repsim_jax.bounds.kl_logit_bound`): two exponential
    passes, one per model. Each KL_x is clamped at 0 (rounding can make a true 0 negative).
    """
    z1, z2 = matmul(f1, g1t), matmul(f2, g2t)
    top = jnp.max(z1, axis=-1)
    weights = jnp.exp(z1 - top[:, None])
    normaliser = jnp.sum(weights, axis=-1)
    lse1, lse2 = top + jnp.log(normaliser), jax.nn.logsumexp(z2, axis=-1)
    kl_x = jnp.sum(weights * (z1 - z2), axis=-1) / normaliser + lse2 - lse1
    min_log_prob = jnp.stack([jnp.min(jnp.min(z1, axis=-1) - lse1), jnp.min(jnp.min(z2, axis=-1) - lse2)])
    return jnp.sum(jnp.maximum(kl_x, 0.0)), min_log_prob


def _chunk_kl(f1, g1t, f2, g2t):
    """:func:`_block_kl` of a chunk, ``ROW_BLOCK`` rows at a time (a loop), then the remainder.

    ``Gᵢᵀ`` (dᵢ × K) is passed transposed: XLA:CPU would otherwise transpose G in every block.
    """
    whole = f1.shape[0] - f1.shape[0] % ROW_BLOCK
    parts = []
    if whole:
        blocks = (f1[:whole].reshape(-1, ROW_BLOCK, f1.shape[1]), f2[:whole].reshape(-1, ROW_BLOCK, f2.shape[1]))
        sums, mins = jax.lax.map(lambda b: _block_kl(b[0], g1t, b[1], g2t), blocks)
        parts.append((jnp.sum(sums), jnp.min(mins, axis=0)))
    if whole < f1.shape[0]:
        parts.append(_block_kl(f1[whole:], g1t, f2[whole:], g2t))
    return sum(p[0] for p in parts), jnp.min(jnp.stack([p[1] for p in parts]), axis=0)


@jax.jit
def _add(state: PairState, g1t, g2t, f1, f2) -> PairState:
    """The state after the aligned chunk ``(f1, f2)``; the KL mean is merged like the moments' mean."""
    kl_sum, min_log_prob = _chunk_kl(f1, g1t, f2, g2t)
    moments = update(state.moments, f1, f2)
    share = f1.shape[0] / moments.count
    return PairState(
        moments,
        state.kl_mean + share * (kl_sum / f1.shape[0] - state.kl_mean),
        jnp.minimum(state.min_log_prob, min_log_prob),
    )


def _unembedding_factors(g1, g2):
    """``Uᵢ`` (dᵢ × dᵢ) with ``Ĝᵢ = QᵢUᵢ`` (thin QR of ``Ĝᵢ = C Gᵢ``, labels centred).

    As Qᵢ has orthonormal columns, ``‖AĜᵢᵀ‖ = ‖AUᵢᵀ‖`` and ``σ(AĜᵢᵀ) = σ(AUᵢᵀ)`` for any A:
    after this O(K·d²) step every product with the unembeddings is d × d.
    """
    return tuple(upper_factor(_label_centred(g.T).T) for g in (g1, g2))


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
    unexplained, _ = _unexplained(r[:d1, d1:], matmul(r[d1:, d1:].T, r[d1:, d1:]))
    kept = min(d1, d2)
    lhs = jnp.sum(unexplained[:kept] * eigenvalues[:kept]) + jnp.sum(eigenvalues[kept:])
    middle = distance_from_raw_factor(r, n, g1, g2, squared=True)
    scale = jnp.sum(eigenvalues) + squared_norm(matmul(r[:, d1:], u2.T)) / n
    holds = _holds(lhs, middle, scale) & _holds(middle, logit_sq, scale)
    return dict(lhs=lhs, middle=middle, rhs=logit_sq, holds=holds)


def _rep_logit(state: Moments, g1, g2, pivots, subsets, details, logit_sq):
    """d_rep–logit bound ``d²_rep ≤ (d₁+1)·mean ‖L₁⁻¹‖₂²·d²_logit`` and its per-subset forms
    ``e_pS ≤ ‖L₁⁻¹‖₂²·(1/n)Σ‖Δ‖²`` (bounds.rep_logit_bound), over the subsets d_rep keeps."""
    d1, n = state.widths[0], state.count
    raw = raw_factor(state)
    l1 = g1[subsets] - g1[pivots][:, None, None, :]
    l2 = g2[subsets] - g2[pivots][:, None, None, :]
    inverse_norm_sq = 1.0 / jnp.square(jnp.linalg.svd(l1, compute_uv=False)[..., -1])
    difference_sq = squared_norm(matmul(raw, jnp.swapaxes(jnp.concatenate([l1, -l2], axis=-1), -1, -2))) / n
    included = details.included
    mean_inverse = jnp.sum(jnp.where(included, inverse_norm_sq, 0.0)) / jnp.maximum(jnp.sum(included), 1)
    lhs, rhs = details.value, (d1 + 1) * mean_inverse * logit_sq
    scale = squared_norm(raw[:, :d1]) / n
    subset_holds = jnp.where(included, _holds(details.errors, inverse_norm_sq * difference_sq, scale), True)
    return dict(lhs=lhs, rhs=rhs, holds=_holds(lhs, rhs, scale) & jnp.all(subset_holds))


def _kl_logit(state: PairState, factors, logit_sq):
    """KL–logit bound ``d²_logit ≤ KL/τ²`` (bounds.kl_logit_bound); its rounding scale
    ``mean_x ‖Z̄₁(x)‖² + ‖Z̄₂(x)‖² = (1/n)(‖R_raw,₁U₁ᵀ‖² + ‖R_raw,₂U₂ᵀ‖²)`` comes from the moments."""
    moments, kl = state.moments, state.kl_mean
    d1 = moments.widths[0]
    raw = raw_factor(moments)
    u1, u2 = factors
    scale = (squared_norm(matmul(raw[:, :d1], u1.T)) + squared_norm(matmul(raw[:, d1:], u2.T))) / moments.count
    log_tau = jnp.min(state.min_log_prob)
    rhs = jnp.where(kl > 0, kl * jnp.exp(-2.0 * log_tau), 0.0)
    return dict(lhs=logit_sq, rhs=rhs, holds=_holds(logit_sq, rhs, scale), tau=jnp.exp(log_tau))


@jax.jit
def _summary(state: PairState, g1, g2, pivots, subsets):
    """Every entry of :meth:`PairStream.result` as arrays, plus d_rep's number of excluded subsets."""
    moments, factors = state.moments, _unembedding_factors(g1, g2)
    logit_sq = logit_distance_from_moments(moments, g1, g2, squared=True)
    details = rep_dissimilarity_from_moments(moments, g1, g2, pivots, subsets, squared=True)
    return dict(
        logit_distance=safe_sqrt(logit_sq),
        kl_divergence=state.kl_mean,
        mean_cca=mean_cca_from_moments(moments, rank_tol=default_rank_tol(moments.factor.dtype)),
        linear_cka=linear_cka_from_moments(moments),
        rep_dissimilarity=safe_sqrt(details.value),
        rep_excluded=details.num_excluded,
        cca_logit=_cca_logit(moments, g1, g2, factors, logit_sq),
        rep_logit=_rep_logit(moments, g1, g2, pivots, subsets, details, logit_sq),
        kl_logit=_kl_logit(state, factors, logit_sq),
    )


class PairStream:
    """Metrics and logit bounds of two models over inputs streamed in aligned chunks.

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
        g1 = _validate.as_float_array("g1", g1, ndim=2)
        g2 = _validate.as_float_array("g2", g2, ndim=2)
        if g1.shape[0] != g2.shape[0]:
            raise InputError(
                f"logits over different label sets are not comparable: g1 has {g1.shape[0]} labels "
                f"and g2 has {g2.shape[0]}"
            )
        if g1.shape[0] < g1.shape[1] + 1:
            raise InputError(f"too few labels for d_rep: need K >= d1 + 1 = {g1.shape[1] + 1}, got K={g1.shape[0]}")
        self.g1, self.g2 = g1, g2
        self._transposed = (jnp.transpose(g1), jnp.transpose(g2))
        self._state: PairState | None = None

    def add(self, f1_chunk, f2_chunk) -> "PairStream":
        """Adds the representations of m further inputs: ``f1_chunk`` (m, d₁), ``f2_chunk`` (m, d₂)."""
        f1 = _validate.as_float_array("f1_chunk", f1_chunk, ndim=2)
        f2 = _validate.as_float_array("f2_chunk", f2_chunk, ndim=2)
        _validate.same_rows(f1_chunk=f1, f2_chunk=f2)
        for name, f, g in (("f1_chunk", f1, "g1"), ("f2_chunk", f2, "g2")):
            if f.shape[1] != getattr(self, g).shape[1]:
                raise InputError(f"{name} has {f.shape[1]} features but {g} has {getattr(self, g).shape[1]}")
        if self._state is None:
            dtype = jnp.result_type(f1, f2)
            self._state = PairState(
                empty((f1.shape[1], f2.shape[1]), dtype), jnp.zeros((), dtype), jnp.zeros((2,), dtype)
            )
        self._state = _add(self._state, *self._transposed, f1, f2)
        return self

    @property
    def count(self) -> int:
        """Number of inputs added so far."""
        return 0 if self._state is None else int(self._state.moments.count)

    def result(self, pivot_options: dict | None = None) -> dict:
        """The comparison and the three logit bounds over every input added.

        Keys: ``logit_distance`` (d_logit, label-centred), ``kl_divergence`` (mean_x KL_x,
        teacher first), ``mean_cca`` (of the column spaces, ``rank_tol = default_rank_tol``:
        a LayerNorm output or a bias-fold column is rank-deficient once centred),
        ``linear_cka`` (biased), ``rep_dissimilarity`` (d_rep on
        ``pivot_subsets(K, d₁, **pivot_options)``), and the bounds ``cca_logit``
        (``lhs``, ``middle``, ``rhs``, ``holds``), ``rep_logit`` (``lhs``, ``rhs``, ``holds``)
        and ``kl_logit`` (``lhs``, ``rhs``, ``holds``, ``tau``), as Python floats and bools,
        equal to :func:`repsim_jax.bounds.cca_logit_bound`, :func:`~repsim_jax.bounds.rep_logit_bound`
        and :func:`~repsim_jax.bounds.kl_logit_bound` on the full arrays with the same subsets.

        Raises ValueError with n ≤ d₁ + d₂ inputs (every canonical correlation would be 1)
        or when every pivot/subset matrix L₁ is ill-conditioned; warns when some are excluded.
        """
        d1, d2 = self.g1.shape[1], self.g2.shape[1]
        if self.count <= d1 + d2:
            raise InputError(
                f"too few inputs: n={self.count} <= d1+d2={d1 + d2} makes every canonical "
                "correlation 1; add more chunks"
            )
        pivots, subsets = pivot_subsets(self.g1.shape[0], d1, **(pivot_options or {}))
        summary = jax.device_get(_summary(self._state, self.g1, self.g2, pivots, subsets))
        excluded = int(summary.pop("rep_excluded"))
        if excluded == subsets.shape[0] * subsets.shape[1]:
            raise InputError(f"singular case: all {excluded} pivot/subset matrices L1 are ill-conditioned")
        if excluded:
            warnings.warn(
                f"PairStream: {excluded} of {subsets.shape[0] * subsets.shape[1]} ill-conditioned subsets "
                "excluded from d_rep",
                stacklevel=2,
            )
        return jax.tree.map(lambda x: x.item(), summary)
