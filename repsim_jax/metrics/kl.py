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

``φ(u) = u²·h(u)`` with ``h(u) = Σ_{j≥0} (−u)^j/(j+2)!``: for ``|u| < 1/16`` the polynomial
to ``j = 5`` (truncation below 1e-11 relative), beyond it ``p·(expm1(−u) + u)``, whose
cancellation costs at most ``2/|u| ≤ 32`` ulps. Scale: where some row's S is below
``tiny/eps²`` (its terms may have underflowed: logits of size ~1e-20, or equal rows), the
rows are summed again with the small-|u| terms lifted by ``C² = 2^120``
(``Σ p (Cu)² h(u) ≤ 2^112``: no overflow; ``(Cu)²`` underflows only for |u| below ~1e-37),
so ``log S = logaddexp(log Σ_small − log C², log Σ_large)`` and
``log KL_x = log S + log(log1p(S)/S)`` are finite whenever KL_x > 0, even where KL_x itself
underflows (logits of size 1e-30).

Rows where some ``e^{−u_y}`` overflows (``u_y < −88`` in float32; then KL_x is large) use
``KL_x = δ̄ + lse(z_q) − lse(z_p)`` instead, whose rounding ``eps·|lse|`` is small against
such a KL. Both fallbacks run only when needed (``lax.cond`` on the inputs themselves, so
the main pass stays one fused loop; under ``vmap`` both sides run).

τ_x, the smallest probability of either model at x, comes from the same pass:
``log q = z_q − lse(z_q)`` with ``lse(z_q) = lse(z_p) + KL_x − δ̄``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks

_SMALL = 1.0 / 16  # |u| below which h(u) is the Taylor polynomial
_TAYLOR = tuple((-1) ** j / math.factorial(j + 2) for j in range(6))  # h(u) = Σ_j _TAYLOR[j]·u^j
_LIFT = 2.0**60  # C: the small-|u| terms are summed times C²


class KLTeacher(NamedTuple):
    """The ``p`` side of KL(p ‖ q), computed once per teacher: log p, p, lse(z_p) and
    ``min_y log p`` per input."""

    log_probs: jax.Array
    probs: jax.Array
    normaliser: jax.Array
    min_log_prob: jax.Array


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
    return KLTeacher(log_probs, jnp.exp(log_probs), normaliser, jnp.min(log_probs, axis=-1))


def _h(u):
    """``h(u) = φ(u)/u²`` by its Taylor polynomial (for ``|u| < 1/16``), Horner's rule."""
    value = jnp.full_like(u, _TAYLOR[-1])
    for coefficient in reversed(_TAYLOR[:-1]):
        value = value * u + coefficient
    return value


def _terms(teacher: KLTeacher, u, lift):
    """``(lift²·p φ(u) where |u| < 1/16, else 0;  p φ(u) where |u| ≥ 1/16, else 0)``
    (module docstring); the second is +inf where ``e^{−u}`` overflows."""
    small = jnp.abs(u) < _SMALL
    u_small = jnp.where(small, u, 0.0)
    u_large = jnp.where(small, _SMALL, u)
    lifted = teacher.probs * jnp.square(u_small * lift) * _h(u_small)
    large = teacher.probs * (jnp.expm1(-u_large) + u_large)
    return jnp.where(small, lifted, 0.0), jnp.where(small, 0.0, large)


