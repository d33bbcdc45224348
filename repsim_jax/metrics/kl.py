"""KL divergence between the predictions of two models: the one implementation that
:func:`kl_divergence`, :func:`repsim_jax.bounds.kl_logit_bound` and
:class:`repsim_jax.streaming.PairStream` share.

Per input x, with ``p = softmax(z_p)``, ``δ = z_p − z_q``, ``δ̄ = Σ_y p_y δ_y`` and
``u = δ − δ̄`` (so ``Σ_y p_y u_y = 0``), since ``lse(z_q) = lse(z_p) + log Σ_y p_y e^{−δ_y}``:

    KL_x = Σ_y p_y (log p_y − log q_y) = δ̄ + log Σ_y p_y e^{−δ_y} = log Σ_y p_y e^{−u_y}
         = log1p(S),      S = Σ_y p_y φ(u_y),      φ(u) = e^{−u} − 1 + u ≥ 0

(derivation ours). Every term of S is non-negative and rounds relative to its own size, so
KL_x keeps the relative precision of the dtype however small it is; the textbook
``Σ p (log p − log q)`` subtracts two log-sum-exps of size |z| and loses ``eps·|z|``
absolutely (+45% at KL ≈ 6e-8 in float32). An error ε in δ̄ only enters at second order
(``∂S/∂δ̄ = −Σ p (1 − e^{−u}) = −(e^{KL} − 1)·…``, of the size of KL itself).

``φ(u) = u²·h(u)`` with ``h(u) = Σ_{j≥0} (−u)^j/(j+2)!``: for ``|u| < ½`` the polynomial to
``j = 8`` (truncation below 1e-10 relative), beyond it ``p(expm1(−u) + u)`` (cancellation at
most a factor 5 at ``|u| = ½``), and ``e^{log p − u} − p(1 − u)`` once ``e^{−u}`` would
overflow. Scale: with ``c`` a power of 2 of the size of ``max_y |u_y|``
(:func:`~repsim_jax.metrics._linalg.power_of_two_scale`), ``S = c²·S_c`` with
``S_c = Σ_y p_y (u_y/c)² h(u_y)``, so ``log KL_x = log S_c + 2 log c + log(log1p(S)/S)`` is
finite whenever KL_x > 0, even where KL_x itself underflows (logits of size 1e-30).

Rows where some ``p_y e^{−u_y}`` exceeds ``e^64`` (then KL_x > 64) use
``KL_x = lse_y(log p_y − u_y)`` instead, exact to the dtype's relative precision there.

τ_x, the smallest probability of either model at x, comes from the same pass:
``log q = z_q − lse(z_q)`` with ``lse(z_q) = lse(z_p) + KL_x − δ̄``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import _validate
from repsim_jax.metrics._linalg import power_of_two_scale

_SMALL = 0.5  # |u| below which h(u) is the Taylor polynomial
_EXPM1_LIMIT = -60.0  # u below which e^{−u} is formed as e^{log p − u}
_OVERFLOW_LOG = 64.0  # rows with some log p − u beyond this use the log-sum-exp form
_TAYLOR = tuple((-1) ** j / math.factorial(j + 2) for j in range(9))  # h(u) = Σ_j _TAYLOR[j]·u^j


class KLTeacher(NamedTuple):
    """The ``p`` side of KL(p ‖ q), computed once per teacher: log p, p and lse(z_p) per input."""

    log_probs: jax.Array
    probs: jax.Array
    normaliser: jax.Array


class KLRows(NamedTuple):
    """Per-input results of :func:`kl_rows`.

    value: KL_x (underflows to 0 only where it is below the dtype's smallest normal number).
    log_value: log KL_x, finite whenever KL_x > 0 (−inf for equal predictions).
    log_tau: ``min_y min(log p_y, log q_y)``.
    """

    value: jax.Array
    log_value: jax.Array
    log_tau: jax.Array


def kl_teacher(logits_p) -> KLTeacher:
    """:class:`KLTeacher` of logits (…, K): log-softmax over the last axis."""
    normaliser = jax.nn.logsumexp(logits_p, axis=-1)
    log_probs = logits_p - normaliser[..., None]
    return KLTeacher(log_probs, jnp.exp(log_probs), normaliser)


def _h(u):
    """``h(u) = φ(u)/u²`` by its Taylor polynomial (for ``|u| < ½``), Horner's rule."""
    value = jnp.full_like(u, _TAYLOR[-1])
    for coefficient in reversed(_TAYLOR[:-1]):
        value = value * u + coefficient
    return value


def _p_phi(teacher: KLTeacher, u):
    """``p·φ(u)`` for ``|u| ≥ ½``: ``p(expm1(−u) + u)``, or ``e^{log p − u} − p(1 − u)`` where
    ``e^{−u}`` would overflow (the exponent is capped; such rows take the log-sum-exp form)."""
    moderate = u > _EXPM1_LIMIT
    u_moderate = jnp.where(moderate, u, 0.0)
    by_expm1 = teacher.probs * (jnp.expm1(-u_moderate) + u_moderate)
    by_exp = jnp.exp(jnp.minimum(teacher.log_probs - u, _OVERFLOW_LOG)) - teacher.probs * (1.0 - u)
    return jnp.where(moderate, by_expm1, by_exp)


def _scaled_sum(teacher: KLTeacher, u, scale):
    """``S_c = Σ_y p_y φ(u_y)/c²`` per row (module docstring)."""
    small = jnp.abs(u) < _SMALL
    u_small = jnp.where(small, u, 0.0)
    u_large = jnp.where(small, 1.0, u)
    small_terms = teacher.probs * jnp.square(u_small / scale) * _h(u_small)
    large_terms = _p_phi(teacher, u_large) / scale / scale
    return jnp.sum(jnp.where(small, small_terms, large_terms), axis=-1)


def _safe_log(x):
    """``log x`` for x ≥ 0 (−inf at 0) with a finite gradient everywhere."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)


def kl_rows(teacher: KLTeacher, logits_q, difference) -> KLRows:
    """KL_x(p ‖ q) per input from the teacher's :class:`KLTeacher`, the student's logits
    ``z_q`` and ``difference = z_p − z_q`` (callers that need δ anyway pass it in)."""
    shift = jnp.sum(teacher.probs * difference, axis=-1)  # δ̄
    u = difference - shift[..., None]
    scale = power_of_two_scale(u, axis=-1)
    scaled = _scaled_sum(teacher, u, scale)
    scale = scale[..., 0]
    total = scaled * scale * scale  # S
    value = jnp.log1p(total)
    ratio = jnp.where(total > 0, value / jnp.where(total > 0, total, 1.0), 1.0)  # log1p(S)/S
    log_value = _safe_log(scaled) + 2.0 * jnp.log(scale) + jnp.log(ratio)
    exponents = teacher.log_probs - u
    overflowing = jnp.max(exponents, axis=-1) > _OVERFLOW_LOG
    by_lse = jax.lax.cond(
        jnp.any(overflowing),
        lambda: jax.nn.logsumexp(exponents, axis=-1),
        lambda: jnp.zeros_like(value),
    )
    value = jnp.where(overflowing, by_lse, value)
    log_value = jnp.where(overflowing, _safe_log(by_lse), log_value)
    student_normaliser = teacher.normaliser + value - shift
    log_tau = jnp.minimum(jnp.min(teacher.log_probs, axis=-1), jnp.min(logits_q, axis=-1) - student_normaliser)
    return KLRows(value, log_value, log_tau)


def kl_per_input(logits_p, logits_q) -> KLRows:
    """:func:`kl_rows` of two logit arrays (…, K)."""
    return kl_rows(kl_teacher(logits_p), logits_q, logits_p - logits_q)


def log_mean_exp(log_values, axis=-1):
    """``log mean exp`` over ``axis``: the log of a mean of values given by their logs."""
    return jax.nn.logsumexp(log_values, axis=axis) - math.log(log_values.shape[axis])


@jax.jit
def _kl_divergence(logits_p, logits_q):
    rows = kl_per_input(logits_p, logits_q)
    return jnp.mean(rows.value), log_mean_exp(rows.log_value)


def kl_divergence(logits_p, logits_q, validate: bool = True) -> jax.Array:
    """``(1/n) Σ_x KL(p(·|x) ‖ q(·|x))`` from logits, to the dtype's relative precision
    (module docstring: ``KL_x = log1p(Σ_y p_y φ(u_y))``).

    Distillation uses KL(teacher ‖ student): pass the teacher's logits as ``logits_p``.
    Validation raises InputError for a KL below the dtype's normal range (logits of
    size ~1e-20 in float32), which would otherwise read as 0.
    """
    if validate:
        logits_p = _validate.as_float_array("logits_p", logits_p, ndim=2)
        logits_q = _validate.as_float_array("logits_q", logits_q, ndim=2)
        _validate.same_shape(logits_p=logits_p, logits_q=logits_q)
        _check_labels(logits_p.shape[1])
    value, log_value = _kl_divergence(logits_p, logits_q)
    if validate:
        _validate.representable("kl_divergence", value, log_value)
    return value


def _check_labels(num_labels: int) -> None:
    if num_labels < 2:
        raise InputError(f"too few labels: the KL divergence needs K >= 2, got {num_labels}")
