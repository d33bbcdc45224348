"""The KL–logit bound ``d²_logit ≤ KL/τ²``, decided in log space: :func:`kl_logit_bound`."""

from __future__ import annotations

import math

import jax.numpy as jnp

from repsim_jax.bounds import verdict
from repsim_jax.bounds.logit_stats import LogitStats, TeacherLogits, logit_stats, teacher_logits
from repsim_jax.bounds.pairs import check_pair_counts, map_pairs, model_shape, side_arrays
from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.kl import log_mean_exp
from repsim_jax.metrics.linalg import power_of_two_scale, scale_exponent

KLLogitBound = verdict.result_type(
    "KLLogitBound",
    ("lhs", "rhs"),
    ("log10_rhs", "kl", "tau", "log10_tau", "rhs_per_input", "holds_per_input", "slack_per_input"),
    """``lhs = d²_logit ≤ rhs = KL/τ²`` (see :func:`kl_logit_bound`); ``log10_rhs`` and
    ``log10_tau`` stay finite where ``rhs`` overflows and ``tau`` underflows.""",
    __name__,
)


def bound_from(teacher: TeacherLogits, stats: LogitStats):
    """The KL–logit bound of one student, decided in log space: ``rhs = KL/τ²`` may be far
    beyond the dtype's range (τ below ~1e-19 in float32). ``lhs`` and ``tolerance`` are in
    units of the logit scale c² (the caller multiplies them back); the rest is in the
    inputs' units."""
    rows = stats.kl
    log_scale = 2.0 * jnp.log(teacher.scale)  # log c²
    lhs_x, scale_x = stats.diff_sq, teacher.clr_sq + stats.student_clr_sq
    log_rhs_x = rows.log_value - 2.0 * rows.log_tau
    holds_x = verdict.holds_in_logs(lhs_x, log_rhs_x, verdict.tolerance(lhs_x, scale_x), log_scale)
    lhs, kl, log_tau = jnp.mean(lhs_x), jnp.mean(rows.value), jnp.min(rows.log_tau)
    # log of the mean KL: from the mean itself where it is a normal number, else from the logs
    log_kl = jnp.where(kl >= jnp.finfo(kl.dtype).tiny, verdict.safe_log(kl), log_mean_exp(rows.log_value))
    log_rhs, log_rhs_per_input = log_kl - 2.0 * log_tau, log_mean_exp(log_rhs_x)
    tolerance = verdict.tolerance(lhs, jnp.mean(scale_x))
    holds = verdict.holds_in_logs(lhs, log_rhs, tolerance, log_scale)
    log_lhs = verdict.safe_log(lhs) + log_scale
    slack_in_logs = verdict.slack_in_logs(log_lhs, log_rhs)
    return KLLogitBound(
        **verdict.decided(lhs, jnp.exp(log_rhs), holds, tolerance, log_lhs <= log_rhs, slack_in_logs),
        log10_rhs=log_rhs / math.log(10.0),
        kl=kl,
        tau=jnp.exp(log_tau),
        log10_tau=log_tau / math.log(10.0),
        rhs_per_input=jnp.exp(log_rhs_per_input),
        holds_per_input=jnp.all(holds_x),
        slack_per_input=verdict.slack_in_logs(log_lhs, log_rhs_per_input),
    )


def _exponents(logit_scale):
    return dict.fromkeys(("lhs", "tolerance"), 2 * scale_exponent(logit_scale))


def checked_units(name, result: KLLogitBound, logit_scale, validate):
    """:func:`~repsim_jax.bounds.verdict.in_input_units` for the KL bound, and (validating) InputError for a KL too
    small for the dtype (logits ~1e-20 in float32); ``rhs`` may overflow and ``tau``
    underflow: ``log10_rhs`` and ``log10_tau`` carry them."""
    result = verdict.in_input_units(name, result, _exponents(logit_scale), validate)
    if validate:
        log_kl = (result.log10_rhs + 2.0 * result.log10_tau) * math.log(10.0)
        checks.representable(f"{name}: kl", result.kl, log_kl)
    return result


def _prepare(logits, logit_scale):
    return teacher_logits(logits, logit_scale, with_kl=True)


def _pair(teacher, logits):
    return bound_from(teacher, logit_stats(teacher, logits))


def checked(teacher, student):
    """Validated logits of both sides for :func:`kl_logit_bound`."""
    teacher = side_arrays("teacher", ("z1",), teacher)
    student = side_arrays("student", ("z2",), student)
    check_pair_counts(teacher, student)
    if model_shape(teacher[0]) != model_shape(student[0]):
        raise InputError(f"logit shapes differ: {model_shape(teacher[0])} and {model_shape(student[0])}")
    if model_shape(teacher[0])[1] < 2:
        raise InputError("too few labels: the KL-logit bound needs K >= 2")
    return teacher, student


def kl_logit_bound(z1, z2, *, pairs_per_step: int | None = None, validate: bool = True) -> KLLogitBound:
    """KL–logit bound: if every probability of both models is ≥ τ, ``d²_logit ≤ KL/τ²``.

    Per input, with ``u = log p − log q`` and ``v = p − q`` (``Σ v = 0``):
    ``‖clr p − clr q‖² = ‖u − mean u‖² ≤ ‖u‖² ≤ ‖v‖²/τ_x²`` (log is 1/τ-Lipschitz on [τ, 1])
    ``≤ ‖v‖₁²/(2τ_x²)`` (v's positive and negative parts each have ℓ₁ mass ‖v‖₁/2)
    ``≤ KL_x/τ_x²`` (Pinsker: ``‖v‖₁² ≤ 2 KL_x``), τ_x the smallest probability of either
    model at x. Averaging: ``d²_logit ≤ mean_x KL_x/τ_x² ≤ KL/τ²`` with τ = min_x τ_x.
    ``(2/τ²)·KL`` (Pinsker without the ‖v‖₂ ≤ ‖v‖₁/√2 step) also holds but is 2× looser;
    the bound is approached only for K = 2, and for larger K lhs/rhs stays ≲ 2/K
    (docs/theory.md §3.3).
    Since τ ≤ 1/K the factor is ≥ K²: ``slack`` (rhs/lhs) reports how vacuous it is.

    Returns global (``lhs``, ``rhs``, ``holds``, ``slack``) and per-input
    (``rhs_per_input = mean_x KL_x/τ_x²``, ``holds_per_input`` = the inequality at every
    x) forms; KL is ``KL(p ‖ q)`` (p = teacher), from :mod:`repsim_jax.metrics.kl` (the
    one implementation; relative precision at any KL). ``rhs`` is computed in log space:
    ``log10_rhs = log10 KL − 2 log10 τ`` is finite whenever τ > 0 and ``holds`` is decided
    from it; ``rhs`` itself is +inf only where that ``log10_rhs`` exceeds the dtype's range
    (``log10_tau`` likewise where ``tau`` underflows).

    Args:
      z1, z2: the teacher's (p) and the student's (q) logits (n, K); either may carry a
        leading pair axis.
      pairs_per_step, validate: as in :func:`~repsim_jax.bounds.cca_logit_bound`.
    """
    teacher, student = (z1,), (z2,)
    if validate:
        teacher, student = checked(teacher, student)
    logit_scale = power_of_two_scale(teacher[0], student[0])
    result = map_pairs(_prepare, _pair, teacher, student, (logit_scale,), pairs_per_step)
    return checked_units("kl_logit_bound", result, logit_scale, validate)
