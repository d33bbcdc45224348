"""Bound checks between distributional and representational distances, over many pairs at once.

Every check takes a teacher (model 1) and a student (model 2). Each array argument is
either one model's array or a stack with a leading pair axis; a side whose arrays are
not stacked is shared by all pairs, and its own work (QR, eigenvalues, log-softmax) is
done once, before a single compiled ``lax.map`` over the pairs. Results are NamedTuples
of arrays (with the pair axis when one was given) holding ``lhs``, ``rhs``, ``holds``,
``slack = rhs / lhs`` and the ingredients. ``holds`` allows a rounding margin of
``1000·eps·(|lhs| + |rhs|)``. The forms and their proofs are in each docstring
(derived for this project from the definitions of arXiv 2602.15438 and 2506.03784).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.metrics import _validate
from repsim_jax.metrics._batching import dividing_batch_size
from repsim_jax.metrics._linalg import center_columns, matmul, squared_norm, upper_factor
from repsim_jax.metrics.identifiability import DEFAULT_MAX_CONDITION, _validate_subsets
from repsim_jax.metrics.llv import _llv, _side, _validate_sets
from repsim_jax.metrics.logit import center_logits, distance_from_raw_factor


class CCALogitBound(NamedTuple):
    """``lhs = Σᵢ(1 − ρᵢ²)λᵢ ≤ middle ≤ rhs = d²_logit`` (see :func:`cca_logit_bound`)."""

    lhs: jax.Array
    middle: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    eigenvalues: jax.Array
    correlations: jax.Array
    teacher_span_residual: jax.Array
    student_span_residual: jax.Array


class RepLogitBound(NamedTuple):
    """``lhs = d²_rep ≤ rhs = (d₁+1)·mean ‖L₁⁻¹‖₂²·d²_logit`` (see :func:`rep_logit_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    logit_distance_sq: jax.Array
    errors: jax.Array
    subset_rhs: jax.Array
    subset_holds: jax.Array
    inverse_norm_sq: jax.Array
    included: jax.Array


class KLLogitBound(NamedTuple):
    """``lhs = d²_logit ≤ rhs = KL/τ²`` (see :func:`kl_logit_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    kl: jax.Array
    tau: jax.Array
    rhs_per_input: jax.Array
    holds_per_input: jax.Array
    slack_per_input: jax.Array


class LLVSVDBound(NamedTuple):
    """``lhs = d_SVD ≤ rhs = 2·M·d_LLV`` and ``lhs ≤ sharp_rhs`` (see :func:`llv_svd_bound`)."""

    lhs: jax.Array
    rhs: jax.Array
    holds: jax.Array
    slack: jax.Array
    sharp_rhs: jax.Array
    sharp_holds: jax.Array
    llv: jax.Array
    label_term: jax.Array
    input_term: jax.Array
    embedding_part: jax.Array
    unembedding_part: jax.Array
    label_pivot: jax.Array
    input_set: jax.Array


def _holds(lhs, rhs):
    margin = 1e3 * jnp.finfo(jnp.result_type(lhs, rhs)).eps * (jnp.abs(lhs) + jnp.abs(rhs))
    return lhs <= rhs + margin


def _slack(lhs, rhs):
    return jnp.where(lhs > 0, rhs / jnp.where(lhs > 0, lhs, 1.0), jnp.inf)


@functools.partial(jax.jit, static_argnames=("prepare", "pair", "batch_size"))
def _over_pairs(prepare, pair, teacher, student, extra, batch_size):
    """``pair(prepare(*teacher), *student, *extra)`` for one pair or mapped over stacked sides."""
    t_stacked, s_stacked = teacher[0].ndim == 3, student[0].ndim == 3
    if not (t_stacked or s_stacked):
        return pair(prepare(*teacher), *student, *extra)
    batch = dividing_batch_size((teacher if t_stacked else student)[0].shape[0], batch_size)
    if not t_stacked:
        state = prepare(*teacher)
        return jax.lax.map(lambda s: pair(state, *s, *extra), student, batch_size=batch)
    if not s_stacked:
        return jax.lax.map(lambda t: pair(prepare(*t), *student, *extra), teacher, batch_size=batch)
    return jax.lax.map(lambda ts: pair(prepare(*ts[0]), *ts[1], *extra), (teacher, student), batch_size=batch)
    return jax.lax.map(lambda ts: pair(prepare(*ts[0]), *ts[1], *extra), (teacher, student),
                       batch_size=dividing_batch_size(teacher[0].shape[0], batch_size))



def _side_arrays(side: str, names, arrays):
    """Validates one model's arrays: all 2-D (one model) or all 3-D (a stack of pairs)."""
    arrays = [a if hasattr(a, "ndim") else np.asarray(a) for a in arrays]
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1 or ranks.pop() not in (2, 3):
        raise ValueError(f"{side} arrays ({', '.join(names)}) must all be 2-D (one model) or all 3-D (a stack)")
    rank = arrays[0].ndim
    checked = [_validate.as_float_array(n, a, ndim=rank) for n, a in zip(names, arrays)]
    if rank == 3 and len({a.shape[0] for a in checked}) > 1:
        raise ValueError(f"{side} stacks differ in their number of pairs: {[a.shape[0] for a in checked]}")
    return checked


def _check_pair_counts(teacher, student):
    if teacher[0].ndim == 3 and student[0].ndim == 3 and teacher[0].shape[0] != student[0].shape[0]:
        raise ValueError(f"teacher and student stacks hold {teacher[0].shape[0]} and {student[0].shape[0]} pairs")


def _model(a):
    """Shape of one model's array (without a pair axis)."""
    return a.shape[-2:]


# --------------------------------------------------------------------------- CCA–logit


def _cca_teacher(embeddings, logits):
    basis = jnp.linalg.qr(center_columns(embeddings))[0]
    centred = center_columns(center_logits(logits, validate=False))
    n = logits.shape[0]
    eigenvalues = jnp.square(jnp.linalg.svd(centred, compute_uv=False)) / n
    residual = squared_norm(centred - matmul(basis, matmul(basis.T, centred))) / n
    return basis, center_logits(logits, validate=False), eigenvalues, residual


def _cca_pair(state, embeddings, logits):
    basis_t, clr_t, eigenvalues, residual_t = state
    n = logits.shape[0]
    basis_s = jnp.linalg.qr(center_columns(embeddings))[0]
    rho = jnp.clip(jnp.linalg.svd(matmul(basis_t.T, basis_s), compute_uv=False), 0.0, 1.0)
    size = max(rho.shape[0], eigenvalues.shape[0])
    rho = jnp.pad(rho, (0, size - rho.shape[0]))
    lam = jnp.pad(eigenvalues, (0, size - eigenvalues.shape[0]))
    lhs = jnp.sum((1.0 - jnp.square(rho)) * lam)
    difference = clr_t - center_logits(logits, validate=False)
    rhs = squared_norm(difference) / n
    middle = squared_norm(center_columns(difference)) / n
    clr_s = center_columns(center_logits(logits, validate=False))
    residual_s = squared_norm(clr_s - matmul(basis_s, matmul(basis_s.T, clr_s))) / n
    holds = _holds(lhs, middle) & _holds(middle, rhs)
    return CCALogitBound(lhs, middle, rhs, holds, _slack(lhs, rhs), lam, rho, residual_t, residual_s)


def cca_logit_bound(teacher_embeddings, student_embeddings, teacher_logits, student_logits,
                    batch_size: int = 16, validate: bool = True) -> CCALogitBound:
    """CCA–logit bound (arXiv 2602.15438, Thm F.1 in centred form), for one or many pairs.

        Σᵢ (1 − ρᵢ²) λᵢ  ≤  (1/n) Σ_x ‖(Z̄_t − E Z̄_t) − (Z̄_s − E Z̄_s)‖²  ≤  d²_logit

    λ: eigenvalues of ``Cov_x(Z̄_t)`` (1/n), descending. ρ: canonical correlations of the
    *embeddings* (f_t, f_s), descending; both padded with zeros to a common length.

    Why it holds (exact whenever each model's centred logits lie in the span of its own
    centred embeddings, i.e. ``Z = F Gᵀ`` plus any per-label bias and per-input shift):
    write ``Z̃_t = Q_t W`` (Q_t an orthonormal basis of the centred f_t) and let P_s project
    onto the centred f_s. Since ``Z̃_s`` lies in range(P_s), the middle term is at least the
    regression residual ``(1/n)‖(I − P_s)Z̃_t‖² = Σᵢ (1 − ρᵢ²) aᵢ`` with
    ``Q_tᵀP_sQ_t = U diag(ρ²) Uᵀ`` and ``a = diag((1/n)UᵀWWᵀU)``. By Schur–Horn ``a`` is
    majorised by λ, and a sum with increasing weights ``1 − ρᵢ²`` is smallest when the
    largest λ meets the smallest weight: ``Σ(1 − ρᵢ²)λᵢ`` (λ sorted descending). The last
    step is ``d²_logit = middle + ‖E(Z̄_t − Z̄_s)‖²``. The ingredients
    ``teacher_span_residual``/``student_span_residual`` (``(1/n)‖(I − P)Z̃‖²``) measure
    any violation of the precondition; with the arrays of a ``Z = F Gᵀ + b`` model they are
    rounding-level. The bound is attained when ``Z̃_s = P_s Z̃_t`` with the top canonical
    directions aligned to the top eigenvectors.

    Args:
      teacher_embeddings (n, d_t), student_embeddings (n, d_s), teacher_logits (n, K),
        student_logits (n, K); each side may carry a leading pair axis.

    Raises ValueError for n <= d_t + d_s (every ρ would be 1 and the bound empty; no
    ridge is offered because ridge-shrunk ρ would no longer give a valid bound).
    """
    teacher, student = (teacher_embeddings, teacher_logits), (student_embeddings, student_logits)
    if validate:
        teacher = _side_arrays("teacher", ("teacher_embeddings", "teacher_logits"), teacher)
        student = _side_arrays("student", ("student_embeddings", "student_logits"), student)
        _check_pair_counts(teacher, student)
        n, (d_t, d_s) = _model(teacher[0])[0], (_model(teacher[0])[1], _model(student[0])[1])
        if len({_model(a)[0] for a in (*teacher, *student)}) > 1:
            raise ValueError("row (input) counts differ between the embeddings and logits")
        if _model(teacher[1])[1] != _model(student[1])[1] or _model(teacher[1])[1] < 2:
            raise ValueError(f"logits need the same number K >= 2 of labels, got {_model(teacher[1])[1]} "
                             f"and {_model(student[1])[1]}")
        if n <= d_t + d_s:
            raise ValueError(f"too few samples for the CCA-logit bound: n={n} <= d_t+d_s={d_t + d_s} makes every "
                             "canonical correlation 1")
    return _over_pairs(_cca_teacher, _cca_pair, tuple(teacher), tuple(student), (), batch_size)


# --------------------------------------------------------------------------- rep–logit


def _rep_teacher(embeddings, unembeddings):
    basis, factor = jnp.linalg.qr(embeddings)
    return basis, factor, unembeddings


def _joint_factor(basis_t, factor_t, embeddings):
    """Triangular R of ``[F₁, F₂]`` from the teacher's QR: ``[[R₁₁, Q₁ᵀF₂], [0, R₂₂]]``."""
    cross = matmul(basis_t.T, embeddings)
    lower = upper_factor(embeddings - matmul(basis_t, cross))
    top = jnp.concatenate([factor_t, cross], axis=1)
    bottom = jnp.concatenate([jnp.zeros((lower.shape[0], factor_t.shape[1]), lower.dtype), lower], axis=1)
    return jnp.concatenate([top, bottom], axis=0)


def _rep_pair(state, f2, g2, pivots, subsets, max_condition):
    basis, factor_t, g1 = state
    n, d1 = basis.shape[0], g1.shape[1]
    factor = _joint_factor(basis, factor_t, f2)
    logit_sq = distance_from_raw_factor(factor, n, g1, g2, squared=True)
    l1 = g1[subsets] - g1[pivots][:, None, None, :]
    l2 = g2[subsets] - g2[pivots][:, None, None, :]
    a = jnp.linalg.solve(l1, l2)
    eye = jnp.broadcast_to(jnp.eye(d1, dtype=f2.dtype), a.shape[:-1] + (d1,))
    maps = jnp.concatenate([eye, -a], axis=-1)
    errors = squared_norm(jnp.einsum("ij,pckj->pcik", factor, maps, precision="highest")) / n
    deltas = jnp.concatenate([l1, -l2], axis=-1)
    delta_sq = squared_norm(jnp.einsum("ij,pckj->pcik", factor, deltas, precision="highest")) / n
    singular = jnp.linalg.svd(l1, compute_uv=False)
    inverse_norm_sq = 1.0 / jnp.square(singular[..., -1])
    condition = jnp.sqrt(jnp.sum(jnp.square(singular), -1) * jnp.sum(1.0 / jnp.square(singular), -1))
    included = jnp.isfinite(condition) & (condition <= max_condition)
    count = jnp.maximum(jnp.sum(included), 1)
    lhs = jnp.sum(jnp.where(included, errors, 0.0)) / count
    mean_inverse = jnp.sum(jnp.where(included, inverse_norm_sq, 0.0)) / count
    rhs = (d1 + 1) * mean_inverse * logit_sq
    subset_rhs = inverse_norm_sq * delta_sq
    subset_holds = jnp.where(included, _holds(errors, subset_rhs), True)
    holds = _holds(lhs, rhs) & jnp.all(subset_holds)
    return RepLogitBound(lhs, rhs, holds, _slack(lhs, rhs), logit_sq, errors, subset_rhs, subset_holds,
                         inverse_norm_sq, included)


def rep_logit_bound(f1, g1, f2, g2, pivots, subsets, max_condition: float = DEFAULT_MAX_CONDITION,
                    batch_size: int = 16, validate: bool = True) -> RepLogitBound:
    """d_rep–logit bound (arXiv 2602.15438), per pivot/subset and globally, for one or many pairs.

    Per pivot p and subset S (|S| = d₁), with ``L₁ = G₁[S] − G₁[p]``, ``L₂ = G₂[S] − G₂[p]``
    and ``Δ_y(x) = (Z̄₁_y − Z̄₁_p) − (Z̄₂_y − Z̄₂_p)`` for y ∈ S (``Z = F Gᵀ``):

        e_pS = (1/n)Σ_x ‖f₁ − L₁⁻¹L₂ f₂‖²  ≤  ‖L₁⁻¹‖₂² · (1/n)Σ_x ‖Δ(x)‖²

    since ``L₁(f₁ − L₁⁻¹L₂f₂) = L₁f₁ − L₂f₂ = Δ`` exactly (``‖L₁⁻¹‖₂ = 1/σ_min(L₁)``).
    Globally, with ``D = Z̄₁ − Z̄₂``: ``‖Δ‖² = Σ_{y∈S}(D_y − D_p)² ≤ (d₁+1)(Σ_{y∈S}D_y² + D_p²)
    ≤ (d₁+1)‖D‖²`` (``(a−b)² ≤ (1+t)a² + (1+1/t)b²`` with t = d₁; the constant is sharp:
    it is the top eigenvalue of that quadratic form), hence

        d²_rep = mean_pS e_pS  ≤  (d₁ + 1) · mean_pS ‖L₁⁻¹‖₂² · d²_logit.

    DESIGN.md's ``2(d₁+1)`` also holds but is a factor 2 looser. Means run over the
    subsets that ``rep_dissimilarity`` keeps (Frobenius condition ≤ ``max_condition``), so
    ``lhs`` equals its d²_rep. Logits are the bias-free ``F Gᵀ`` of the representations.

    Args:
      f1, g1: teacher embeddings (n, d₁) and unembeddings (K, d₁); f2, g2: student's.
      pivots (P,), subsets (P, C, d₁): as from :func:`repsim_jax.metrics.sample_pivot_subsets`.
    """
    teacher, student = (f1, g1), (f2, g2)
    if validate:
        teacher = _side_arrays("teacher", ("f1", "g1"), teacher)
        student = _side_arrays("student", ("f2", "g2"), student)
        _check_pair_counts(teacher, student)
        (n1, d1), (k1, w1), (n2, d2), (k2, w2) = (_model(a) for a in (*teacher, *student))
        if n1 != n2 or k1 != k2 or d1 != w1 or d2 != w2:
            raise ValueError(f"shapes do not match: f1 {(n1, d1)}, g1 {(k1, w1)}, f2 {(n2, d2)}, g2 {(k2, w2)}")
        if k1 < d1 + 1:
            raise ValueError(f"too few labels for d_rep: need K >= d1 + 1 = {d1 + 1}, got K={k1}")
        pivots, subsets = _validate_subsets(pivots, subsets, k1, d1)
        max_condition = _validate.non_negative("max_condition", max_condition)
    extra = (pivots, subsets, max_condition)
    return _over_pairs(_rep_teacher, _rep_pair, tuple(teacher), tuple(student), extra, batch_size)


# --------------------------------------------------------------------------- KL–logit


def _kl_teacher(logits):
    return (jax.nn.log_softmax(logits, axis=-1),)


def _kl_pair(state, logits):
    (log_p,) = state
    log_q = jax.nn.log_softmax(logits, axis=-1)
    kl_x = jnp.maximum(jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1), 0.0)
    lhs_x = jnp.sum(jnp.square(center_logits(log_p - log_q, validate=False)), axis=-1)
    log_tau_x = jnp.minimum(jnp.min(log_p, axis=-1), jnp.min(log_q, axis=-1))
    rhs_x = jnp.where(kl_x > 0, kl_x * jnp.exp(-2.0 * log_tau_x), 0.0)
    lhs, kl, log_tau = jnp.mean(lhs_x), jnp.mean(kl_x), jnp.min(log_tau_x)
    rhs = jnp.where(kl > 0, kl * jnp.exp(-2.0 * log_tau), 0.0)
    holds_x = _holds(lhs_x, rhs_x)
    return KLLogitBound(lhs, rhs, _holds(lhs, rhs), _slack(lhs, rhs), kl, jnp.exp(log_tau), jnp.mean(rhs_x),
                        jnp.all(holds_x), _slack(lhs, jnp.mean(rhs_x)))


