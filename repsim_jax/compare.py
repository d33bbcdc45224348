"""Every similarity metric that two saved representations allow, as a flat dict.

Keys are the metric function names of :mod:`repsim_jax.metrics`. A metric the arrays
do not allow (no logits, too few samples for CCA, too few labels for d_rep) is left out
and its reason recorded under ``"skipped"``.
"""

from __future__ import annotations

from repsim_jax import metrics
from repsim_jax.io import Representation


def _embedding_metrics(x, y) -> dict:
    return {
        "mean_cca": lambda: metrics.mean_cca(x, y),
        "procrustes_distance": lambda: metrics.procrustes_distance(x, y),
        "gram_distance": lambda: metrics.gram_distance(x, y),
        "linear_cka": lambda: metrics.linear_cka(x, y),
    }


def _logit_metrics(a: Representation, b: Representation) -> dict:
    za, zb = a.all_logits, b.all_logits
    if za is None or zb is None:
        return {}
    return {
        "logit_distance": lambda: metrics.logit_distance(za, zb),
        "kl_divergence": lambda: metrics.kl_divergence(za, zb),
    }


def _rep_metrics(a: Representation, b: Representation, pivot_options: dict) -> dict:
    if a.unembeddings is None or b.unembeddings is None:
        return {}

    def d_rep():
        num_labels, dim = a.unembeddings.shape[0], a.embeddings.shape[1]
        pivots, subsets = metrics.pivot_subsets(num_labels, dim, **pivot_options)
        return metrics.rep_dissimilarity(a.embeddings, a.unembeddings, b.embeddings, b.unembeddings, pivots, subsets)

    return {"rep_dissimilarity": d_rep}


def compare(a: Representation, b: Representation, pivot_options: dict | None = None) -> dict:
    """Metrics of model ``a`` against model ``b`` (KL is KL(a ‖ b); d_rep maps b onto a,
    on :func:`repsim_jax.metrics.pivot_subsets` with ``pivot_options``, its defaults when None)."""
    planned = {
        **_logit_metrics(a, b),
        **_embedding_metrics(a.embeddings, b.embeddings),
        **_rep_metrics(a, b, pivot_options or {}),
    }
    results, skipped = {}, {}
    for name, compute in planned.items():
        try:
            results[name] = float(compute())
        except ValueError as error:
            skipped[name] = str(error)
    results["skipped"] = skipped
    return results