def _safe_log(x):
    """``log x`` for x ≥ 0 (−inf at 0) with a finite gradient everywhere."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)


def _deviation(logits_p, logits_q, shift):
    """``u = δ − δ̄`` with ``δ = z_p − z_q``."""
    return logits_p - logits_q - shift[..., None]


def _log_sum(teacher: KLTeacher, logits_p, logits_q, shift, total):
    """``log S`` per row: ``log total`` where S is a normal number well above ``tiny/eps²``,
    else from the lifted sums (module docstring; run only when some row needs it, from the
    inputs themselves so that nothing else has to be kept in memory for it)."""
    info = jnp.finfo(total.dtype)
    tiny = ~(total >= info.tiny / info.eps**2)

    def lifted():
        u = _deviation(logits_p, logits_q, shift)
        small, large = (jnp.sum(t, axis=-1) for t in _terms(teacher, u, _LIFT))
        return jnp.logaddexp(_safe_log(small) - 2.0 * math.log(_LIFT), _safe_log(large))

    by_lift = jax.lax.cond(jnp.any(tiny), lifted, lambda: jnp.zeros_like(total))
    return jnp.where(tiny, by_lift, _safe_log(total))


def kl_rows(teacher: KLTeacher, logits_p, logits_q) -> KLRows:
    """KL_x(p ‖ q) per input from the teacher's :class:`KLTeacher` of ``z_p`` and the
    logits ``z_p`` and ``z_q`` themselves (module docstring)."""
    shift = jnp.sum(teacher.probs * (logits_p - logits_q), axis=-1)  # δ̄
    terms = _terms(teacher, _deviation(logits_p, logits_q, shift), 1.0)
    total = sum(jnp.sum(t, axis=-1) for t in terms)  # S
    value = jnp.log1p(total)
    ratio = jnp.where(total > 0, value / jnp.where(total > 0, total, 1.0), 1.0)  # log1p(S)/S
    log_value = _log_sum(teacher, logits_p, logits_q, shift, total) + jnp.log(ratio)
    overflowing = ~jnp.isfinite(total)
    by_normalisers = jax.lax.cond(
        jnp.any(overflowing),
        lambda: shift + jax.nn.logsumexp(logits_q, axis=-1) - teacher.normaliser,
        lambda: jnp.zeros_like(value),
    )
    value = jnp.where(overflowing, by_normalisers, value)
    log_value = jnp.where(overflowing, _safe_log(by_normalisers), log_value)
    student_normaliser = teacher.normaliser + value - shift
    log_tau = jnp.minimum(teacher.min_log_prob, jnp.min(logits_q, axis=-1) - student_normaliser)
    return KLRows(value, log_value, log_tau)


def kl_per_input(logits_p, logits_q) -> KLRows:
    """:func:`kl_rows` of two logit arrays (…, K)."""
    return kl_rows(kl_teacher(logits_p), logits_p, logits_q)


def log_mean_exp(log_values, axis=-1):
    """``log mean exp`` over ``axis``: the log of a mean of values given by their logs."""
    return jax.nn.logsumexp(log_values, axis=axis) - math.log(log_values.shape[axis])


@jax.custom_vjp
def mean_kl(logits_p, logits_q):
    """``((1/n) Σ_x KL_x(p ‖ q), log of that mean)`` over the leading axes
    (:func:`kl_per_input`, one pass), differentiable in the first.

    Its gradient is the closed form, not the derivative of the branches above (whose
    overflow fallback leaves ``inf · 0 = NaN`` in the unused branch's gradient, e.g. for a
    trained teacher's logits of size 100 against a student's at initialisation): with
    ``ℓ = log p − log q`` (log-softmaxes),

        ∂KL_x/∂z_q = q − p,      ∂KL_x/∂z_p = p ⊙ (ℓ − KL_x)

    (derivation ours: ``∂ log p_y/∂z_{p,k} = δ_yk − p_k``, and ``Σ_y p_y ℓ_y = KL_x``). The
    log of the mean is for checks only: its cotangent is ignored.
    """
    return _mean_kl_forward(logits_p, logits_q)[0]


def _mean_kl_forward(logits_p, logits_q):
    rows = kl_per_input(logits_p, logits_q)
    return (jnp.mean(rows.value), log_mean_exp(rows.log_value)), (logits_p, logits_q, rows.value)


def _mean_kl_backward(residuals, cotangents):
    logits_p, logits_q, value = residuals
    log_p, log_q = jax.nn.log_softmax(logits_p, axis=-1), jax.nn.log_softmax(logits_q, axis=-1)
    p, q = jnp.exp(log_p), jnp.exp(log_q)
    scale = cotangents[0] / value.size
    return scale * p * (log_p - log_q - value[..., None]), scale * (q - p)


mean_kl.defvjp(_mean_kl_forward, _mean_kl_backward)

_kl_divergence = jax.jit(mean_kl)


def kl_divergence(logits_p, logits_q, *, validate: bool = True) -> jax.Array:
    """``(1/n) Σ_x KL(p(·|x) ‖ q(·|x))`` from logits, to the dtype's relative precision
    (module docstring: ``KL_x = log1p(Σ_y p_y φ(u_y))``).

    Distillation uses KL(teacher ‖ student): pass the teacher's logits as ``logits_p``.
    Validation raises InputError for a KL below the dtype's normal range (logits of
    size ~1e-20 in float32), which would otherwise read as 0.
    """
    if validate:
        logits_p = checks.as_float_array("logits_p", logits_p, ndim=2)
        logits_q = checks.as_float_array("logits_q", logits_q, ndim=2)
        checks.same_shape(logits_p=logits_p, logits_q=logits_q)
        _check_labels(logits_p.shape[1])
    value, log_value = _kl_divergence(logits_p, logits_q)
    if validate:
        checks.representable("kl_divergence", value, log_value)
    return value


def _check_labels(num_labels: int) -> None:
    if num_labels < 2:
        raise InputError(f"too few labels: the KL divergence needs K >= 2, got {num_labels}")