def kl_logit_bound(logits_p, logits_q, batch_size: int = 16, validate: bool = True) -> KLLogitBound:
    """KL–logit bound: if every probability of both models is ≥ τ, ``d²_logit ≤ KL/τ²``.

    Per input, with ``u = log p − log q`` and ``v = p − q`` (``Σ v = 0``):
    ``‖clr p − clr q‖² = ‖u − mean u‖² ≤ ‖u‖² ≤ ‖v‖²/τ_x²`` (log is 1/τ-Lipschitz on [τ, 1])
    ``≤ ‖v‖₁²/(2τ_x²)`` (v's positive and negative parts each have ℓ₁ mass ‖v‖₁/2)
    ``≤ KL_x/τ_x²`` (Pinsker: ``‖v‖₁² ≤ 2 KL_x``), τ_x the smallest probability of either
    model at x. Averaging: ``d²_logit ≤ mean_x KL_x/τ_x² ≤ KL/τ²`` with τ = min_x τ_x.
    DESIGN.md's ``(2/τ²)·KL`` (Pinsker without the ‖v‖₂ ≤ ‖v‖₁/√2 step) is 2× looser.
    Since τ ≤ 1/K the factor is ≥ K²: ``slack`` (rhs/lhs) reports how vacuous it is.

    Returns global (``lhs``, ``rhs``, ``holds``, ``slack``) and per-input
    (``rhs_per_input = mean_x KL_x/τ_x²``, ``holds_per_input`` = the inequality at every
    x) forms; KL is ``KL(p ‖ q)`` (p = teacher). ``rhs`` is +inf when ``1/τ²`` overflows.
    """
    teacher, student = (logits_p,), (logits_q,)
    if validate:
        teacher = _side_arrays("teacher", ("logits_p",), teacher)
        student = _side_arrays("student", ("logits_q",), student)
        _check_pair_counts(teacher, student)
        if _model(teacher[0]) != _model(student[0]):
            raise ValueError(f"logit shapes differ: {_model(teacher[0])} and {_model(student[0])}")
        if _model(teacher[0])[1] < 2:
            raise ValueError("too few labels: the KL-logit bound needs K >= 2")
    return _over_pairs(_kl_teacher, _kl_pair, tuple(teacher), tuple(student), (), batch_size)


