"""Distances between the predictive distributions of two models.

For models with logits ``Z = F Gᵀ`` (rows are inputs), label-centring
``Z̄ = Z (I − 11ᵀ/K)`` gives the centred log-ratio ``clr p(·|x) = log p − mean_y log p``,
which is independent of any per-input logit shift (bias). arXiv 2602.15438 defines the
logit distance as the mean squared Aitchison distance between the predictions:

    d²_logit = (1/n) Σ_x ‖Z̄₁(x) − Z̄₂(x)‖².
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import _validate
from repsim_jax.metrics._linalg import matmul, safe_sqrt, squared_norm, upper_factor
from repsim_jax.metrics.moments import Moments, raw_factor


def _center(logits):
    return logits - jnp.mean(logits, axis=-1, keepdims=True)


def center_logits(logits, validate: bool = True) -> jax.Array:
    """``Z̄ = Z − mean_y Z`` over the last (label) axis: the clr transform of the prediction.

    Validation checks a floating, finite array of rank ≥ 1; ``validate=False`` inside jit.
    """
    if validate:
        logits = _validate.as_float_array("logits", logits, ndim=np.ndim(logits))
    return _center(logits)


def _finish(squared_distance: jax.Array, squared: bool) -> jax.Array:
    return squared_distance if squared else safe_sqrt(squared_distance)


@functools.partial(jax.jit, static_argnames="squared")
def _logit_distance(logits1, logits2, squared):
    difference = _center(logits1 - logits2)
    return _finish(jnp.mean(jnp.sum(jnp.square(difference), axis=-1)), squared)


def logit_distance(logits1, logits2, squared: bool = False, validate: bool = True) -> jax.Array:
    """Logit distance (arXiv 2602.15438): ``d²_logit = (1/n) Σ_x ‖Z̄₁(x) − Z̄₂(x)‖²``.

    Args:
      logits1, logits2: (n, K) logits of two models on the same inputs.
      squared: return ``d²_logit`` instead of ``d_logit``.
      validate: check shapes and finiteness (set False inside jit).

    Returns ``d_logit`` (0 for models with equal predictions). The square root is
    taken safely: its gradient at ``d = 0`` is 0, not NaN.
    """
    if validate:
        logits1 = _validate.as_float_array("logits1", logits1, ndim=2)
        logits2 = _validate.as_float_array("logits2", logits2, ndim=2)
        _validate.same_shape(logits1=logits1, logits2=logits2)
        _check_labels(logits1.shape[1])
    return _logit_distance(logits1, logits2, squared)


def _check_labels(num_labels: int) -> None:
    if num_labels < 2:
        raise InputError(f"too few labels: logit distances need K >= 2, got {num_labels}")


def _centered_unembedding_difference(g1, g2):
    """``[C G₁, −C G₂]`` (K × (d₁+d₂)), so that ``Z̄₁ − Z̄₂ = [F₁, F₂] · (that)ᵀ``."""
    return jnp.concatenate([_center(g1.T).T, -_center(g2.T).T], axis=1)


def distance_from_raw_factor(factor, count, g1, g2, squared):
    """``d² = (1/n) ‖R Ĝᵀ‖²_F`` where ``RᵀR = [F₁,F₂]ᵀ[F₁,F₂]``; O((d₁+d₂)² K)."""
    residual = matmul(factor, _centered_unembedding_difference(g1, g2).T)
    return _finish(squared_norm(residual) / count, squared)


@functools.partial(jax.jit, static_argnames="squared")
def _logit_distance_from_reps(f1, g1, f2, g2, squared):
    factor = upper_factor(jnp.concatenate([f1, f2], axis=1))
    return distance_from_raw_factor(factor, f1.shape[0], g1, g2, squared)


def logit_distance_from_reps(f1, g1, f2, g2, squared: bool = False, validate: bool = True) -> jax.Array:
    """Logit distance of ``Z₁ = F₁G₁ᵀ`` and ``Z₂ = F₂G₂ᵀ`` without forming (n, K) logits.

    Moment form (arXiv 2602.15438 definition; factorisation ours): with ``Ĝᵢ = C Gᵢ``
    (labels centred) and ``R`` the triangular factor of ``[F₁, F₂]``,
    ``d²_logit = (1/n)[tr(Ĝ₁S₁₁Ĝ₁ᵀ) − 2tr(Ĝ₁S₁₂Ĝ₂ᵀ) + tr(Ĝ₂S₂₂Ĝ₂ᵀ)] = (1/n)‖R [Ĝ₁, −Ĝ₂]ᵀ‖²_F``
    where ``Sᵢⱼ = FᵢᵀFⱼ``. Using R instead of the ``Sᵢⱼ`` avoids the cancellation of the
    three-term form, so identical models give ~0 rather than rounding noise.

    Args:
      f1, g1: embeddings (n, d₁) and unembeddings (K, d₁) of model 1.
      f2, g2: embeddings (n, d₂) and unembeddings (K, d₂) of model 2.
    """
    if validate:
        f1, g1, f2, g2 = _validate_reps(f1, g1, f2, g2)
    return _logit_distance_from_reps(f1, g1, f2, g2, squared)


def _validate_reps(f1, g1, f2, g2):
    f1 = _validate.as_float_array("f1", f1, ndim=2)
    g1 = _validate.as_float_array("g1", g1, ndim=2)
    f2 = _validate.as_float_array("f2", f2, ndim=2)
    g2 = _validate.as_float_array("g2", g2, ndim=2)
    _validate.same_rows(f1=f1, f2=f2)
    _validate.same_rows(g1=g1, g2=g2)
    _validate.same_width(f1=f1, g1=g1)
    _validate.same_width(f2=f2, g2=g2)
    _check_labels(g1.shape[0])
    return f1, g1, f2, g2


@functools.partial(jax.jit, static_argnames="squared")
def logit_distance_from_moments(state: Moments, g1, g2, squared: bool = False) -> jax.Array:
    """:func:`logit_distance_from_reps` from streamed moments of ``[F₁, F₂]``."""
    return distance_from_raw_factor(raw_factor(state), state.count, g1, g2, squared)


@jax.jit
def _kl_divergence(logits_p, logits_q):
    log_p = jax.nn.log_softmax(logits_p, axis=-1)
    log_q = jax.nn.log_softmax(logits_q, axis=-1)
    per_input = jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
    return jnp.mean(jnp.maximum(per_input, 0.0))


def kl_divergence(logits_p, logits_q, validate: bool = True) -> jax.Array:
    """``(1/n) Σ_x KL(p(·|x) ‖ q(·|x))`` from logits, via ``log_softmax``.

    Distillation uses KL(teacher ‖ student): pass the teacher's logits as ``logits_p``.
    Each per-input KL is clamped at 0 (rounding can make a true 0 slightly negative).
    """
    if validate:
        logits_p = _validate.as_float_array("logits_p", logits_p, ndim=2)
        logits_q = _validate.as_float_array("logits_q", logits_q, ndim=2)
        _validate.same_shape(logits_p=logits_p, logits_q=logits_q)
        _check_labels(logits_p.shape[1])
    return _kl_divergence(logits_p, logits_q)
