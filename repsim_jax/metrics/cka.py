"""Linear centred kernel alignment (Kornblith et al. 2019), biased and debiased.

Biased: ``CKA = ‖X̃ᵀỸ‖²_F / (‖X̃ᵀX̃‖_F ‖ỸᵀỸ‖_F)`` on column-centred inputs.

Debiased: each HSIC term is replaced by the unbiased estimator of Song et al. (2012),
for Gram matrices ``K, L`` with zeroed diagonals (K̃, L̃):

    HSIC_u = [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3)).

The estimator is translation invariant and the ratio scale invariant, so it is
evaluated on centred inputs scaled to unit Frobenius norm, where
with ``aᵢ = ‖x̃ᵢ‖², bᵢ = ‖ỹᵢ‖²``: ``tr(K̃L̃) = ‖X̃ᵀỸ‖² − Σaᵢbᵢ``, ``1ᵀK̃1 = −Σaᵢ`` and
``1ᵀK̃L̃1 = Σaᵢbᵢ`` — O(n d²), never n × n.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from repsim_jax.metrics.linalg import center_columns, gram, squared_norm, unit_frobenius
from repsim_jax.metrics.moments import Moments
from repsim_jax.metrics.shape import centered_grams, grams_from_moments, validate_pair


def cka_from_grams(sxx, sxy, syy):
    """``‖Sxy‖² / (‖Sxx‖ ‖Syy‖)`` (blocks of unit-norm inputs, so nothing overflows)."""
    return squared_norm(sxy) / (jnp.sqrt(squared_norm(sxx)) * jnp.sqrt(squared_norm(syy)))


def _unbiased_hsic(cross_squared_norm, a, b):
    n = a.shape[-1]
    sum_ab = jnp.sum(a * b, axis=-1)
    value = (
        cross_squared_norm
        - sum_ab
        + jnp.sum(a, axis=-1) * jnp.sum(b, axis=-1) / ((n - 1) * (n - 2))
        - 2.0 * sum_ab / (n - 2)
    )
    return value / (n * (n - 3))


def _debiased_cka(x, y):
    x, y = unit_frobenius(center_columns(x)), unit_frobenius(center_columns(y))
    a, b = jnp.sum(x * x, axis=-1), jnp.sum(y * y, axis=-1)
    hxy = _unbiased_hsic(squared_norm(gram(x, y)), a, b)
    hxx = _unbiased_hsic(squared_norm(gram(x, x)), a, a)
    hyy = _unbiased_hsic(squared_norm(gram(y, y)), b, b)
    return hxy / (jnp.sqrt(hxx) * jnp.sqrt(hyy))


@functools.partial(jax.jit, static_argnames="debiased")
def _linear_cka(x, y, debiased):
    if debiased:
        return _debiased_cka(x, y)
    return cka_from_grams(*centered_grams(x, y))


def linear_cka(x, y, *, debiased: bool = False, validate: bool = True) -> jax.Array:
    """Linear CKA similarity in [0, 1] (1 for identical inputs; Kornblith et al. 2019).

    ``debiased=True`` uses the unbiased HSIC estimator (Song et al. 2012; needs n > 3),
    which removes the upward bias of CKA for n not much larger than the dimension.
    """
    if validate:
        x, y = validate_pair(x, y, minimum_rows=4 if debiased else 2, why="debiased CKA" if debiased else "CKA")
    return _linear_cka(x, y, debiased)


@jax.jit
def linear_cka_from_moments(state: Moments) -> jax.Array:
    """Biased :func:`linear_cka` of the first two blocks of streamed :class:`Moments`."""
    return cka_from_grams(*grams_from_moments(state))
