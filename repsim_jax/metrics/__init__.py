"""Similarity, distance and identifiability metrics: pure, jit- and vmap-compiled kernels.

Naming rule: ``*_distance`` / ``*_dissimilarity`` are 0 for identical inputs;
``mean_cca`` and ``linear_cka`` are 1. Public functions validate their inputs once,
outside jit; pass ``validate=False`` inside jitted or vmapped code.
"""

from repsim_jax.metrics.cca import canonical_correlations, canonical_correlations_from_moments, mean_cca
from repsim_jax.metrics.cka import linear_cka, linear_cka_from_moments
from repsim_jax.metrics.identifiability import (
    RepDissimilarity,
    rep_dissimilarity,
    rep_dissimilarity_details,
    rep_dissimilarity_from_moments,
    sample_pivot_subsets,
)
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
    kl_divergence,
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
    "LLVDistance",
    "SVDDissimilarity",
    "llv_distance",
    "llv_distance_details",
    "sample_input_sets",
    "svd_dissimilarity",
    "svd_dissimilarity_details",
    "AffineMap",
    "MomentAccumulator",
    "Moments",
    "RepDissimilarity",
    "affine_map",
    "canonical_correlations",
    "canonical_correlations_from_moments",
    "center_logits",
    "gram_distance",
    "gram_distance_from_moments",
    "kl_divergence",
    "linear_cka",
    "linear_cka_from_moments",
    "logit_distance",
    "logit_distance_from_moments",
    "logit_distance_from_reps",
    "mean_cca",
    "pairwise",
    "procrustes_distance",
    "procrustes_distance_from_moments",
    "rep_dissimilarity",
    "rep_dissimilarity_details",
    "rep_dissimilarity_from_moments",
    "sample_pivot_subsets",
]
