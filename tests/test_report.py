"""Statistics of runs over seeds against closed forms and scipy."""

import math

import numpy as np
import pytest
import scipy.stats

from repsim_jax import report


def test_significance_matches_closed_forms_and_scipy():
    a, b = np.array([0.91, 0.93, 0.95, 0.92, 0.96]), np.array([0.80, 0.85, 0.83, 0.90, 0.78])
    result = report.significance(a, b)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert result["welch_t"] == pytest.approx((a.mean() - b.mean()) / se)
    assert result["difference"] == pytest.approx(a.mean() - b.mean())
    # U counts the pairs (a_i, b_j) with a_i > b_j; every a exceeds every b except none here.
    assert result["mannwhitney_u"] == sum(x > y for x in a for y in b) == 25
    # Exact two-sided p for complete separation of 5 vs 5: 2 / C(10, 5).
    assert result["mannwhitney_p"] == pytest.approx(2 / math.comb(10, 5))
    assert result["welch_p"] == pytest.approx(scipy.stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_significance_rejects_single_values():
    with pytest.raises(ValueError, match=">= 2 values"):
        report.significance([1.0], [1.0, 2.0])


def test_summarise_seeds_drops_missing_metrics():
    reports = [{"mean_cca": 0.5, "rep_dissimilarity": None}, {"mean_cca": 0.7, "rep_dissimilarity": 1.0}]
    out = report.summarise_seeds(reports, ("mean_cca", "rep_dissimilarity"))
    assert out == {"mean_cca": {"mean": pytest.approx(0.6), "std": pytest.approx(0.1), "values": [0.5, 0.7]}}
