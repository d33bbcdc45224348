"""Differentiable training and distillation losses, built on :mod:`repsim_jax.metrics`.

Logit losses compare student logits ``z_s`` with teacher logits ``z_t`` (B, K):

- ``kl``: ``T² · (1/B) Σ_x KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (Hinton et al. 2015).
- ``l2``: ``d²_logit = (1/B) Σ_x ‖z̄_s(x) − z̄_t(x)‖²`` on label-centred logits
  ``z̄ = z − mean_y z`` (arXiv 2602.15438); ``centered=False`` is the reference code's
  ``Σ (z_s − z_t)² / B``.
- ``l1``: ``(1/B) Σ_x ‖z̄_s(x) − z̄_t(x)‖₁`` (arXiv 2602.15438); ``centered=False`` is the
  reference code's elementwise ``mean |z_s − z_t|``.

Feature losses compare student and teacher embeddings (B, d_s), (B, d_t)
(arXiv 2509.25253): ``procrustes`` (``D_P``), ``gram`` (``D_FG``), ``cka`` (``1 − CKA``),
``proj_mse`` (``mean (f_s W − f_t)²`` with a learned ``W``).

:func:`get_loss` builds ``ce_weight·CE + logit_weight·logit + feature_weight·feature``
from a name such as ``"l2"``, ``"kl+procrustes"`` or ``"ce"``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax import metrics
from repsim_jax.errors import InputError

__all__ = [
    "cross_entropy",
    "kl_distillation",
    "logit_l2",
    "logit_l1",
    "procrustes_loss",
    "gram_loss",
    "cka_loss",
    "projection_mse",
    "init_projection",
    "Loss",
    "LOGIT_LOSSES",
    "FEATURE_LOSSES",
    "get_loss",
    "loss_terms",
    "loss_init",
    "feature_term",
]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy ``(1/B) Σ_x −log softmax(z(x))_{y(x)}`` for integer labels."""
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_p, labels[:, None].astype(jnp.int32), axis=-1))


def kl_distillation(student_logits: jax.Array, teacher_logits: jax.Array, temperature: float = 1.0) -> jax.Array:
    """``T² · (1/B) Σ_x KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (teacher ‖ student).

    The ``T²`` factor keeps gradient magnitudes comparable across temperatures
    (Hinton, Vinyals & Dean 2015, arXiv 1503.02531).
    """
    t = jnp.asarray(temperature, student_logits.dtype)
    kl = metrics.kl_divergence(teacher_logits / t, student_logits / t, validate=False)
    return t**2 * kl


def logit_l2(student_logits: jax.Array, teacher_logits: jax.Array, centered: bool = True) -> jax.Array:
    """Squared logit distance.

    ``centered=True``: ``d²_logit = (1/B) Σ_x ‖z̄_s(x) − z̄_t(x)‖²`` with label-centred
    logits (arXiv 2602.15438), invariant to per-input logit shifts.
    ``centered=False``: ``Σ_{x,y} (z_s − z_t)² / B``, the reference implementation.
    """
    if centered:
        return metrics.logit_distance(student_logits, teacher_logits, squared=True, validate=False)
    return jnp.sum((student_logits - teacher_logits) ** 2) / student_logits.shape[0]


def logit_l1(student_logits: jax.Array, teacher_logits: jax.Array, centered: bool = True) -> jax.Array:
    """L1 logit distance.

    ``centered=True``: ``(1/B) Σ_x ‖z̄_s(x) − z̄_t(x)‖₁`` (arXiv 2602.15438).
    ``centered=False``: ``mean_{x,y} |z_s − z_t|``, the reference implementation.
    """
    if centered:
        diff = metrics.center_logits(student_logits, validate=False) - metrics.center_logits(
            teacher_logits, validate=False
        )
        return jnp.sum(jnp.abs(diff)) / student_logits.shape[0]
    return jnp.mean(jnp.abs(student_logits - teacher_logits))


def procrustes_loss(student_emb: jax.Array, teacher_emb: jax.Array) -> jax.Array:
    """Procrustes distance ``D_P = sqrt(max(0, 2 − 2‖XᵀY‖_*))`` (arXiv 2509.25253).

    X, Y are the column-centred, unit-Frobenius-norm embeddings. The kernel uses singular
    values only and a safe square root, so the gradient is finite at ``X = Y``.
    """
    return metrics.procrustes_distance(student_emb, teacher_emb, validate=False)


def gram_loss(student_emb: jax.Array, teacher_emb: jax.Array) -> jax.Array:
    """Feature-Gram distance ``D_FG = ‖XXᵀ − YYᵀ‖_F`` on normalised embeddings (2509.25253)."""
    return metrics.gram_distance(student_emb, teacher_emb, validate=False)


def cka_loss(student_emb: jax.Array, teacher_emb: jax.Array) -> jax.Array:
    """``1 − CKA`` with linear CKA ``‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)`` (Kornblith et al. 2019)."""
    return 1.0 - metrics.linear_cka(student_emb, teacher_emb, validate=False)


def projection_mse(projection: jax.Array, student_emb: jax.Array, teacher_emb: jax.Array) -> jax.Array:
    """``mean_{x,j} ((f_s(x) W)_j − f_t(x)_j)²`` with a learned map ``W`` (d_s, d_t).

    The FitNets-style projection baseline of arXiv 2509.25253.
    """
    return jnp.mean((student_emb @ projection - teacher_emb) ** 2)


