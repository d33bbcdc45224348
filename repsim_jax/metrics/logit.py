"""Distances between the predictive distributions of two models.

For models with logits ``Z = F Gᵀ`` (rows are inputs), label-centring
``Z̄ = Z (I − 11ᵀ/K)`` gives the centred log-ratio ``clr p(·|x) = log p − mean_y log p``,
which is independent of any per-input logit shift (bias). arXiv 2602.15438 defines the
logit distance as the mean squared Aitchison distance between the predictions:

    d²_logit = (1/n) Σ_x ‖Z̄₁(x) − Z̄₂(x)‖².

Scale: the squares are taken of the inputs divided by a power of 2 near their largest
magnitude (:func:`~repsim_jax.metrics.linalg.power_of_two_scale`, exact), and the result
is multiplied back once (:func:`~repsim_jax.metrics.linalg.from_unit`): d_logit is right
for logits of any size whose d_logit the dtype can hold (float32 logits ×1e30 give ≈ 1e30,
not inf). Validation raises InputError when the requested value (e.g. ``squared=True`` at
that scale, ≈ 1e61) is outside the dtype's range. The KL divergence is in
:mod:`repsim_jax.metrics.kl`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks, linalg
from repsim_jax.metrics.moments import Moments, raw_factor


def _center(logits):
    return logits - jnp.mean(logits, axis=-1, keepdims=True)


def center_logits(logits, validate: bool = True) -> jax.Array:
    """``Z̄ = Z − mean_y Z`` over the last (label) axis: the clr transform of the prediction.

    Validation checks a floating, finite array of rank ≥ 1; ``validate=False`` inside jit.
    """
    if validate:
        logits = checks.as_float_array("logits", logits, ndim=np.ndim(logits))
    return _center(logits)


def finish(name: str, unit, exponent, squared: bool, validate: bool) -> jax.Array:
    """``d`` (or ``d²``) from its square ``unit`` on inputs divided by ``2^exponent``; with
    ``validate``, raises InputError when that value is outside the dtype's range."""
    value = linalg.from_unit(unit, exponent, squared)
    if validate:
        log_value = linalg.log_from_unit(unit, exponent, squared)
        checks.representable(f"{name} (squared)" if squared else name, value, log_value)
    return value


@jax.jit
def _logit_distance(logits1, logits2):
    """``(mean_x ‖Z̄₁(x) − Z̄₂(x)‖² / 4^k, k)`` with ``2^k`` the inputs' power-of-2 scale."""
    scale = linalg.power_of_two_scale(logits1, logits2)
    difference = _center(logits1 / scale - logits2 / scale)
    return jnp.mean(jnp.sum(jnp.square(difference), axis=-1)), linalg.scale_exponent(scale)


def logit_distance(logits1, logits2, *, squared: bool = False, validate: bool = True) -> jax.Array:
    """Logit distance (arXiv 2602.15438): ``d²_logit = (1/n) Σ_x ‖Z̄₁(x) − Z̄₂(x)‖²``.

    Args:
      logits1, logits2: (n, K) logits of two models on the same inputs.
      squared: return ``d²_logit`` instead of ``d_logit``.
      validate: check shapes and finiteness (set False inside jit).

    Returns ``d_logit`` (0 for models with equal predictions), scale-safe (module
    docstring). The square root is taken safely: its gradient at ``d = 0`` is 0, not NaN.
    """
    if validate:
        logits1 = checks.as_float_array("logits1", logits1, ndim=2)
        logits2 = checks.as_float_array("logits2", logits2, ndim=2)
        checks.same_shape(logits1=logits1, logits2=logits2)
        _check_labels(logits1.shape[1])
    return finish("logit_distance", *_logit_distance(logits1, logits2), squared, validate)


def _check_labels(num_labels: int) -> None:
    if num_labels < 2:
        raise InputError(f"too few labels: logit distances need K >= 2, got {num_labels}")


