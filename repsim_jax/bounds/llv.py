"""The LLV–SVD bound ``d_SVD ≤ 2·M·d_LLV`` (arXiv 2506.03784): :func:`llv_svd_bound`."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from repsim_jax.bounds import verdict
from repsim_jax.bounds.pairs import check_pair_counts, map_pairs, model_shape, side_arrays
from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import matmul
from repsim_jax.metrics.llv import llv_terms, pivot_svd_similarity, validate_sets

LLVSVDBound = verdict.result_type(
    "LLVSVDBound",
    ("lhs", "rhs"),
    (
        "sharp_rhs",
        "sharp_holds",
        "llv",
        "label_term",
        "input_term",
        "embedding_part",
        "unembedding_part",
        "label_pivot",
        "input_set",
    ),
    """``lhs = d_SVD ≤ rhs = 2·M·d_LLV`` and ``lhs ≤ sharp_rhs`` (see :func:`llv_svd_bound`).""",
    __name__,
)


def _prepare(f1, g1, labels, label_pivot, subsets, input_sets, weight):
    return f1, g1, labels, label_pivot, subsets, input_sets, weight


def _pair(state, f2, g2):
    f1, g1, labels, label_pivot, subsets, input_sets, weight = state
    llv = llv_terms(matmul(f1, g1.T), matmul(f2, g2.T), labels, label_pivot, input_sets, weight)
    members = labels[jnp.argsort(labels == llv.label_pivot, stable=True)][:-1]
    by_subset = jax.vmap(lambda s: pivot_svd_similarity(f1, g1, f2, g2, llv.label_pivot, members[s]))(subsets)
    embedding_part = 1.0 - jnp.min(by_subset)
    unembedding_part = 1.0 - pivot_svd_similarity(g1, f1, g2, f2, llv.input_set[0], llv.input_set[1:])
    lhs = jnp.maximum(embedding_part, unembedding_part)
    rhs = 2.0 * subsets.shape[-1] * llv.value
    sharp_rhs = jnp.minimum(1.0, 2.0 * jnp.square(jnp.maximum(llv.label_term, llv.input_term)))
    tolerance = verdict.tolerance(lhs, unit=1.0)
    holds = verdict.holds(lhs, rhs, tolerance)
    return LLVSVDBound(
        **verdict.decided(lhs, rhs, holds, tolerance, lhs <= rhs),
        sharp_rhs=sharp_rhs,
        sharp_holds=verdict.holds(lhs, sharp_rhs, tolerance),
        llv=llv.value,
        label_term=llv.label_term,
        input_term=llv.input_term,
        embedding_part=embedding_part,
        unembedding_part=unembedding_part,
        label_pivot=llv.label_pivot,
        input_set=llv.input_set,
    )


def llv_svd_bound(
    f1,
    g1,
    f2,
    g2,
    subsets,
    input_sets,
    *,
    labels=None,
    label_pivot=None,
    weight: float = 1e-5,
    pairs_per_step: int | None = None,
    validate: bool = True,
) -> LLVSVDBound:
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
    ``2·M·d_LLV`` (d_LLV ≥ max(T₁, T₂)) as a corollary (docs/theory.md §3.4).

    Args:
      f1, g1, f2, g2: teacher and student representations (a side may be stacked).
      subsets: (C, M) positions in the pivot-free label set; input_sets: (S, M+1) inputs.
      labels: the label set (default all); label_pivot: the pivot label (default: the
        minimiser of T₁); weight: λ of d^λ_LLV.
      pairs_per_step, validate: as in :func:`~repsim_jax.bounds.cca_logit_bound`.
    """
    teacher, student = (f1, g1), (f2, g2)
    if labels is None:  # every label: g1's rows (its last two axes are K × d, stacked or not)
        labels = jnp.arange(jnp.shape(g1)[-2], dtype=jnp.int32)
    if validate:
        teacher = side_arrays("teacher", ("f1", "g1"), teacher)
        student = side_arrays("student", ("f2", "g2"), student)
        check_pair_counts(teacher, student)
        n, k = model_shape(teacher[0])[0], model_shape(teacher[1])[0]
        labels = checks.label_indices("labels", labels, k, 1)
        if len(set(labels.tolist())) != labels.shape[0] or labels.shape[0] < 2:
            raise InputError("labels must hold at least 2 distinct label indices")
        subsets = checks.label_indices("subsets", subsets, labels.shape[0] - 1, ndim=2)
        input_sets = validate_sets("input_sets", input_sets, n)
        if input_sets.shape[1] != subsets.shape[1] + 1:
            raise InputError(f"input_sets rows need M + 1 = {subsets.shape[1] + 1} inputs, got {input_sets.shape[1]}")
        if label_pivot is not None and int(label_pivot) not in set(labels.tolist()):
            raise InputError(f"label_pivot {label_pivot} is not in the label set")
        weight = checks.non_negative("weight", weight)
    extra = (labels, label_pivot, subsets, input_sets, weight)
    return map_pairs(_prepare, _pair, teacher, student, extra, pairs_per_step)
