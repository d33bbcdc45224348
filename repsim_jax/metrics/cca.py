"""Canonical correlations, computed exactly from triangular factors.

ρ are the cosines of the principal angles between the column spaces of the centred
``X̃`` (n × dx) and ``Ỹ`` (n × dy): ``ρ = svd(QₓᵀQ_y)`` for thin QR factors
``X̃ = QₓRₓ``, ``Ỹ = Q_yR_y`` (Björck & Golub 1973). arXiv 2602.15438 summarises them by
``m_CCA = mean ρ`` and bounds it by the logit distance.

Here both are read off one factor ``R = [[R₁₁, R₁₂], [0, R₂₂]]`` of ``[X̃, Ỹ]``: in that
basis ``Qₓ = [I; 0]`` and ``Q_y = [R₁₂; R₂₂] L_y⁻¹`` with ``L_y`` the factor of
``[R₁₂; R₂₂]``, so ``ρ = svd(R₁₂ L_y⁻¹)``. With a ridge ``λ`` the scatter matrices become
``X̃ᵀX̃ + λI`` and ``ỸᵀỸ + λI`` (not divided by n), i.e. each factor is taken of its
block stacked on ``√λ I``. The same code serves streamed :class:`Moments`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from repsim_jax.metrics import _validate
from repsim_jax.metrics._linalg import center_columns, matmul, upper_factor
from repsim_jax.metrics.moments import Moments


def _whitener(block: jax.Array, ridge) -> tuple[jax.Array, jax.Array]:
    """``(block · L⁻¹, L)`` with ``LᵀL = blockᵀblock + λI``."""
    width = block.shape[1]
    factor = upper_factor(jnp.concatenate([block, jnp.sqrt(ridge) * jnp.eye(width, dtype=block.dtype)]))
    whitened = jax.lax.linalg.triangular_solve(factor, block, left_side=False, lower=False)
    return whitened, factor


def _correlations_from_factor(factor, dx, ridge):
    """Canonical correlations and the smaller relative pivot of the two whiteners."""
    x_block = factor[:, :dx]
    whitened_x, factor_x = _whitener(x_block, ridge)
    whitened_y, factor_y = _whitener(factor[:, dx:], ridge)
    return _correlations(matmul(whitened_x.T, whitened_y), factor_x, factor_y)


def _correlations(cross, factor_x, factor_y):
    """ρ = singular values of the whitened cross product, and the smaller relative pivot."""
    rho = jnp.clip(jnp.linalg.svd(cross, compute_uv=False), 0.0, 1.0)
    return rho, jnp.minimum(_relative_pivot(factor_x), _relative_pivot(factor_y))


def _relative_pivot(factor):
    pivots = jnp.abs(jnp.diagonal(factor))
    return jnp.min(pivots) / jnp.maximum(jnp.max(pivots), jnp.finfo(factor.dtype).tiny)


@jax.jit
def _canonical_correlations(x, y, ridge):
    """The factor form with ``X̃ = QₓRₓ``: ``cross = (RₓLₓ⁻¹)ᵀ Qₓᵀ (ỸL_y⁻¹)``.

    Whitening Ỹ from its own factor (not from the joint factor of ``[X̃, Ỹ]``) keeps the
    gradient finite when Ỹ lies in the span of X̃: the joint factor is then singular and
    its QR derivative divides by its zero diagonal.
    """
    basis, r_x = jnp.linalg.qr(center_columns(x))
    whitened_x, factor_x = _whitener(r_x, ridge)
    whitened_y, factor_y = _whitener(center_columns(y), ridge)
    return _correlations(matmul(whitened_x.T, matmul(basis.T, whitened_y)), factor_x, factor_y)


@jax.jit
def canonical_correlations_from_moments(state: Moments, ridge=0.0) -> jax.Array:
    """Canonical correlations of the first two blocks of streamed :class:`Moments`."""
    factor = state.factor[:, : state.widths[0] + state.widths[1]]
    return _correlations_from_factor(factor, state.widths[0], ridge)[0]


def _validate_pair(x, y, ridge):
    x = _validate.as_float_array("x", x, ndim=2)
    y = _validate.as_float_array("y", y, ndim=2)
    _validate.same_rows(x=x, y=y)
    ridge = _validate.non_negative("ridge", ridge)
    n, dims = x.shape[0], x.shape[1] + y.shape[1]
    if ridge == 0 and n <= dims:
        raise ValueError(
            f"too few samples for CCA: n={n} <= dx+dy={dims} makes every canonical correlation 1; "
            "pass ridge > 0 or use more samples"
        )
    _validate.min_rows(x, 2, "CCA")
    return x, y, ridge


def canonical_correlations(x, y, ridge: float = 0.0, validate: bool = True) -> jax.Array:
    """Canonical correlations ρ of (x, y), descending, ``min(dx, dy)`` values in [0, 1].

    ``ρ = svd(QₓᵀQ_y)`` of thin QR factors of the column-centred inputs (exact, not
    iterative). ``ridge`` λ ≥ 0 regularises both scatter matrices (``X̃ᵀX̃ + λI``).

    Raises ValueError for n ≤ dx + dy without a ridge (then at least dx + dy − n + 1 of
    the ρ are 1 whatever the data; docs/theory.md §2.3) and for rank-deficient
    (collinear) columns without a ridge.
    """
    if not validate:
        return _canonical_correlations(x, y, ridge)[0]
    x, y, ridge = _validate_pair(x, y, ridge)
    rho, pivot = _canonical_correlations(x, y, ridge)
    if ridge == 0 and float(pivot) < 10 * max(x.shape[1], y.shape[1]) * float(jnp.finfo(x.dtype).eps):
        raise ValueError("singular case: x or y has (nearly) collinear columns; pass ridge > 0")
    return rho


def mean_cca(x, y, ridge: float = 0.0, validate: bool = True) -> jax.Array:
    """``m_CCA = mean ρ`` (arXiv 2602.15438): 1 for identical inputs, 0 for unrelated ones."""
    return jnp.mean(canonical_correlations(x, y, ridge=ridge, validate=validate))
