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


def test_summarise_seeds_reads_the_authors_section_by_dotted_keys():
    reports = [
        {"authors": {"cca_score": 0.5, "kl_student_teacher": 0.1}},
        {"authors": {"cca_score": 0.9, "kl_student_teacher": None}},
    ]
    out = report.summarise_seeds(reports, report.AUTHORS_METRICS, prefix="ood_")
    expected = {"mean": pytest.approx(0.7), "std": pytest.approx(0.2), "values": [0.5, 0.9]}
    assert out == {"ood_authors.cca_score": expected}
    assert report.AUTHORS_METRICS[0] == "authors.rep_dissimilarity_eval" and len(report.AUTHORS_METRICS) == 7
    teachers = report.summarise_teachers([reports, reports], ("authors.cca_score",))
    assert teachers["authors.cca_score"]["teacher_means"] == pytest.approx([0.7, 0.7])


def _weighted_least_squares_mean(groups):
    """The mean μ minimising Σ_t (m_t − μ)² n_t / s_t² (teacher means m_t, their variances s_t²/n_t)."""
    means = np.array([np.mean(g) for g in groups])
    weights = np.array([len(g) / np.var(g, ddof=1) for g in groups])
    design = np.sqrt(weights)[:, None]
    mu = np.linalg.lstsq(design, np.sqrt(weights) * means, rcond=None)[0][0]
    return mu, 1 / np.sqrt(weights.sum())


def test_inverse_variance_mean_is_the_weighted_least_squares_mean():
    groups = [[0.61, 0.65, 0.70], [0.80, 0.81], [0.70, 0.90, 0.75, 0.88]]
    mean, std = report.inverse_variance_mean(groups)
    expected_mean, expected_std = _weighted_least_squares_mean(groups)
    assert mean == pytest.approx(expected_mean, rel=1e-12)
    assert std == pytest.approx(expected_std, rel=1e-12)
    # Equal variances and sizes: every value weighs the same, the plain mean of all values.
    mean, _ = report.inverse_variance_mean([[1.0, 3.0], [10.0, 12.0]])
    assert mean == pytest.approx(6.5)


@pytest.mark.parametrize(
    "groups, message", [([[1.0, 2.0], [3.0]], ">= 2 student"), ([[1.0, 1.0], [2.0, 3.0]], "zero variance")]
)
def test_inverse_variance_mean_refuses_undefined_weights(groups, message):
    with pytest.raises(ValueError, match=message):
        report.inverse_variance_mean(groups)


def _teacher_reports(values_per_teacher):
    return [[{"mean_cca": v, "rep_dissimilarity": 10 * v} for v in values] for values in values_per_teacher]


def test_summarise_teachers_and_teacher_level_tests():
    kl_values = [[0.70, 0.74, 0.72], [0.60, 0.66, 0.63], [0.75, 0.71, 0.80]]
    l2_values = [[0.90, 0.93, 0.91], [0.86, 0.88, 0.83], [0.95, 0.91, 0.97]]
    summary = {
        "kl": report.summarise_teachers(_teacher_reports(kl_values), ("mean_cca", "rep_dissimilarity")),
        "l2": report.summarise_teachers(_teacher_reports(l2_values), ("mean_cca", "rep_dissimilarity")),
    }
    cca = summary["l2"]["mean_cca"]
    assert cca["weighting"] == "inverse-variance"
    assert cca["mean"] == pytest.approx(_weighted_least_squares_mean(l2_values)[0])
    assert cca["teacher_means"] == pytest.approx([np.mean(v) for v in l2_values])
    assert cca["teacher_stds"] == pytest.approx([np.std(v) for v in l2_values])
    assert cca["values"] == [v for vs in l2_values for v in vs]
    test = report.compare_to_reference(summary)["l2_vs_kl"]["mean_cca"]
    kl_means, l2_means = [np.mean(v) for v in kl_values], [np.mean(v) for v in l2_values]
    assert (test["level"], test["n"]) == ("teachers", 3)
    assert test["paired_p"] == pytest.approx(scipy.stats.ttest_rel(l2_means, kl_means).pvalue)
    assert test["welch_p"] == pytest.approx(scipy.stats.ttest_ind(l2_means, kl_means, equal_var=False).pvalue)
    # Every L2 teacher mean is above every KL teacher mean: the exact MWU p of 3 vs 3 is 2 / C(6, 3).
    assert test["mannwhitney_p"] == pytest.approx(2 / math.comb(6, 3))
    table = report.markdown_summary("t", summary, report.compare_to_reference(summary), ("mean_cca",))
    assert "3 teachers × 3 seeds" in table and "| l2 | 2 | 0.9433 ± 0.025 |" in table
    assert "| l2_vs_kl | mean_cca | teachers (3) |" in table


def test_summarise_teachers_falls_back_to_equal_weights_on_zero_variance():
    out = report.summarise_teachers(_teacher_reports([[0.5, 0.5], [0.7, 0.9]]), ("mean_cca",))["mean_cca"]
    assert out["weighting"] == "equal"
    assert out["mean"] == pytest.approx((0.5 + 0.8) / 2)
    assert out["std"] == pytest.approx(np.std([0.5, 0.8], ddof=1) / np.sqrt(2))
