"""Every similarity metric that two saved representations allow, as a flat dict.

Keys are the metric function names of :mod:`repsim_jax.metrics`. A metric the arrays
do not allow (no logits, too few samples for CCA, too few labels for d_rep) is left out
and its reason recorded under ``"skipped"``. :func:`all_pairs` compares every ordered
pair of a set of models (a model zoo).
"""

from __future__ import annotations

from repsim_jax import bounds
from repsim_jax.errors import InputError
from repsim_jax.evaluators import SIMILARITY_METRICS, similarity
from repsim_jax.io import Representation, check_compatible, load_representation


def compare(a: Representation, b: Representation, pivot_options: dict | None = None) -> dict:
    """Metrics of model ``a`` against model ``b`` (KL is KL(a ‖ b); d_rep maps b onto a,
    on :func:`repsim_jax.metrics.pivot_subsets` with ``pivot_options``, its defaults when None):
    the report's ``similarity`` evaluator (:func:`repsim_jax.evaluators.similarity`)."""
    values, skipped = similarity(a, b, pivot_options)
    return {name: values[name] for name in SIMILARITY_METRICS if values.get(name) is not None} | {"skipped": skipped}


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
