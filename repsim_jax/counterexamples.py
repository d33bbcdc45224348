"""Model pairs whose distributions are close (or whose m_CCA is perfect) while their
representations are not: the counter-examples of arXiv 2602.15438 and 2506.03784.

Each constructor returns ``(f1, g1, f2, g2)`` (embeddings (n, d), unembeddings (K, d),
logits ``f gᵀ``) as float64 NumPy arrays; :func:`summarise` computes the figures.
(a), (b') and (c) follow the constructions in the authors' public code (facts only: angles,
lengths, noise, seeds; the code here is our own); see experiments/counterexamples.md for
how close the figures come.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import log_softmax

SWAP_5_6_7_8 = np.array([0, 1, 2, 3, 5, 4, 7, 6])
SWAPPED_UNEMBEDDING_ANGLES = np.pi / 16 * np.array([0.0, 1.0, 2.0, 3.0, 10.0, 16.0, 20.0, 26.0])
SWAPPED_INPUT_ANGLES = np.pi / 16 * np.array([0.0, 1.0, 2.0, 3.0, 13.0, 13.0, 23.0, 23.0])
TABLE1_PERMUTATION = np.array([5, 0, 2, 4, 6, 1, 3])
CLUSTERED_ANGLES = np.pi / 4 * np.array([0.0, 2.0, 4.0, 5.0, 7.0])


def _circle(angles, lengths):
    return np.stack([lengths * np.cos(angles), lengths * np.sin(angles)], axis=-1)


def swapped_unembeddings(length: float = 5.5, inputs_per_label: int = 500, seed: int = 0):
    """(a) Equal 2-D embeddings; 8 labels; labels 5↔6 and 7↔8 swap unembeddings.

    The construction of 2602.15438's example (authors' public code: repository
    bemigini/logit-distance-bounds-rep-sim, examples/small_kl_eq_emb_unemb_not_linear.py):
    all unembeddings have length ``length`` (5.5); labels 1–4 at angles 0, 1, 2, 3 · π/16,
    labels 5–8 at 10, 16, 20, 26 · π/16. ``inputs_per_label`` inputs per label (8 groups)
    at angles 0, 1, 2, 3, 13, 13, 23, 23 · π/16 plus U(−π/256, π/256) jitter, with lengths
    2 + |N(0, 1)|: inputs of labels 5 and 6 (7 and 8) sit on the bisector of their two
    unembeddings, so the model gives them ~50/50, and the swap barely changes anything
    there, while the unembeddings are not linearly related (ρ ≈ 0.704, 0.643; m_CCA ≈ 0.674).
    Random draws: ``np.random.default_rng(seed)``, the jitter (8, n) first, then the normal
    (8, n); seed 0 gives the authors' inputs. Labels of the inputs:
    :func:`swapped_unembeddings_labels`.
    """
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-np.pi / 256, np.pi / 256, (8, inputs_per_label))
    radii = 2.0 + np.abs(rng.standard_normal((8, inputs_per_label)))
    f = _circle(SWAPPED_INPUT_ANGLES[:, None] + jitter, radii).reshape(-1, 2)
    g1 = _circle(SWAPPED_UNEMBEDDING_ANGLES, length * np.ones(8))
    return f, g1, f.copy(), g1[SWAP_5_6_7_8]


def swapped_unembeddings_labels(inputs_per_label: int = 500) -> np.ndarray:
    """The label (0-based) of each input of :func:`swapped_unembeddings`, in row order."""
    return np.repeat(np.arange(8), inputs_per_label)


def labelled_kl_term(logits_target, logits_other, labels) -> float:
    """``(1/n) Σ_x p_t(y_x|x) log(p_t(y_x|x) / p_o(y_x|x))``: one term of the KL sum, at
    each input's own label ``y_x`` (float64 NumPy).

    This is what 2602.15438's example (a) reports as "KL" (its code passes one
    log-probability per input, that of the input's label, to torch's KLDivLoss with
    ``reduction="batchmean"``). It is not a divergence (it can be negative), and unlike
    the full KL it is asymmetric under a label-swapping involution: the example gives
    0.0020 with model 2 as target and 0.0017 with model 1, while the full KL is 0.0045
    both ways.
    """
    rows = np.arange(len(labels))
    lt = log_softmax(np.asarray(logits_target, np.float64), axis=1)[rows, labels]
    lo = log_softmax(np.asarray(logits_other, np.float64), axis=1)[rows, labels]
    return float(np.mean(np.exp(lt) * (lt - lo)))


def rotation(angle: float) -> np.ndarray:
    """2-D rotation matrix by ``angle`` radians."""
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def opposite_rotations(num_labels: int = 8, num_inputs: int = 200, seed: int = 0):
    """(b) Model 2 = model 1 with embeddings rotated by +π/4 and unembeddings by −π/4
    (8 evenly spaced labels, Gaussian inputs; the 5-label clustered form the authors
    publish now: :func:`clustered_opposite_rotations`).

    Each side is an invertible linear map of the other (m_CCA = 1 for embeddings and for
    unembeddings), yet the logits become ``f R(π/4)ᵀ R(−π/4) gᵀ = f R(−π/2) gᵀ``: a
    different distribution, because identifiability needs ``g ↦ A⁻ᵀ g`` for ``f ↦ A f``.
    """
    rng = np.random.default_rng(seed)
    f1 = rng.standard_normal((num_inputs, 2))
    g1 = _circle(2 * np.pi * np.arange(num_labels) / num_labels, 2.0 * np.ones(num_labels))
    return f1, g1, f1 @ rotation(np.pi / 4).T, g1 @ rotation(-np.pi / 4).T


def clustered_opposite_rotations(inputs_per_label: int = 100, seed: int = 0):
    """(b') The 5-label form of (b): clustered embeddings, both sides rotated by ∓π/4.

    The construction of the authors' newest example (public code: repository
    bemigini/logit-distance-bounds-rep-sim, examples/mcca_maximal_but_distributions_different.py;
    facts only, the code is ours): model 1's 5 unembeddings have length 8 at angles
    0, π/2, π, 5π/4, 7π/4; label k's ``inputs_per_label`` embeddings (100) form a cluster
    ``5·(cos a_k, sin a_k) + N(0, 0.5² I)`` around the same direction (random draws:
    ``np.random.default_rng(seed).normal(0, 0.5, (5, n, 2))``; seed 0 gives the authors'
    inputs). Model 2 rotates the embeddings by +π/4 and the unembeddings by −π/4, so
    m_CCA = 1 on both sides while the logits become ``f R(−π/2) gᵀ``: most inputs of
    label k are given another label (those of label 1 go to label 2). Labels of the
    inputs: :func:`clustered_opposite_rotations_labels`.
    """
    num_labels = len(CLUSTERED_ANGLES)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.5, (num_labels, inputs_per_label, 2))
    centres = _circle(CLUSTERED_ANGLES, 5.0 * np.ones(num_labels))
    f1 = (centres[:, None, :] + noise).reshape(-1, 2)
    g1 = _circle(CLUSTERED_ANGLES, 8.0 * np.ones(num_labels))
    return f1, g1, f1 @ rotation(np.pi / 4).T, g1 @ rotation(-np.pi / 4).T


def clustered_opposite_rotations_labels(inputs_per_label: int = 100) -> np.ndarray:
    """The label (0-based) of each input of :func:`clustered_opposite_rotations`, in row order."""
    return np.repeat(np.arange(len(CLUSTERED_ANGLES)), inputs_per_label)


def permuted_classifier(
    unembedding_length: float = 3.0,
    num_classes: int = 7,
    inputs_per_class: int = 500,
    embedding_length: float = 2.0,
    seed: int = 0,
):
    """(c) 2506.03784 Table 1: an evenly spaced 2-D classifier and its label-permuted twin.

    Model 1: unembeddings at angles 2πk/7 with length ``unembedding_length``; the inputs
    of class k at angle 2πk/7 + U(−π/64, π/64), length ``embedding_length`` + |N(0, 0.01²)|.
    Model 2 moves label k's unembedding (and its inputs, with their jitter) to the
    direction of class ``TABLE1_PERMUTATION[k]``. Both classify every input alike, but the
    runner-up labels differ; the KL shrinks as the length grows while the embeddings stay
    unrelated (m_CCA ≈ 0). The construction follows the paper's description; the random
    jitter uses ``seed``.
    """
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_classes) / num_classes
    jitter = rng.uniform(-np.pi / 64, np.pi / 64, (num_classes, inputs_per_class))
    lengths = np.abs(0.01 * rng.standard_normal((num_classes, inputs_per_class))) + embedding_length
    permuted = angles[TABLE1_PERMUTATION]
    f1 = _circle(angles[:, None] + jitter, lengths).reshape(-1, 2)
    f2 = _circle(permuted[:, None] + jitter[TABLE1_PERMUTATION], lengths).reshape(-1, 2)
    g1 = _circle(angles, unembedding_length * np.ones(num_classes))
    g2 = _circle(permuted, unembedding_length * np.ones(num_classes))
    return f1, g1, f2, g2


class Figures(NamedTuple):
    """What the counter-examples report."""

    kl_12: float
    kl_21: float
    logit_distance: float
    mean_cca_embeddings: float
    mean_cca_unembeddings: float


def summarise(f1, g1, f2, g2) -> Figures:
    """KL both ways, d_logit and m_CCA of embeddings and unembeddings, via repsim_jax.metrics."""
    from repsim_jax import metrics

    z1, z2 = f1 @ g1.T, f2 @ g2.T
    return Figures(
        kl_12=float(metrics.kl_divergence(z1, z2)),
        kl_21=float(metrics.kl_divergence(z2, z1)),
        logit_distance=float(metrics.logit_distance(z1, z2)),
        mean_cca_embeddings=float(metrics.mean_cca(f1, f2)),
        mean_cca_unembeddings=float(metrics.mean_cca(g1, g2)),
    )


def table1_llv(f1, g1, f2, g2, seed: int = 0, num_input_sets: int = 100):
    """d_LLV as in 2506.03784's Table 1: λ = 1e-5, pivot label and one left-out label
    chosen jointly to minimise T₁ (the authors' selection), best of random input sets."""
    from repsim_jax.metrics import llv_distance_details

    z1, z2 = f1 @ g1.T, f2 @ g2.T
    k = g1.shape[0]
    results = [
        llv_distance_details(
            z1, z2, f1.shape[1], labels=np.delete(np.arange(k), left_out), seed=seed, num_input_sets=num_input_sets
        )
        for left_out in range(k)
    ]
    return min(results, key=lambda r: float(r.label_term))
