"""Shared numerical building blocks of the metric kernels.

All products run at ``Precision.HIGHEST``: the TF32/bf16 defaults of GPUs and TPUs
would corrupt the singular values that CCA and Procrustes depend on.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST

matmul = functools.partial(jnp.matmul, precision=HIGHEST)
einsum = functools.partial(jnp.einsum, precision=HIGHEST)


def gram(a: jax.Array, b: jax.Array) -> jax.Array:
    """``aᵀ b`` over the row (sample) axis, for arrays with samples in axis -2."""
    return einsum("...ni,...nj->...ij", a, b)


def center_columns(x: jax.Array) -> jax.Array:
    """Subtracts each column's mean over the samples (axis -2)."""
    return x - jnp.mean(x, axis=-2, keepdims=True)


def safe_sqrt(x: jax.Array) -> jax.Array:
    """``sqrt(max(x, 0))`` with a zero (not NaN/Inf) gradient at ``x <= 0``; NaN stays NaN."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), jnp.where(x <= 0, 0.0, x))


def unit_frobenius(x: jax.Array) -> jax.Array:
    """``x / ‖x‖_F`` over the last two axes, rescaled by ``max |x|`` first so that the
    squares neither overflow nor underflow in float32 (scale-invariant metrics only)."""
    scale = jnp.max(jnp.abs(x), axis=(-2, -1), keepdims=True)
    x = x / scale
    return x / jnp.sqrt(jnp.sum(jnp.square(x), axis=(-2, -1), keepdims=True))


def power_of_two_scale(*arrays: jax.Array, axis=None) -> jax.Array:
    """``2^(e−1)`` where ``max |arrays| = m·2^e`` (``m ∈ [½, 1)``, :func:`jnp.frexp`): after dividing
    by it the largest magnitude lies in [1, 2), so squares and sums of squares of the scaled arrays
    neither overflow nor underflow, and the division is exact (a power of 2 only moves exponents).

    Scale-safe norms: ``‖x‖ = scale · ‖x / scale‖`` (LAPACK's ``xNRM2`` does the same with
    any scale; a power of 2 adds no rounding). With ``axis``, one scale per slice (kept
    dimensions). 1 for all-zero arrays (XLA flushes subnormals, so those count as zero).
    No gradient flows through the scale: it is piecewise constant.
    """
    keep = axis is not None
    peak = functools.reduce(jnp.maximum, [jnp.max(jnp.abs(a), axis=axis, keepdims=keep) for a in arrays])
    scale = jnp.ldexp(jnp.ones_like(peak), jnp.frexp(peak)[1] - 1)
    return jax.lax.stop_gradient(jnp.where(peak >= jnp.finfo(peak.dtype).tiny, scale, jnp.ones_like(peak)))


def scale_exponent(*scales: jax.Array) -> jax.Array:
    """``k`` (int32) with ``Π scales = 2^k``, for scales from :func:`power_of_two_scale`."""
    return sum(jnp.frexp(scale)[1] - 1 for scale in scales)


def from_unit(unit: jax.Array, exponent: jax.Array, squared: bool) -> jax.Array:
    """A distance ``d = 2^k·sqrt(unit)`` (``squared``: ``d² = 2^{2k}·unit``) whose square
    ``unit`` was computed on inputs divided by ``2^k``: one exact rescaling at the end, so
    only a result outside the dtype's range overflows or underflows."""
    return jnp.ldexp(unit, 2 * exponent) if squared else jnp.ldexp(safe_sqrt(unit), exponent)


def log_from_unit(unit: jax.Array, exponent: jax.Array, squared: bool) -> jax.Array:
    """``log`` of :func:`from_unit` (finite whenever unit > 0, whatever the exponent)."""
    positive = unit > 0
    log_unit = jnp.where(positive, jnp.log(jnp.where(positive, unit, 1.0)), -jnp.inf)
    power = 1.0 if squared else 0.5
    return power * log_unit + (2 * power * math.log(2.0)) * exponent


def squared_norm(x: jax.Array) -> jax.Array:
    """Squared Frobenius norm over the last two axes."""
    return jnp.sum(jnp.square(x), axis=(-2, -1))


def nuclear_norm(x: jax.Array) -> jax.Array:
    """Sum of singular values; ``compute_uv=False`` keeps its gradient finite."""
    return jnp.sum(jnp.linalg.svd(x, compute_uv=False), axis=-1)