def _centered_unembedding_difference(g1, g2):
    """``[C G₁, −C G₂]`` (K × (d₁+d₂)), so that ``Z̄₁ − Z̄₂ = [F₁, F₂] · (that)ᵀ``."""
    return jnp.concatenate([_center(g1.T).T, -_center(g2.T).T], axis=1)


def distance_from_raw_factor(factor, count, g1, g2):
    """``(d²/4^k, k)`` with ``d² = (1/n) ‖R Ĝᵀ‖²_F`` where ``RᵀR = [F₁,F₂]ᵀ[F₁,F₂]``; O((d₁+d₂)² K).

    R and the unembeddings are divided by powers of 2 (``2^k`` is their product) before
    the product, so neither the product nor its squares overflow or underflow.
    """
    factor_scale, g_scale = linalg.power_of_two_scale(factor), linalg.power_of_two_scale(g1, g2)
    residual = linalg.matmul(factor / factor_scale, _centered_unembedding_difference(g1 / g_scale, g2 / g_scale).T)
    return linalg.squared_norm(residual) / count, linalg.scale_exponent(factor_scale, g_scale)


@jax.jit
def _logit_distance_from_reps(f1, g1, f2, g2):
    scale = linalg.power_of_two_scale(f1, f2)
    factor = linalg.upper_factor(jnp.concatenate([f1 / scale, f2 / scale], axis=1))
    unit, exponent = distance_from_raw_factor(factor, f1.shape[0], g1, g2)
    return unit, exponent + linalg.scale_exponent(scale)


def logit_distance_from_reps(f1, g1, f2, g2, *, squared: bool = False, validate: bool = True) -> jax.Array:
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
        f1, g1, f2, g2 = validate_reps(f1, g1, f2, g2)
    return finish("logit_distance_from_reps", *_logit_distance_from_reps(f1, g1, f2, g2), squared, validate)


def validate_reps(f1, g1, f2, g2):
    f1 = checks.as_float_array("f1", f1, ndim=2)
    g1 = checks.as_float_array("g1", g1, ndim=2)
    f2 = checks.as_float_array("f2", f2, ndim=2)
    g2 = checks.as_float_array("g2", g2, ndim=2)
    checks.same_rows(f1=f1, f2=f2)
    checks.same_rows(g1=g1, g2=g2)
    checks.same_width(f1=f1, g1=g1)
    checks.same_width(f2=f2, g2=g2)
    _check_labels(g1.shape[0])
    return f1, g1, f2, g2


@jax.jit
def _logit_distance_from_moments(state: Moments, g1, g2):
    return distance_from_raw_factor(raw_factor(state), state.count, g1, g2)


def logit_distance_from_moments(state: Moments, g1, g2, *, squared: bool = False, validate: bool = True) -> jax.Array:
    """:func:`logit_distance_from_reps` from streamed moments of ``[F₁, F₂]``; ``validate``
    checks the unembeddings and that the value is inside the dtype's range (set False inside jit)."""
    if validate:
        g1, g2 = validate_unembeddings(state, g1, g2)
    return finish("logit_distance_from_moments", *_logit_distance_from_moments(state, g1, g2), squared, validate)


def validate_unembeddings(state: Moments, g1, g2):
    """``g1``, ``g2`` checked against the first two blocks of streamed moments: floating
    (half precision upcast), finite, the blocks' widths, the same K ≥ 2 labels."""
    g1 = checks.as_float_array("g1", g1, ndim=2)
    g2 = checks.as_float_array("g2", g2, ndim=2)
    checks.same_rows(g1=g1, g2=g2)
    for name, g, width in (("g1", g1, state.widths[0]), ("g2", g2, state.widths[1])):
        if g.shape[1] != width:
            raise InputError(f"{name} has {g.shape[1]} columns but its block of the moments {width}")
    _check_labels(g1.shape[0])
    return g1, g2
