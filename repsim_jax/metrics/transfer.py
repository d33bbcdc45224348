"""Affine maps between representation spaces (linear transferability, arXiv 2506.00653).

    min_{A,b} Σ_x ‖A s(x) + b − t(x)‖² + λ‖A‖²_F

The bias is free (not penalised), so after centring both sides the problem is a ridge
least-squares problem ``[S̃; √λ I] Aᵀ ≈ [T̃; 0]``, solved by SVD-based least squares
(minimum-norm for rank-deficient sources). Fit quality: ``R² = 1 − SSE/SST`` with
``SST = ‖T̃‖²_F``. A direction ``v`` of the source space transfers as ``A v``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import matmul, power_of_two_scale, squared_norm


class AffineMap(NamedTuple):
    """``t ≈ matrix @ s + bias``; ``r2`` is the coefficient of determination on the fit data."""

    matrix: jax.Array
    bias: jax.Array
    r2: jax.Array

    def apply(self, source: jax.Array) -> jax.Array:
        """Maps source representations (n, d_s) to the target space (n, d_t)."""
        return matmul(source, self.matrix.T) + self.bias

    def transfer_direction(self, direction: jax.Array) -> jax.Array:
        """Transfers a source-space direction (e.g. a steering vector): ``A v``."""
        return matmul(self.matrix, direction)


@jax.jit
def _affine_map(source, target, ridge):
    source_mean, target_mean = jnp.mean(source, axis=0), jnp.mean(target, axis=0)
    s, t = source - source_mean, target - target_mean
    width = source.shape[1]
    design = jnp.concatenate([s, jnp.sqrt(ridge) * jnp.eye(width, dtype=s.dtype)])
    response = jnp.concatenate([t, jnp.zeros((width, t.shape[1]), t.dtype)])
    coefficients = jnp.linalg.lstsq(design, response)[0]
    matrix = coefficients.T
    residual = matmul(s, coefficients) - t
    scale = power_of_two_scale(t)  # R² is a ratio: both norms of t's size, divided by the same power of 2
    r2 = 1.0 - squared_norm(residual / scale) / squared_norm(t / scale)
    return AffineMap(matrix, target_mean - matmul(matrix, source_mean), r2)


def affine_map(source, target, *, ridge: float = 0.0, validate: bool = True) -> AffineMap:
    """Least-squares affine map from ``source`` (n, d_s) to ``target`` (n, d_t), ridge λ ≥ 0."""
    if validate:
        source = checks.as_float_array("source", source, ndim=2)
        target = checks.as_float_array("target", target, ndim=2)
        checks.same_rows(source=source, target=target)
        checks.min_rows(source, 2, "an affine map")
        ridge = checks.non_negative("ridge", ridge)
        if float(jnp.max(jnp.abs(target - target.mean(axis=0)))) == 0.0:
            raise InputError("singular case: target is constant over the samples, R² is undefined")
    return _affine_map(source, target, ridge)