# --------------------------------------------------------------------------- LLV–SVD


def _llv_teacher(f1, g1):
    return f1, g1


def _llv_pair(state, f2, g2, labels, label_pivot, subsets, input_sets, weight):
    f1, g1 = state
    llv = _llv(matmul(f1, g1.T), matmul(f2, g2.T), labels, label_pivot, input_sets, weight)
    members = labels[jnp.argsort(labels == llv.label_pivot, stable=True)][:-1]
    by_subset = jax.vmap(lambda s: _side(f1, g1, f2, g2, llv.label_pivot, members[s]))(subsets)
    embedding_part = 1.0 - jnp.min(by_subset)
    unembedding_part = 1.0 - _side(g1, f1, g2, f2, llv.input_set[0], llv.input_set[1:])
    lhs = jnp.maximum(embedding_part, unembedding_part)
    rhs = 2.0 * subsets.shape[-1] * llv.value
    sharp_rhs = jnp.minimum(1.0, 2.0 * jnp.square(jnp.maximum(llv.label_term, llv.input_term)))
    return LLVSVDBound(lhs, rhs, _holds(lhs, rhs), _slack(lhs, rhs), sharp_rhs, _holds(lhs, sharp_rhs), llv.value,
                       llv.label_term, llv.input_term, embedding_part, unembedding_part, llv.label_pivot,
                       llv.input_set)