def init_projection(key: jax.Array, student_dim: int, teacher_dim: int) -> jax.Array:
    """Xavier-uniform initial ``W`` (d_s, d_t) for :func:`projection_mse`."""
    return jax.nn.initializers.xavier_uniform()(key, (student_dim, teacher_dim))


LOGIT_LOSSES: dict[str, Callable[..., jax.Array]] = {
    "kl": kl_distillation,
    "l2": logit_l2,
    "l1": logit_l1,
}

FEATURE_LOSSES: dict[str, Callable[..., jax.Array]] = {
    "procrustes": procrustes_loss,
    "gram": gram_loss,
    "cka": cka_loss,
    "proj_mse": projection_mse,
}


class Loss(NamedTuple):
    """A training objective.

    ``init(key, student_dim, teacher_dim) -> loss_params`` (learned loss parameters,
    ``{}`` when none) and ``apply(loss_params, student, teacher, labels) -> (loss, parts)``
    where ``student``/``teacher`` are ``(embeddings, logits)`` pairs (``teacher`` is
    ``None`` for a teacher-free loss) and ``parts`` maps each term's name to its value.
    """

    name: str
    init: Callable[..., Any]
    apply: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
    needs_teacher: bool


def _parse(name: str) -> tuple[str | None, str | None, bool]:
    """Split ``"logit[+feature]"`` or ``"ce[+feature]"`` into (logit, feature, has_ce)."""
    parts = [p.strip() for p in name.split("+")]
    logit = feature = None
    has_ce = False
    for part in parts:
        if part == "ce" and not has_ce:
            has_ce = True
        elif part in LOGIT_LOSSES and logit is None:
            logit = part
        elif part in FEATURE_LOSSES and feature is None:
            feature = part
        else:
            known = ["ce", *LOGIT_LOSSES, *FEATURE_LOSSES]
            raise InputError(
                f"unknown or repeated loss term {part!r} in loss {name!r}; terms: {', '.join(known)} joined with '+'"
            )
    return logit, feature, has_ce


def loss_terms(
    name: str, ce_weight: float | None = None, temperature: float = 1.0
) -> tuple[str | None, str | None, float]:
    """``(logit, feature, ce_weight)`` of a loss ``name`` (the grammar of :func:`get_loss`),
    checked: ``ce_weight`` defaults to 1 when ``ce`` is named and 0 otherwise; InputError
    for an unknown term, a temperature <= 0 or no term at all. Shared with the language
    models' losses (:func:`repsim_jax.lm.losses.get_lm_loss`)."""
    logit, feature, has_ce = _parse(name)
    if ce_weight is None:
        ce_weight = 1.0 if has_ce else 0.0
    if temperature <= 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    if not ce_weight and logit is None and feature is None:
        raise InputError(f"loss {name!r} with ce_weight=0 has no terms")
    return logit, feature, ce_weight


def loss_init(feature: str | None) -> Callable[..., Any]:
    """``init(key, student_dim, teacher_dim) -> loss_params`` of a feature term: the
    learned projection of ``proj_mse``, ``{}`` otherwise."""

    def init(key, student_dim, teacher_dim):
        if feature == "proj_mse":
            return {"projection": init_projection(key, student_dim, teacher_dim)}
        return {}

    return init


def feature_term(feature: str, loss_params, student_emb: jax.Array, teacher_emb: jax.Array) -> jax.Array:
    """The feature loss ``feature`` of (n, d_s) and (n, d_t) embeddings, with the learned
    projection of ``loss_params`` for ``proj_mse``."""
    if feature == "proj_mse":
        return projection_mse(loss_params["projection"], student_emb, teacher_emb)
    return FEATURE_LOSSES[feature](student_emb, teacher_emb)


def get_loss(
    name: str,
    *,
    ce_weight: float | None = None,
    logit_weight: float = 1.0,
    feature_weight: float = 1.0,
    temperature: float = 1.0,
    centered: bool = True,
) -> Loss:
    """The loss registered as ``name``: ``ce_weight·CE + logit_weight·logit + feature_weight·feature``.

    ``name`` joins terms with ``+``: at most one of ``ce``, one logit loss
    (``kl``, ``l2``, ``l1``) and one feature loss (``procrustes``, ``gram``, ``cka``,
    ``proj_mse``), e.g. ``"l2+procrustes"``. ``ce_weight`` defaults to 1 when ``ce`` is
    named and 0 otherwise.
    """
    logit, feature, ce_weight = loss_terms(name, ce_weight, temperature)
    needs_teacher = logit is not None or feature is not None

    def apply(loss_params, student, teacher, labels):
        s_emb, s_logits = student
        parts = {}
        total = jnp.zeros((), s_logits.dtype)
        if ce_weight:
            parts["ce"] = cross_entropy(s_logits, labels)
            total = total + ce_weight * parts["ce"]
        if logit is not None:
            t_logits = jax.lax.stop_gradient(teacher[1])
            if logit == "kl":
                parts["kl"] = kl_distillation(s_logits, t_logits, temperature)
            else:
                parts[logit] = LOGIT_LOSSES[logit](s_logits, t_logits, centered)
            total = total + logit_weight * parts[logit]
        if feature is not None:
            parts[feature] = feature_term(feature, loss_params, s_emb, jax.lax.stop_gradient(teacher[0]))
            total = total + feature_weight * parts[feature]
        return total, parts

    return Loss(name=name, init=loss_init(feature), apply=apply, needs_teacher=needs_teacher)
