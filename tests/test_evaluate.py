"""The report's calibration and ranking-agreement formulas against closed forms; its
``authors`` section against the report's own metrics where they are related exactly."""

import numpy as np
import pytest

from repsim_jax import authors
from repsim_jax.evaluate import brier_score, expected_calibration_error, ranking_agreement, split_report


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


def _model(rng, f, k=6):
    g = rng.normal(size=(k, f.shape[1]))
    return f, f @ g.T, g


@pytest.mark.slow  # compiles every representation metric
def test_split_report_has_the_authors_section_related_to_its_own_metrics():
    rng = np.random.default_rng(0)
    f_t = rng.normal(size=(60, 3))
    teacher, student = _model(rng, f_t), _model(rng, f_t @ rng.normal(size=(3, 3)) + 0.3 * rng.normal(size=(60, 3)))
    labels = rng.integers(0, 6, 60)
    report = split_report(student, teacher, labels)
    section = report["authors"]
    assert tuple(section) == authors.KEYS and all(isinstance(v, float) for v in section.values())
    assert section["brier_per_class"] == pytest.approx(report["brier"] / 6, rel=1e-12)
    assert section["kl_teacher_student"] == pytest.approx(report["kl_divergence"], rel=1e-5)  # ours: float32
    # teacher = model 1 in both, the same subsets, none excluded here: by Jensen mean ‖·‖ < sqrt(mean ‖·‖²)
    assert section["rep_dissimilarity_eval"] < report["rep_dissimilarity"]
    assert not any(key.startswith("authors.") for key in report["skipped"])


def test_teacher_report_has_its_calibration_and_null_pairwise_keys():
    rng = np.random.default_rng(1)
    model, labels = _model(rng, rng.normal(size=(40, 3))), rng.integers(0, 6, 40)
    section = split_report(model, None, labels)["authors"]
    pairwise = set(authors.KEYS) - {"ece_per_class", "brier_per_class"}
    assert tuple(section) == authors.KEYS and all(section[k] is None for k in pairwise)
    probs = np.exp(model[1] - model[1].max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    assert section["ece_per_class"] == pytest.approx(authors.ece_per_class(probs, labels))
    assert section["brier_per_class"] == pytest.approx(brier_score(probs, labels) / 6)
