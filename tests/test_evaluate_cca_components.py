"""``cca_components`` (config key ``eval.cca_components``): the report's m_CCA is the mean
of the top-k canonical correlations, against the float64 NumPy reference."""

import numpy as np
import pytest

from repsim_jax.evaluate import split_report
from repsim_jax.testing import reference


@pytest.mark.parametrize("k", [0, 2])  # 0: all (the config default)
def test_mean_cca_over_the_top_components(k):
    rng = np.random.default_rng(0)
    n, d, num_labels = 400, 5, 8
    f_t = rng.normal(size=(n, d))
    f_s = f_t @ rng.normal(size=(d, d)) + rng.normal(scale=[0.1, 0.5, 1.0, 2.0, 4.0], size=(n, d))
    g_t, g_s = rng.normal(size=(num_labels, d)), rng.normal(size=(num_labels, d))
    labels = rng.integers(num_labels, size=n)
    report = split_report(
        (f_s, f_s @ g_s.T, g_s), (f_t, f_t @ g_t.T, g_t), labels, cca_components=k, only=("mean_cca",)
    )
    rho = np.sort(reference.canonical_correlations(f_t, f_s))[::-1]
    expected = rho[:k].mean() if k else rho.mean()
    assert report["mean_cca"] == pytest.approx(expected, abs=1e-6)
    assert k != 2 or report["mean_cca"] > rho.mean() + 0.05  # the top two are well above the rest


def test_mean_cca_of_rank_deficient_embeddings_is_that_of_their_column_spaces():
    """A student with a duplicated column (no whitener): the report's m_CCA is that of the
    column spaces (rank tolerance as in compare), i.e. the reference on the distinct columns."""
    rng = np.random.default_rng(1)
    n, d, num_labels = 300, 4, 6
    f_t = rng.normal(size=(n, d))
    f_s = f_t @ rng.normal(size=(d, d)) + rng.normal(scale=[0.2, 0.5, 1.0, 2.0], size=(n, d))
    f_s_dup = np.concatenate([f_s, f_s[:, :1]], axis=1)
    g_t, g_s = rng.normal(size=(num_labels, d)), rng.normal(size=(num_labels, d + 1))
    labels = rng.integers(num_labels, size=n)
    student, teacher = (f_s_dup, f_s_dup @ g_s.T, g_s), (f_t, f_t @ g_t.T, g_t)
    report = split_report(student, teacher, labels, only=("mean_cca",))
    assert "mean_cca" not in report["skipped"]
    assert report["mean_cca"] == pytest.approx(reference.canonical_correlations(f_t, f_s).mean(), abs=1e-5)
