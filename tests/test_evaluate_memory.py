"""The report's bounded-memory paths (issue 20) against float64 references: the d_rep kernels
mapped over (pivot, subset) pairs in batches (a batch boundary inside the pairs) and the
Brier score without a one-hot matrix."""

import jax
import numpy as np
import pytest

from repsim_jax import authors, metrics
from repsim_jax.evaluate import brier_score
from repsim_jax.metrics import identifiability
from repsim_jax.testing import reference


@pytest.mark.slow  # compiles both d_rep kernels in float64 (≈ 10 s on a loaded 2-core machine)
def test_d_rep_kernels_in_batches_of_pairs_equal_the_per_subset_reference(monkeypatch):
    rng = np.random.default_rng(4)
    n, k, d = 37, 9, 3  # shapes of no other test: the jitted kernels trace afresh with the patched batch sizes
    f1, f2 = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    g1, g2 = rng.normal(size=(k, d)), rng.normal(size=(k, d))
    pivots, subsets = metrics.sample_pivot_subsets(jax.random.key(0), k, d, 4, 5)  # 20 pairs
    monkeypatch.setattr(identifiability, "_SUBSET_BATCH_ENTRIES", 3 * d * d)  # batches of 3: 20 = 6·3 + 2
    monkeypatch.setattr(authors, "_BATCH_ELEMENTS", 3 * n * d)
    errors, _ = reference.rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets)
    # the authors' training-time d_rep: the moment-form kernel (float64), every subset kept
    train = authors.rep_dissimilarity_train(f1, g1, f2, g2, pivots, subsets)
    assert train == pytest.approx(np.mean(errors) / errors.size, rel=1e-10)
    norms = []  # the authors' evaluation d_rep: the mean of unsquared norms, pair by pair
    for pivot, row in zip(np.asarray(pivots), np.asarray(subsets)):
        for subset in row:
            a = np.linalg.solve(g1[subset] - g1[pivot], g2[subset] - g2[pivot])
            norms.append(np.mean(np.linalg.norm(f1 - f2 @ a.T, axis=1)))
    value = authors.rep_dissimilarity_eval(f1, g1, f2, g2, pivots, subsets)
    assert value == pytest.approx(np.mean(norms), rel=1e-10)  # float64 in both


def test_brier_score_equals_the_one_hot_definition():
    rng = np.random.default_rng(5)
    probs, labels = rng.dirichlet(np.ones(6), size=50), rng.integers(0, 6, 50)
    expected = np.mean(np.sum((probs - np.eye(6)[labels]) ** 2, axis=1))
    assert brier_score(probs, labels) == pytest.approx(expected, rel=1e-13)