def llv_svd_bound(f1, g1, f2, g2, subsets, input_sets, labels=None, label_pivot=None,
                  weight: float = 1e-5, batch_size: int = 16, validate: bool = True) -> LLVSVDBound:
    """``d_SVD ≤ 2·M·d_LLV`` (arXiv 2506.03784), with the sharper ``d_SVD ≤ min(1, 2·max(T₁,T₂)²)``.

    d_LLV and d_SVD are those of :mod:`repsim_jax.metrics.llv` on the logits ``F Gᵀ``:
    the pivot label minimises T₁ over ``labels`` (unless ``label_pivot`` is given), the
    input set minimising T₂ among ``input_sets`` is used, and d_SVD takes the worst of the
    label subsets ``subsets`` (positions into ``labels`` with the pivot removed, so the same
    positions serve every pair) and of the chosen input set. M is the subset size.

    Proof of the form implemented. Let ``X``, ``Y`` (n × M) be the standardised log-ratio
    columns of the two models and ``C = XᵀY/n`` their correlation matrix. Then
    ``‖X − Y‖²/n = 2M − 2 tr C`` and ``tr C ≤ ‖C‖_* = M·m_SVD``, so
    ``d_SVD = 1 − m_SVD ≤ (1/2M)Σ_y Var(x_y − y_y) ≤ ½ max_y Var(x_y − y_y) ≤ 2T₁²`` because
    ``Std(x_y − y_y) ≤ a_y + b_y ≤ 2T₁`` (triangle inequality for Std). The unembedding
    side is identical with T₂ (samples are labels). As m_SVD ≥ 0, d_SVD ≤ 1 as well, and
    ``min(1, 2t²) ≤ 2Mt`` for every t ≥ 0 when M ≥ 1, which gives the paper's form
    ``2·M·d_LLV`` (d_LLV ≥ max(T₁, T₂)) as a corollary.

    Args:
      f1, g1, f2, g2: teacher and student representations (a side may be stacked).
      subsets: (C, M) positions in the pivot-free label set; input_sets: (S, M+1) inputs.
      labels: the label set (default all); weight: λ of d^λ_LLV.
    """
    teacher, student = (f1, g1), (f2, g2)
    if validate:
        teacher = _side_arrays("teacher", ("f1", "g1"), teacher)
        student = _side_arrays("student", ("f2", "g2"), student)
        _check_pair_counts(teacher, student)
        n, k = _model(teacher[0])[0], _model(teacher[1])[0]
        labels = jnp.arange(k, dtype=jnp.int32) if labels is None else _validate.label_indices("labels", labels, k, 1)
        if len(set(labels.tolist())) != labels.shape[0] or labels.shape[0] < 2:
            raise ValueError("labels must hold at least 2 distinct label indices")
        subsets = _validate.label_indices("subsets", subsets, labels.shape[0] - 1, ndim=2)
        input_sets = _validate_sets("input_sets", input_sets, n)
        if input_sets.shape[1] != subsets.shape[1] + 1:
            raise ValueError(f"input_sets rows need M + 1 = {subsets.shape[1] + 1} inputs, got {input_sets.shape[1]}")
        if label_pivot is not None and int(label_pivot) not in set(labels.tolist()):
            raise ValueError(f"label_pivot {label_pivot} is not in the label set")
        weight = _validate.non_negative("weight", weight)
    extra = (labels, label_pivot, subsets, input_sets, weight)
    return _over_pairs(_llv_teacher, _llv_pair, tuple(teacher), tuple(student), extra, batch_size)
