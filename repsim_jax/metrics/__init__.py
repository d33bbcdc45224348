"""Similarity, distance and identifiability metrics: pure, jit- and vmap-compiled kernels.

Naming rule: ``*_distance`` / ``*_dissimilarity`` are 0 for identical inputs;
``mean_cca`` and ``linear_cka`` are 1. Public functions validate their inputs once,
outside jit; pass ``validate=False`` inside jitted or vmapped code. The linear concept
properties of :mod:`repsim_jax.metrics.concepts` are float64 NumPy, not jitted.
"""

from repsim_jax.metrics.cca import (
    canonical_correlations,
    canonical_correlations_from_moments,
    default_rank_tol,
    mean_cca,
    mean_cca_from_moments,
)
from repsim_jax.metrics.cka import linear_cka, linear_cka_from_moments
from repsim_jax.metrics.concepts import (
    class_means,
    concept_class_pairs,
    concept_directions,
    direction_auc,
    linear_properties,
    parallelism,
    steering_success,
    transfer_properties,
)
from repsim_jax.metrics.identifiability import (
    RepDissimilarity,
    all_pivot_subsets,
    pivot_subsets,
    rep_dissimilarity,
    rep_dissimilarity_details,
    rep_dissimilarity_from_moments,
    sample_pivot_subsets,
)
from repsim_jax.metrics.kl import kl_divergence
from repsim_jax.metrics.llv import (
    LLVDistance,
    SVDDissimilarity,
    llv_distance,
    llv_distance_details,
    sample_input_sets,
    svd_dissimilarity,
    svd_dissimilarity_details,
)
from repsim_jax.metrics.logit import (
    center_logits,
    logit_distance,
    logit_distance_from_moments,
    logit_distance_from_reps,
)
from repsim_jax.metrics.moments import MomentAccumulator, Moments
from repsim_jax.metrics.pairwise import pairwise
from repsim_jax.metrics.shape import (
    gram_distance,
    gram_distance_from_moments,
    procrustes_distance,
    procrustes_distance_from_moments,
)
from repsim_jax.metrics.transfer import AffineMap, affine_map

__all__ = [
    "AffineMap",
    "LLVDistance",
    "MomentAccumulator",
    "Moments",
    "RepDissimilarity",
    "SVDDissimilarity",
    "affine_map",
    "all_pivot_subsets",
    "canonical_correlations",
    "canonical_correlations_from_moments",
    "center_logits",
    "class_means",
    "concept_class_pairs",
    "concept_directions",
    "direction_auc",
    "gram_distance",
    "gram_distance_from_moments",
    "kl_divergence",
    "linear_cka",
    "linear_cka_from_moments",
    "linear_properties",
    "llv_distance",
    "llv_distance_details",
    "logit_distance",
    "logit_distance_from_moments",
    "logit_distance_from_reps",
    "mean_cca",
    "mean_cca_from_moments",
    "default_rank_tol",
    "pairwise",
    "parallelism",
    "pivot_subsets",
    "procrustes_distance",
    "procrustes_distance_from_moments",
    "rep_dissimilarity",
    "rep_dissimilarity_details",
    "rep_dissimilarity_from_moments",
    "sample_input_sets",
    "sample_pivot_subsets",
    "steering_success",
    "svd_dissimilarity",
    "svd_dissimilarity_details",
    "transfer_properties",
]
