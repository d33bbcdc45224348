"""The round-off verdict of every bound: tolerance, ``holds``, ``slack`` (also in log space),
and the exact return of a kernel's values to the inputs' units.

Round-off: with ``r = 1000·eps`` of the dtype, ``holds`` is
``lhs ≤ (1 + r)·rhs + tolerance`` with ``tolerance = r·(|lhs| + unit) + r²·scale``, where
``scale`` is the mean squared size of the arrays the squared distances come from (models
equal up to rounding have squared distances O(eps²·scale)) and ``unit`` the size of
quantities computed as ``1 − cos`` (:func:`tolerance`). ``within_round_off`` marks a bound
that holds only thanks to that allowance (lhs > rhs by less than it), e.g. identical models
whose lhs is rounding noise of 1e-13 against an rhs of 1e-15.

Scale: the squared distances are computed on inputs divided by powers of 2 near their
largest magnitudes (exact; :func:`~repsim_jax.metrics.linalg.power_of_two_scale`) and
multiplied back once (:func:`in_input_units`), so ``holds`` and ``slack`` are right at any
input scale; validation raises InputError when a reported value is outside the dtype's
range (e.g. float32 embeddings ×1e30 make d²_logit ≈ 1e61). Bounds whose rhs may leave the
dtype's range (KL/τ²) are decided in log space (:func:`holds_in_logs`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax.metrics import checks

ROUND_OFF_EPS = 1e3
"""The round-off allowance r of ``holds``, in units of the dtype's eps (module docstring)."""


VERDICT_FIELDS = ("holds", "slack", "tolerance", "within_round_off")
"""The fields every bound's result carries between its sides and its ingredients."""


def result_type(name: str, sides: tuple, ingredients: tuple, doc: str, module: str) -> type:
    """The NamedTuple of arrays that one bound returns: its ``sides`` (``lhs``, ``rhs``, or
    ``lhs``, ``middle``, ``rhs``), :data:`VERDICT_FIELDS`, then its ``ingredients``."""
    result = NamedTuple(name, [(field, jax.Array) for field in (*sides, *VERDICT_FIELDS, *ingredients)])
    result.__doc__, result.__module__ = doc, module
    return result


def round_off(dtype):
    return ROUND_OFF_EPS * jnp.finfo(dtype).eps


def tolerance(lhs, scale=0.0, unit=0.0):
    """``r·(|lhs| + unit) + r²·scale`` with ``r = 1000·eps``: the absolute part of the allowance.

    The ``scale`` term is for models equal up to rounding: their squared distances are then
    O(eps²·scale), with ``scale`` the mean squared size of the arrays they come from. The
    ``unit`` term is for quantities computed as ``1 − cos`` of size ``unit``, whose
    rounding error is O(eps·unit) even when they are 0.
    """
    r = round_off(lhs.dtype)
    return r * (jnp.abs(lhs) + unit) + r * r * scale


def holds(lhs, rhs, tolerance):
    """``lhs ≤ (1 + r)·rhs + tolerance`` (``r = 1000·eps``; module docstring)."""
    return lhs <= (1.0 + round_off(lhs.dtype)) * rhs + tolerance


def slack(lhs, rhs):
    return jnp.where(lhs > 0, rhs / jnp.where(lhs > 0, lhs, 1.0), jnp.inf)


def decided(lhs, rhs, holds, tolerance, strictly, given_slack=None) -> dict:
    """``lhs``, ``rhs`` and the :data:`VERDICT_FIELDS` of a bound whose verdict is ``holds``
    and whose inequality holds without the round-off allowance where ``strictly``
    (``within_round_off = holds & ~strictly``); ``slack`` is ``given_slack`` or ``rhs / lhs``."""
    ratio = slack(lhs, rhs) if given_slack is None else given_slack
    verdict = {"holds": holds, "slack": ratio, "tolerance": tolerance, "within_round_off": holds & ~strictly}
    return {"lhs": lhs, "rhs": rhs, **verdict}


_HEADLINE = ("lhs", "middle", "rhs")
"""Fields that must not underflow either; ingredients such as rounding-level residuals may."""


def in_input_units(name: str, result, exponents: dict, validate: bool):
    """``result`` with each listed field multiplied by ``2^k`` (k: its exponent), exactly,
    after a kernel computed it on inputs divided by powers of 2; with ``validate``,
    InputError for a value that overflows in the inputs' units, or for an lhs, middle or
    rhs that underflows."""
    updates = {}
    for field, exponent in exponents.items():
        unit = getattr(result, field)
        value = jnp.ldexp(unit, exponent)
        if validate:
            log_value = safe_log(jnp.abs(unit)) + exponent * math.log(2.0)
            checks.representable(f"{name}: {field}", value, log_value, underflow=field in _HEADLINE)
        updates[field] = value
    return result._replace(**updates)


def safe_log(x):
    """``log x`` for x ≥ 0: −inf at 0, with a finite gradient."""
    positive = x > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, x, 1.0)), -jnp.inf)


def holds_in_logs(lhs, log_rhs, tolerance, log_scale):
    """:func:`holds` for ``c²·lhs ≤ (1 + r)·e^{log_rhs} + c²·tolerance``, compared as logs
    (``log_scale = log c²``)."""
    allowed = jnp.logaddexp(log_rhs + jnp.log1p(round_off(lhs.dtype)), safe_log(tolerance) + log_scale)
    return safe_log(lhs) + log_scale <= allowed


def slack_in_logs(log_lhs, log_rhs):
    """``rhs / lhs`` from logs (+inf where lhs = 0)."""
    return jnp.where(log_lhs > -jnp.inf, jnp.exp(log_rhs - log_lhs), jnp.inf)
