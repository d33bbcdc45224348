"""Shape metrics: orthogonal Procrustes and feature-Gram distances.

Both normalise the representations the same way: columns centred, the whole matrix
scaled to unit Frobenius norm, and the narrower one zero-padded to the wider width
(padding changes neither ``‖XᵀY‖_*`` nor the Gram matrices). With those ``X, Y``
(arXiv 2509.25253; Williams et al. 2021):

    D_P  = min_{R orthogonal} ‖X − YR‖_F = sqrt(2 − 2‖XᵀY‖_*),   angular: arccos ‖XᵀY‖_*
    D_FG = ‖XXᵀ − YYᵀ‖_F = sqrt(‖XᵀX‖²_F + ‖YᵀY‖²_F − 2‖XᵀY‖²_F)

``D_P = 0 ⇔ D_FG = 0``. Everything is computed from the small Gram blocks of the
normalised inputs (unit trace), with singular values only (``compute_uv=False``) so
that gradients stay finite; normalising before the products keeps float32 safe from
overflow and underflow at any input scale.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import center_columns, gram, nuclear_norm, safe_sqrt, squared_norm, unit_frobenius
from repsim_jax.metrics.moments import Moments


def _unit_grams(x, y):
    x, y = unit_frobenius(x), unit_frobenius(y)
    return gram(x, x), gram(x, y), gram(y, y)


def centered_grams(x, y):
    """Gram blocks ``(XᵀX, XᵀY, YᵀY)`` of the centred, unit-Frobenius-norm inputs."""
    return _unit_grams(center_columns(x), center_columns(y))


def grams_from_moments(state: Moments):
    """The same blocks for the first two blocks of streamed :class:`Moments`.

    With ``R`` the centred factor, ``R[:, block]`` has the same Gram as the centred block.
    """
    return _unit_grams(state.factor[:, state.block(0)], state.factor[:, state.block(1)])


def procrustes_from_grams(sxx, sxy, syy, angular=False):
    """``sqrt(2 − 2‖Sxy‖_*)`` (or ``arccos ‖Sxy‖_* = 2 arcsin(D_P/2)``) for unit-trace blocks."""
    distance = safe_sqrt(2.0 - 2.0 * nuclear_norm(sxy))
    return 2.0 * jnp.arcsin(jnp.minimum(distance / 2.0, 1.0)) if angular else distance


def gram_from_grams(sxx, sxy, syy):
    """``sqrt(‖Sxx‖² + ‖Syy‖² − 2‖Sxy‖²)`` for unit-trace blocks."""
    return safe_sqrt(squared_norm(sxx) + squared_norm(syy) - 2.0 * squared_norm(sxy))


@functools.partial(jax.jit, static_argnames="angular")
def _procrustes_distance(x, y, angular):
    return procrustes_from_grams(*centered_grams(x, y), angular=angular)


@jax.jit
def _gram_distance(x, y):
    return gram_from_grams(*centered_grams(x, y))


def validate_pair(x, y, minimum_rows: int = 2, why: str = "a centred comparison"):
    """Shared checks for two representations of the same inputs."""
    x = checks.as_float_array("x", x, ndim=2)
    y = checks.as_float_array("y", y, ndim=2)
    checks.same_rows(x=x, y=y)
    checks.min_rows(x, minimum_rows, why)
    for name, value in (("x", x), ("y", y)):
        if float(jnp.max(jnp.abs(center_columns(value)))) == 0.0:
            raise InputError(f"singular case: {name} is constant over the samples (zero after centring)")
    return x, y


def procrustes_distance(x, y, *, angular: bool = False, validate: bool = True) -> jax.Array:
    """Orthogonal Procrustes distance ``sqrt(2 − 2‖XᵀY‖_*)`` of normalised inputs, in [0, √2].

    ``angular=True`` returns the Procrustes angle ``arccos ‖XᵀY‖_*`` in [0, π/2].
    Invariant to translations, isotropic scalings and orthogonal maps of either input.
    """
    if validate:
        x, y = validate_pair(x, y)
    return _procrustes_distance(x, y, angular)


def gram_distance(x, y, *, validate: bool = True) -> jax.Array:
    """Feature-Gram distance ``‖XXᵀ − YYᵀ‖_F`` of normalised inputs (arXiv 2509.25253)."""
    if validate:
        x, y = validate_pair(x, y)
    return _gram_distance(x, y)


@functools.partial(jax.jit, static_argnames="angular")
def procrustes_distance_from_moments(state: Moments, *, angular: bool = False) -> jax.Array:
    """:func:`procrustes_distance` of the first two blocks of streamed :class:`Moments`."""
    return procrustes_from_grams(*grams_from_moments(state), angular=angular)


@jax.jit
def gram_distance_from_moments(state: Moments) -> jax.Array:
    """:func:`gram_distance` of the first two blocks of streamed :class:`Moments`."""
    return gram_from_grams(*grams_from_moments(state))
