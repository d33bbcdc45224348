"""A pair's logit statistics shared by the CCA and KL bounds: the teacher's, computed once,
and each student's, from two elementwise passes over its logits."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax.bounds.basis import label_centred
from repsim_jax.metrics.kl import KLTeacher, kl_rows, kl_teacher
from repsim_jax.metrics.linalg import squared_norm


class TeacherLogits(NamedTuple):
    """What each student's pass needs from the teacher's logits ``t`` (n × K), computed once.

    The quadratic statistics are of ``t/c``, c the pair's power-of-2 logit scale (the
    KL needs the logits themselves)."""

    logits: jax.Array  # t
    kl: KLTeacher | None  # the p side of KL(p ‖ q) (None when no KL is needed)
    scale: jax.Array  # c
    row_mean: jax.Array  # (n,) mean_y t/c
    clr_sq: jax.Array  # (n,) ‖t̄(x)/c‖²
    column_mean: jax.Array  # (K,) mean_x t̄/c: t̄ label-centred


def teacher_logits(logits, scale, with_kl):
    scaled = logits / scale
    centred = label_centred(scaled)
    return TeacherLogits(
        logits,
        kl_teacher(logits) if with_kl else None,
        scale,
        jnp.mean(scaled, axis=-1),
        jnp.sum(jnp.square(centred), axis=-1),
        jnp.mean(centred, axis=0),
    )


class LogitStats(NamedTuple):
    """A student's logit statistics against the teacher (:func:`logit_stats`), in units of
    the logit scale c (squared quantities divided by c²)."""

    diff_sq: jax.Array  # (n,) ‖Z̄_t(x) − Z̄_s(x)‖² / c²
    kl: object  # KLRows of KL_x(p ‖ q) and log τ_x, or None
    student_clr_sq: jax.Array  # (n,) ‖Z̄_s(x)‖² / c²
    centred_diff_sq: jax.Array  # Σ_x ‖D̄(x) − mean_x D̄‖² / c², D̄ = Z̄_t − Z̄_s (0 without column sums)
    student_row_mean: jax.Array  # (n,) mean_y z / c


def logit_stats(teacher: TeacherLogits, logits, column_sum=None):
    """Everything the CCA and KL bounds need from the student's logits z: the squared
    distances of ``(t − z)/c`` and, when the teacher carries its KL side, ``KL_x`` and
    ``log τ_x`` from :func:`repsim_jax.metrics.kl.kl_rows` (the one KL implementation).
    ``column_sum`` (``Σ_x z/c``, from the CCA cross product) adds the column-centred
    ``Σ_x ‖D̄ − mean_x D̄‖²``.
    """
    n = logits.shape[0]
    difference = teacher.logits - logits
    kl = None if teacher.kl is None else kl_rows(teacher.kl, teacher.logits, logits)
    scaled = logits / teacher.scale
    row_mean = jnp.mean(scaled, axis=-1)
    centred = label_centred(difference / teacher.scale)
    centred_diff_sq = jnp.zeros((), logits.dtype)
    if column_sum is not None:
        column_mean = teacher.column_mean - (column_sum / n - jnp.mean(row_mean))
        centred_diff_sq = squared_norm(centred - column_mean)
    return LogitStats(
        jnp.sum(jnp.square(centred), axis=-1),
        kl,
        jnp.sum(jnp.square(scaled - row_mean[:, None]), axis=-1),
        centred_diff_sq,
        row_mean,
    )
