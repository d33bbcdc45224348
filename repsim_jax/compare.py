"""Every similarity metric that two saved representations allow, as a flat dict.

Keys are the metric function names of :mod:`repsim_jax.metrics`. A metric the arrays
do not allow (no logits, too few samples for CCA, too few labels for d_rep) is left out
and its reason recorded under ``"skipped"``. :func:`all_pairs` compares every ordered
pair of a set of models (a model zoo).
"""

from __future__ import annotations

import warnings

import numpy as np

from repsim_jax import bounds, metrics
from repsim_jax.errors import InputError
from repsim_jax.io import Representation, check_compatible, load_representation
from repsim_jax.streaming import PairStream


def _embedding_metrics(x, y) -> dict:
    return {
        # column spaces: defined for rank-deficient inputs too (LayerNorm outputs, bias columns)
        "mean_cca": lambda: metrics.mean_cca(x, y, rank_tol=metrics.default_rank_tol(x.dtype)),
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


ENGINE_METRICS = (
    "logit_distance",
    "kl_divergence",
    "mean_cca",
    "procrustes_distance",
    "gram_distance",
    "linear_cka",
    "rep_dissimilarity",
)
"""The metrics :func:`compare` takes from the statistics engine's one-chunk result."""


def _logits_are_products(model: Representation) -> bool:
    """Whether the model's logits are ``embeddings @ unembeddingsᵀ`` (none stored, or the
    stored ones equal to it up to float32 rounding: no output bias)."""
    if model.unembeddings is None:
        return False
    if model.logits is None:
        return True
    products = model.embeddings.astype(np.float64) @ model.unembeddings.T.astype(np.float64)
    return bool(np.max(np.abs(products - model.logits)) <= 1e-4 * max(1.0, float(np.max(np.abs(products)))))


def _engine(a: Representation, b: Representation, pivot_options: dict) -> dict | None:
    """The engine's metrics (:class:`~repsim_jax.streaming.PairStream` fed the arrays as one
    chunk: in memory is one chunk of the streamed code), or None where its preconditions
    fail (no unembeddings, logits with a bias, too few inputs or labels, constant or
    ill-conditioned inputs): then each metric is computed on its own and a failure is
    recorded under ``skipped``."""
    if not (_logits_are_products(a) and _logits_are_products(b)):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # excluded subsets: as metrics.rep_dissimilarity, silently
            result = PairStream(a.unembeddings, b.unembeddings).add(a.embeddings, b.embeddings).result(pivot_options)
    except ValueError:
        return None
    return {name: result[name] for name in ENGINE_METRICS} | {"skipped": {}}


def compare(a: Representation, b: Representation, pivot_options: dict | None = None) -> dict:
    """Metrics of model ``a`` against model ``b`` (KL is KL(a ‖ b); d_rep maps b onto a,
    on :func:`repsim_jax.metrics.pivot_subsets` with ``pivot_options``, its defaults when None).

    Models whose logits are ``embeddings @ unembeddingsᵀ`` get every metric from the
    statistics engine in one chunk (:func:`_engine`); others metric by metric."""
    engine = _engine(a, b, pivot_options or {})
    if engine is not None:
        return engine
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


def _cca_floor(a: Representation, b: Representation) -> float | None:
    """``sqrt(Σᵢ(1 − ρᵢ²)λᵢ)``: the least d_logit the CCA–logit bound allows (a as teacher)."""
    za, zb = a.all_logits, b.all_logits
    if za is None or zb is None or len(za) <= a.embeddings.shape[1] + b.embeddings.shape[1]:
        return None
    return float(bounds.cca_logit_bound(a.embeddings, za, b.embeddings, zb).lhs) ** 0.5


def all_pairs(paths, pivot_options: dict | None = None, load=load_representation) -> list[dict]:
    """``{"a", "b", <metrics>, "cca_logit_floor"}`` for every ordered pair of distinct
    models; ``load(path) -> Representation`` reads each (default: an ``.npz`` file)."""
    if len(paths) < 2:
        raise InputError(f"all pairs need at least 2 models, got {len(paths)}")
    models = {path: load(path) for path in paths}
    rows = []
    for a in paths:
        for b in paths:
            if a != b:
                check_compatible(a, models[a], b, models[b])
                values = compare(models[a], models[b], pivot_options)
                rows.append({"a": a, "b": b, **values, "cca_logit_floor": _cca_floor(models[a], models[b])})
    return rows
