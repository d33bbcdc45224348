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

Rank-deficient inputs (a constant or bias-fold column, the output of a LayerNorm,
which loses one direction once centred) have no whitener. With ``rank_tol`` the
correlations are those of the column spaces instead: each side's orthonormal basis is
the left singular vectors whose singular values exceed ``rank_tol·s_max`` (the others
contribute ρ = 0), and ``m_CCA`` averages over ``r = min(rank x̃, rank ỹ)`` values, so
that identical inputs still give 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import center_columns, matmul, upper_factor
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


def default_rank_tol(dtype) -> float:
    """``100·eps`` of ``dtype``: singular values below this fraction of the largest are
    rounding noise of a rank-deficient input (≈ 1.2e-5 in float32)."""
    return 100 * float(jnp.finfo(dtype).eps)


def column_space(block, rank_tol):
    """Left singular vectors of ``block`` above ``rank_tol·s_max`` (others zeroed), and the rank."""
    u, s, _ = jnp.linalg.svd(block, full_matrices=False)
    keep = s > rank_tol * s[0]
    return u * keep, jnp.sum(keep)


@jax.jit
def _subspace_correlations(x_block, y_block, rank_tol):
    """``(ρ, rank x, rank y)``: cosines of the principal angles between the column spaces
    (m_CCA averages the top ``min(rank x, rank y)`` of them)."""
    basis_x, rank_x = column_space(x_block, rank_tol)
    basis_y, rank_y = column_space(y_block, rank_tol)
    rho = jnp.clip(jnp.linalg.svd(matmul(basis_x.T, basis_y), compute_uv=False), 0.0, 1.0)
    return rho, rank_x, rank_y


def _check_ranks(rank_x, rank_y) -> None:
    """A side of rank 0 (constant over the samples) has no column space to correlate."""
    for name, rank in (("x", rank_x), ("y", rank_y)):
        if int(rank) == 0:
            raise InputError(f"singular case: {name} is constant over the samples (nothing left after centring)")


def _check_pivot(pivot, widths, dtype) -> None:
    """Without a ridge, a whitener pivot at rounding level means collinear or constant columns."""
    if not float(pivot) >= 10 * max(widths) * float(jnp.finfo(dtype).eps):
        raise InputError(
            "singular case: x or y has a constant or (nearly) collinear column; pass ridge > 0 or rank_tol"
        )


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


def _moment_blocks(state: Moments):
    """The centred factor's columns of the first two blocks, and the first block's width."""
    return state.factor[:, : state.widths[0] + state.widths[1]], state.widths[0]


def _check_moments(state: Moments, ridge) -> None:
    """The sample-size checks of :func:`_validate_pair` for streamed moments."""
    n, dims = float(state.count), state.widths[0] + state.widths[1]
    if n < 2:
        raise InputError(f"too few samples: CCA needs at least 2 rows, the moments hold {n:g}")
    if ridge == 0 and n <= dims:
        raise InputError(
            f"too few samples for CCA: n={n:g} <= dx+dy={dims} makes every canonical correlation 1; "
            "pass ridge > 0 or add more samples"
        )


@jax.jit
def _correlations_from_moments(state: Moments, ridge):
    factor, dx = _moment_blocks(state)
    return _correlations_from_factor(factor, dx, ridge)


@jax.jit
def _subspace_from_moments(state: Moments, rank_tol):
    factor, dx = _moment_blocks(state)
    return _subspace_correlations(factor[:, :dx], factor[:, dx:], rank_tol)


def _rho_from_moments(state: Moments, ridge, rank_tol, validate):
    """``(ρ, r)`` of the first two blocks (r: the number of ρ that m_CCA averages, None
    without ``rank_tol``), with the checks of :func:`canonical_correlations` when validating."""
    if validate:
        ridge = checks.non_negative("ridge", ridge)
        _check_moments(state, ridge if rank_tol is None else 0.0)
    if rank_tol is not None:
        rho, rank_x, rank_y = _subspace_from_moments(state, rank_tol)
        if validate:
            _check_ranks(rank_x, rank_y)
        return rho, jnp.minimum(rank_x, rank_y)
    rho, pivot = _correlations_from_moments(state, ridge)
    if validate and ridge == 0:
        _check_pivot(pivot, state.widths[:2], state.factor.dtype)
    return rho, None


