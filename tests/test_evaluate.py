"""The report's calibration and ranking-agreement formulas against closed forms."""

import numpy as np
import pytest

from repsim_jax.evaluate import brier_score, expected_calibration_error, ranking_agreement


def test_calibration_and_ranking_closed_forms():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1])
    # bins: 0.9 → acc 1; 0.6 → acc 0; 0.7 → acc 1  ⇒ (|1−.9| + |0−.6| + |1−.7|)/3
    assert expected_calibration_error(probs, labels) == pytest.approx((0.1 + 0.6 + 0.3) / 3)
    assert brier_score(probs, labels) == pytest.approx((0.02 + 0.72 + 0.18) / 3)
    p = np.array([[0.5, 0.3, 0.2]])
    same = ranking_agreement(p, p)
    assert same == pytest.approx({"pairwise_accuracy": 1, "kendall_tau": 1, "spearman": 1, "ndcg": 1})
    rev = ranking_agreement(p, p[:, ::-1])
    assert rev["pairwise_accuracy"] == 0 and rev["kendall_tau"] == pytest.approx(-1)