def upper_triangular_inverse(r: jax.Array, block: int = 4) -> jax.Array:
    """``R⁻¹`` of (a batch of) upper-triangular ``R`` from batched matrix products only.

    Block back substitution by block columns of width ``block`` (a power of 2): with
    ``X = R⁻¹`` known for the leading ``j`` blocks, the next block column of ``R⁻¹`` is
    ``[−X R[:j, j] R_jj⁻¹; R_jj⁻¹]``, and each diagonal block is inverted by halving,
    ``[[A, B], [0, C]]⁻¹ = [[A⁻¹, −A⁻¹BC⁻¹], [0, C⁻¹]]`` (Golub & Van Loan, §3.1; the
    error of either is that of a triangular solve, O(cond(R)·eps) relative). On CPU this
    is faster for many small matrices than LAPACK's per-matrix triangular solves. A zero
    diagonal entry gives non-finite entries.
    """
    d = r.shape[-1]
    size = -(-d // block) * block
    if size != d:  # diag(R, I)⁻¹ = diag(R⁻¹, I)
        padded = jnp.broadcast_to(jnp.eye(size, dtype=r.dtype), r.shape[:-2] + (size, size))
        r = padded.at[..., :d, :d].set(r)
    starts = range(0, size, block)
    diagonal = _halving_inverse(jnp.stack([r[..., s : s + block, s : s + block] for s in starts]))
    inverse = diagonal[0]
    for j, s in enumerate(starts[1:], start=1):
        top = -matmul(matmul(inverse, r[..., :s, s : s + block]), diagonal[j])
        below = jnp.zeros(r.shape[:-2] + (block, s), r.dtype)
        inverse = jnp.concatenate(
            [jnp.concatenate([inverse, top], axis=-1), jnp.concatenate([below, diagonal[j]], axis=-1)], axis=-2
        )
    return inverse[..., :d, :d]


def _halving_inverse(r: jax.Array) -> jax.Array:
    """Inverse of upper-triangular ``R`` whose size is a power of 2, by halving (both
    diagonal blocks of a level inverted together, stacked on a new leading axis)."""
    size = r.shape[-1]
    if size == 1:
        return 1.0 / r
    half = size // 2
    inner = _halving_inverse(jnp.stack([r[..., :half, :half], r[..., half:, half:]]))
    top = -matmul(matmul(inner[0], r[..., :half, half:]), inner[1])
    below = jnp.zeros_like(top)
    return jnp.concatenate(
        [jnp.concatenate([inner[0], top], axis=-1), jnp.concatenate([below, inner[1]], axis=-1)], axis=-2
    )


def thin_qr(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``X = QR`` (n ≥ d, full column rank): Q (n × d) with orthonormal columns, R (d × d)
    upper triangular.

    Cholesky-QR2 (Yamamoto et al. 2015): ``Q₁ = X R₁⁻¹`` with ``R₁ᵀR₁ = XᵀX``, then the same
    on ``Q₁``, ``R = R₂R₁``; three n-row matrix products instead of Householder reflections
    (LAPACK's per-column QR is far slower on CPU). The second pass restores orthogonality
    to O(eps) whenever ``Q₁`` is well conditioned, which is checked (``‖Q₁ᵀQ₁ − I‖_F ≤ ½``);
    otherwise (cond(x) beyond ~eps^(-1/2), rank deficiency, NaN) Householder QR is used.
    Batched inputs take the fallback together.
    """
    first, first_factor = _cholesky_qr(x, gram(x, x))
    gram_first = gram(first, first)
    identity = jnp.eye(x.shape[-1], dtype=x.dtype)
    deviation = jnp.sqrt(jnp.sum(jnp.square(gram_first - identity), axis=(-2, -1)))

    def second_pass():
        q, factor = _cholesky_qr(first, gram_first)
        return q, matmul(factor, first_factor)

    return jax.lax.cond(jnp.all(deviation <= 0.5), second_pass, lambda: tuple(jnp.linalg.qr(x)))


def _cholesky_qr(x: jax.Array, x_gram: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(X R⁻¹, R)`` with ``RᵀR = XᵀX`` (Cholesky; NaN when XᵀX is not numerically positive definite)."""
    upper = jnp.swapaxes(jnp.linalg.cholesky(x_gram), -1, -2)
    return matmul(x, upper_triangular_inverse(upper)), upper


def upper_factor(x: jax.Array) -> jax.Array:
    """The R of a thin QR of ``x`` (rows ≥ columns not required): ``xᵀx = RᵀR``.

    R is square (columns × columns); when ``x`` has fewer rows than columns it is
    padded with zero rows first so that the factor stays square.
    """
    rows, cols = x.shape[-2:]
    if rows < cols:
        pad = [(0, 0)] * (x.ndim - 2) + [(0, cols - rows), (0, 0)]
        x = jnp.pad(x, pad)
    return jnp.linalg.qr(x, mode="r")