def canonical_correlations_from_moments(
    state: Moments, *, ridge=0.0, rank_tol: float | None = None, validate: bool = True
) -> jax.Array:
    """Canonical correlations of the first two blocks of streamed :class:`Moments`
    (with ``rank_tol``: of their column spaces, see the module docstring). Validation
    raises InputError like :func:`canonical_correlations` (too few samples, a constant or
    collinear column without ``rank_tol``, a constant block with it); False inside jit."""
    return _rho_from_moments(state, ridge, rank_tol, validate)[0]


def mean_cca_from_moments(
    state: Moments, *, rank_tol: float | None = None, num_components: int | None = None, validate: bool = True
):
    """``m_CCA`` of the first two blocks of streamed :class:`Moments` (see :func:`mean_cca`
    and, for ``validate``, :func:`canonical_correlations_from_moments`)."""
    rho, rank = _rho_from_moments(state, 0.0, rank_tol, validate)
    return _top_mean(rho, rank, num_components)


def _top_mean(rho, count=None, num_components=None):
    """Mean of the ``min(count, num_components)`` largest ρ (ρ sorted descending; all ρ
    when neither is given)."""
    if count is None and num_components is None:
        return jnp.mean(rho)
    count = rho.shape[0] if count is None else count
    if num_components is not None:
        count = jnp.minimum(count, num_components)
    return jnp.sum(jnp.where(jnp.arange(rho.shape[0]) < count, rho, 0.0)) / count


def _validate_pair(x, y, ridge):
    x = checks.as_float_array("x", x, ndim=2)
    y = checks.as_float_array("y", y, ndim=2)
    checks.same_rows(x=x, y=y)
    ridge = checks.non_negative("ridge", ridge)
    n, dims = x.shape[0], x.shape[1] + y.shape[1]
    if ridge == 0 and n <= dims:
        raise InputError(
            f"too few samples for CCA: n={n} <= dx+dy={dims} makes every canonical correlation 1; "
            "pass ridge > 0 or use more samples"
        )
    checks.min_rows(x, 2, "CCA")
    return x, y, ridge


def canonical_correlations(
    x, y, *, ridge: float = 0.0, validate: bool = True, rank_tol: float | None = None
) -> jax.Array:
    """Canonical correlations ρ of (x, y), descending, ``min(dx, dy)`` values in [0, 1].

    ``ρ = svd(QₓᵀQ_y)`` of thin QR factors of the column-centred inputs (exact, not
    iterative). ``ridge`` λ ≥ 0 regularises both scatter matrices (``X̃ᵀX̃ + λI``).

    Raises InputError for n ≤ dx + dy without a ridge (then at least dx + dy − n + 1 of
    the ρ are 1 whatever the data; docs/theory.md §2.3), for rank-deficient (constant or
    collinear) columns without a ridge or a ``rank_tol`` (then ρ are those of the column
    spaces, zero-padded; module docstring), and for an input constant over the samples
    with ``rank_tol`` (no column space at all).
    """
    if rank_tol is not None:
        return _subspace(x, y, rank_tol, validate)[0]
    if not validate:
        return _canonical_correlations(x, y, ridge)[0]
    x, y, ridge = _validate_pair(x, y, ridge)
    rho, pivot = _canonical_correlations(x, y, ridge)
    if ridge == 0:
        _check_pivot(pivot, (x.shape[1], y.shape[1]), x.dtype)
    return rho


def _subspace(x, y, rank_tol, validate):
    """``(ρ, r)`` of the column spaces (module docstring); InputError for a constant side."""
    if validate:
        x, y, _ = _validate_pair(x, y, 0.0)
    rho, rank_x, rank_y = _subspace_correlations(center_columns(x), center_columns(y), rank_tol)
    if validate:
        _check_ranks(rank_x, rank_y)
    return rho, jnp.minimum(rank_x, rank_y)


def mean_cca(
    x, y, *, ridge: float = 0.0, validate: bool = True, rank_tol: float | None = None, num_components: int | None = None
) -> jax.Array:
    """``m_CCA = mean ρ`` (arXiv 2602.15438): 1 for identical inputs, 0 for unrelated ones.

    ``num_components``: the mean of the top-k ρ only (the authors report the top 2 on
    their concept data). ``rank_tol``: ρ of the column spaces, averaged over
    ``min(rank x̃, rank ỹ)`` values (module docstring).
    """
    if num_components is not None and num_components < 1:
        raise InputError(f"num_components must be >= 1, got {num_components}")
    if rank_tol is None:
        rho = canonical_correlations(x, y, ridge=ridge, validate=validate)
        return _top_mean(rho, num_components=num_components)
    return _top_mean(*_subspace(x, y, rank_tol, validate), num_components)
