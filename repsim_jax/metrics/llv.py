"""Log-likelihood-variance distance d_LLV and PLS-SVD dissimilarity d_SVD (arXiv 2506.03784).

Both read a model ``p(y|x) ∝ exp(f(x)ᵀg(y))`` through pivot differences, which are
exactly what the identifiability class leaves invariant:

    u_y(x) = log p(y|x) − log p(y₀|x) = (g(y) − g(y₀))ᵀ f(x)          (label pivot y₀)
    v_i(y) = log p(y|xᵢ) − log p(y|x₀) = (f(xᵢ) − f(x₀))ᵀ g(y) + c_i   (input pivot x₀)

**d_LLV** (the paper's d^λ_LLV; the form below follows the authors' public reference
code). With ``ℓ = log p``, σ_y = Std_x(u_y), σ'_y the same for the second model,

    a_y = Std_x(ℓ_y/σ_y − ℓ'_y/σ'_y),   b_y = Std_x(ℓ_y₀/σ_y − ℓ'_y₀/σ'_y),   c_y = |σ_y − σ'_y|
    T₁ = max_{y ≠ y₀} max(a_y, b_y),     T₃ = max_{y ≠ y₀} c_y

over a label set (the pivot chosen to minimise T₁ unless given), and T₂, T₄ the same
with the roles of inputs and labels swapped (variances over labels, for an input pivot
x₀ and d further inputs; among candidate input sets the one minimising T₂ is used).
``d^λ_LLV = max(T₁, T₂, λT₃, λT₄)``. Since ``Std(A − B) ≤ Std A + Std B``, every
standardised log-ratio obeys ``Std(u_y/σ_y − u'_y/σ'_y) ≤ a_y + b_y ≤ 2T₁``: this is what
makes d_LLV control the representations (see :func:`repsim_jax.bounds.llv_svd_bound`).
Standard deviations are ddof-free ratios here, so 1/n or 1/(n−1) give the same value.

**d_SVD** (PLS-SVD): for one label pivot and a subset S of d labels, ``U = F Lᵀ`` with
``L = G[S] − G[y₀]`` holds the d log-ratios above; standardise each column of U and U'
and take ``m_SVD = mean singular value of the cross-correlation matrix Corr(U, U')`` (the
mean covariance of the PLS-SVD score pairs). ``d_SVD = 1 − m_SVD``, worst case (max) over
the subsets; the unembedding side does the same with ``V = G Nᵀ``,
``N = F[xᵢ] − F[x₀]`` (samples are labels) over the input sets. The result is the max of
both sides; 0 for models in the same identifiability class.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import matmul, power_of_two_scale

DEFAULT_WEIGHT = 1e-5


class LLVDistance(NamedTuple):
    """Result of :func:`llv_distance_details`.

    value: d^λ_LLV = max(T₁, T₂, λT₃, λT₄).
    label_term, input_term: T₁ and T₂.
    label_scale_gap, input_scale_gap: T₃ and T₄ (before the weight λ).
    label_pivot: the pivot label used; input_set: row of ``input_sets`` used (pivot first).
    min_scale: smallest σ over both models and both sides (0 means a degenerate pivot).
    """

    value: jax.Array
    label_term: jax.Array
    input_term: jax.Array
    label_scale_gap: jax.Array
    input_scale_gap: jax.Array
    label_pivot: jax.Array
    input_set: jax.Array
    min_scale: jax.Array


class SVDDissimilarity(NamedTuple):
    """Result of :func:`svd_dissimilarity_details`.

    value: max(embedding_part, unembedding_part).
    embedding_part: max over label subsets of 1 − m_SVD(F L₁ᵀ, F' L₂ᵀ).
    unembedding_part: max over input sets of 1 − m_SVD(G N₁ᵀ, G' N₂ᵀ).
    label_similarity: m_SVD per (pivot, subset), shape (P, C).
    input_similarity: m_SVD per input set, shape (S,).
    """

    value: jax.Array
    embedding_part: jax.Array
    unembedding_part: jax.Array
    label_similarity: jax.Array
    input_similarity: jax.Array


def _std(x):
    """Standard deviation over the sample axis 0 (1/n), of each column divided by a power of
    2 first so that the squares neither overflow nor underflow (logits of any size)."""
    scale = power_of_two_scale(x, axis=0)
    x = x / scale
    return scale[0] * jnp.sqrt(jnp.mean(jnp.square(x - jnp.mean(x, axis=0)), axis=0))


def pivot_scores(l1, l2, pivot, members):
    """``(max_y max(a_y, b_y), max_y |σ_y − σ'_y|, min σ)`` over ``members`` ≠ ``pivot``.

    ``l1``, ``l2``: (samples, items) log-probabilities; items are labels for T₁/T₃ and
    inputs for T₂/T₄ (pass the transposed matrices).
    """
    keep = members != pivot
    a1, a2 = l1[:, members], l2[:, members]
    p1, p2 = l1[:, pivot][:, None], l2[:, pivot][:, None]
    s1, s2 = _std(a1 - p1), _std(a2 - p2)
    safe1, safe2 = jnp.where(keep, s1, 1.0), jnp.where(keep, s2, 1.0)
    rest = _std(a1 / safe1 - a2 / safe2)
    at_pivot = _std(p1 / safe1 - p2 / safe2)
    term = jnp.max(jnp.where(keep, jnp.maximum(rest, at_pivot), 0.0))
    gap = jnp.max(jnp.where(keep, jnp.abs(s1 - s2), 0.0))
    min_scale = jnp.min(jnp.where(keep, jnp.minimum(s1, s2), jnp.inf))
    return term, gap, min_scale


def llv_terms(logits1, logits2, labels, label_pivot, input_sets, weight):
    l1, l2 = jax.nn.log_softmax(logits1, axis=-1), jax.nn.log_softmax(logits2, axis=-1)
    candidates = labels if label_pivot is None else jnp.reshape(label_pivot, (1,))
    t1, t3, s_label = jax.vmap(lambda p: pivot_scores(l1, l2, p, labels))(candidates)
    best_label = jnp.argmin(t1)
    by_set = lambda s: pivot_scores(l1.T, l2.T, s[0], s[1:])
    t2, t4, s_input = jax.vmap(by_set)(input_sets)
    best_set = jnp.argmin(t2)
    terms = (t1[best_label], t2[best_set], t3[best_label], t4[best_set])
    value = jnp.maximum(jnp.maximum(terms[0], terms[1]), weight * jnp.maximum(terms[2], terms[3]))
    min_scale = jnp.minimum(s_label[best_label], s_input[best_set])
    return LLVDistance(value, *terms, candidates[best_label], input_sets[best_set], min_scale)


llv_kernel = jax.jit(llv_terms)


def sample_input_sets(key, num_inputs: int, dim: int, num_sets: int) -> jax.Array:
    """``num_sets`` random sets of ``dim + 1`` distinct input indices (pivot first), (S, dim+1)."""
    if num_inputs < dim + 1:
        raise InputError(f"too few samples: input sets of {dim + 1} inputs need n >= {dim + 1}, got {num_inputs}")
    if dim < 1 or num_sets < 1:
        raise InputError("dim and num_sets must be >= 1")
    noise = jax.random.uniform(key, (num_sets, num_inputs))
    return jnp.argsort(noise, axis=-1)[:, : dim + 1].astype(jnp.int32)


def validate_sets(name, sets, limit):
    sets = checks.label_indices(name, sets, limit, ndim=2)
    if sets.shape[1] < 2:
        raise InputError(f"{name} rows need a pivot and at least one more index, got width {sets.shape[1]}")
    ordered = jnp.sort(sets, axis=-1)
    if bool(jnp.any(ordered[:, 1:] == ordered[:, :-1])):
        raise InputError(f"a row of {name} repeats an index")
    return sets


def _defaults(shape, dim, labels, input_sets, num_input_sets, seed):
    """``labels`` (default all K labels) and ``input_sets`` (default ``num_input_sets``
    random sets of ``dim + 1`` inputs from ``seed``) for (n, K) logits."""
    n, k = shape
    if labels is None:
        labels = jnp.arange(k, dtype=jnp.int32)
    if input_sets is None:
        if dim is None:
            raise InputError("pass dim (the representation dimension) or explicit input_sets")
        input_sets = sample_input_sets(jax.random.key(seed), n, int(dim), num_input_sets)
    return labels, input_sets


def _validate_llv(logits1, logits2, dim, labels, label_pivot, input_sets, weight, num_input_sets, seed):
    logits1 = checks.as_float_array("logits1", logits1, ndim=2)
    logits2 = checks.as_float_array("logits2", logits2, ndim=2)
    checks.same_shape(logits1=logits1, logits2=logits2)
    n, k = logits1.shape
    checks.min_rows(logits1, 3, "d_LLV")
    labels, input_sets = _defaults(logits1.shape, dim, labels, input_sets, num_input_sets, seed)
    labels = checks.label_indices("labels", labels, k, 1)
    if labels.shape[0] < 2 or len(set(labels.tolist())) != labels.shape[0]:
        raise InputError("labels must hold at least 2 distinct label indices")
    if label_pivot is not None:
        label_pivot = int(label_pivot)
        if label_pivot not in set(labels.tolist()):
            raise InputError(f"label_pivot {label_pivot} is not in the label set")
    input_sets = validate_sets("input_sets", input_sets, n)
    return logits1, logits2, labels, label_pivot, input_sets, checks.non_negative("weight", weight)


def llv_distance_details(
    logits1,
    logits2,
    dim=None,
    *,
    labels=None,
    label_pivot=None,
    input_sets=None,
    weight: float = DEFAULT_WEIGHT,
    num_input_sets: int = 100,
    seed: int = 0,
    validate: bool = True,
) -> LLVDistance:
    """d^λ_LLV with its terms and the pivots it chose; see the module docstring.

    Args:
      logits1, logits2: (n, K) logits (or log-probabilities) of two models on the same inputs.
      dim: representation dimension d; input sets then hold d + 1 random inputs.
      labels: the label set (default all K labels); label_pivot: fixed pivot label, or
        None to use the pivot that minimises T₁ (as in 2506.03784's experiments).
      input_sets: (S, d+1) candidate input sets (pivot first; default ``num_input_sets``
        random ones from ``seed``); the set minimising T₂ is used.
      weight: λ, the weight of the scale-gap terms T₃, T₄ (1e-5 in the paper's experiments).
    """
    if validate:
        logits1, logits2, labels, label_pivot, input_sets, weight = _validate_llv(
            logits1, logits2, dim, labels, label_pivot, input_sets, weight, num_input_sets, seed
        )
    else:
        labels, input_sets = _defaults(jnp.shape(logits1), dim, labels, input_sets, num_input_sets, seed)
    result = llv_kernel(logits1, logits2, labels, label_pivot, input_sets, weight)
    if validate and not float(result.min_scale) > 0:
        raise InputError("singular case: a pivot difference log p(y|x) - log p(y0|x) has zero variance")
    return result


def llv_distance(logits1, logits2, dim=None, **kwargs) -> jax.Array:
    """d^λ_LLV(p₁, p₂) of arXiv 2506.03784 (0 for equal conditionals); see :func:`llv_distance_details`."""
    return llv_distance_details(logits1, logits2, dim, **kwargs).value


def pls_svd_similarity(u1, u2):
    """m_SVD: mean singular value of the correlation matrix between the columns of u1 and u2."""
    z1 = (u1 - jnp.mean(u1, axis=0)) / _std(u1)
    z2 = (u2 - jnp.mean(u2, axis=0)) / _std(u2)
    cross = matmul(z1.T, z2) / u1.shape[0]
    return jnp.mean(jnp.linalg.svd(cross, compute_uv=False))


def pivot_svd_similarity(x1, y1, x2, y2, pivot, members):
    """m_SVD of ``x (y[members] − y[pivot])ᵀ`` for both models."""
    l1, l2 = y1[members] - y1[pivot], y2[members] - y2[pivot]
    return pls_svd_similarity(matmul(x1, l1.T), matmul(x2, l2.T))


@jax.jit
def svd_kernel(f1, g1, f2, g2, pivots, subsets, input_sets):
    """Unvalidated :func:`svd_dissimilarity_details`."""
    by_label = jax.vmap(jax.vmap(lambda p, s: pivot_svd_similarity(f1, g1, f2, g2, p, s), (None, 0)), (0, 0))
    label_similarity = by_label(pivots, subsets)
    input_similarity = jax.vmap(lambda s: pivot_svd_similarity(g1, f1, g2, f2, s[0], s[1:]))(input_sets)
    embedding_part = 1.0 - jnp.min(label_similarity)
    unembedding_part = 1.0 - jnp.min(input_similarity)
    return SVDDissimilarity(
        jnp.maximum(embedding_part, unembedding_part),
        embedding_part,
        unembedding_part,
        label_similarity,
        input_similarity,
    )


def svd_dissimilarity_details(f1, g1, f2, g2, pivots, subsets, input_sets, *, validate: bool = True):
    """d_SVD of arXiv 2506.03784 (PLS-SVD of pivot-differenced representations), worst case.

    Args:
      f1, g1, f2, g2: embeddings (n, d₁), (n, d₂) and unembeddings (K, d₁), (K, d₂).
      pivots (P,), subsets (P, C, m): label pivots and subsets of m labels (pivot
        excluded), as from :func:`repsim_jax.metrics.sample_pivot_subsets`.
      input_sets: (S, m+1) input index sets, pivot input first.

    Returns ``SVDDissimilarity``; ``value = max(1 − min m_SVD over label subsets,
    1 − min m_SVD over input sets)``, 0 for identifiable-equivalent models.
    """
    if validate:
        from repsim_jax.metrics.identifiability import validate_subsets
        from repsim_jax.metrics.logit import validate_reps

        f1, g1, f2, g2 = validate_reps(f1, g1, f2, g2)
        pivots, subsets = validate_subsets(pivots, subsets, g1.shape[0], subsets.shape[-1])
        input_sets = validate_sets("input_sets", input_sets, f1.shape[0])
    result = svd_kernel(f1, g1, f2, g2, pivots, subsets, input_sets)
    if validate and not bool(jnp.isfinite(result.value)):
        raise InputError("singular case: a pivot-differenced column has zero variance")
    return result


def svd_dissimilarity(f1, g1, f2, g2, pivots, subsets, input_sets, *, validate: bool = True) -> jax.Array:
    """d_SVD (arXiv 2506.03784); see :func:`svd_dissimilarity_details`."""
    return svd_dissimilarity_details(f1, g1, f2, g2, pivots, subsets, input_sets, validate=validate).value
