"""Calibration of a classifier's probabilities q against labels y: ECE and the Brier score,
from sums over the inputs (:class:`~repsim_jax.row_statistics.RowStatistics`, merged over
chunks and processes by adding)."""

from __future__ import annotations

import numpy as np

from repsim_jax.row_statistics import RowStatistics

__all__ = ["expected_calibration_error", "brier_score", "calibration_statistics", "ece_from", "brier_from"]

NUM_BINS = 15
"""Equal-width confidence bins of the ECE."""


def calibration_statistics(probs: np.ndarray, labels: np.ndarray, num_bins: int = NUM_BINS) -> RowStatistics:
    """Per confidence bin ``b`` (``conf = max q`` in ``[b/B, (b+1)/B)``, 1 in the last):
    the inputs ``bin_inputs``, their summed confidence ``bin_confidence`` and correct
    predictions ``bin_correct``; ``brier``, ``Σ_x ‖q(x) − e_y‖²`` as ``‖q‖² − 2 q_y + 1``
    per input (no n × K one-hot)."""
    labels = np.asarray(labels)
    conf, correct = probs.max(-1), probs.argmax(-1) == labels
    # NaN confidence (a diverged model) falls in bin 0 and makes the ECE NaN, as it should
    bins = np.clip(np.nan_to_num(conf * num_bins, nan=0.0), 0, num_bins - 1).astype(int)
    picked = np.take_along_axis(probs, labels[:, None], -1)[:, 0]
    sums = {
        "bin_inputs": np.bincount(bins, minlength=num_bins),
        "bin_confidence": np.bincount(bins, weights=conf, minlength=num_bins),
        "bin_correct": np.bincount(bins, weights=correct, minlength=num_bins),
        "brier": np.sum(np.einsum("nk,nk->n", probs, probs) - 2 * picked + 1),
    }
    return RowStatistics.of(sums)


def ece_from(statistics: RowStatistics) -> float:
    """``ECE = Σ_b (|b|/n) |acc_b − conf_b| = (1/n) Σ_b |correct_b − Σ_{x∈b} conf(x)|``."""
    sums = statistics.sums
    return float(np.sum(np.abs(sums["bin_correct"] - sums["bin_confidence"])) / np.sum(sums["bin_inputs"]))


def brier_from(statistics: RowStatistics) -> float:
    """``(1/n) Σ_x ‖q(x) − e_{y(x)}‖²``."""
    return float(statistics.sums["brier"] / np.sum(statistics.sums["bin_inputs"]))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = NUM_BINS) -> float:
    """``ECE = Σ_b (|b|/n) |acc_b − conf_b|`` over ``num_bins`` equal-width confidence bins."""
    return ece_from(calibration_statistics(probs, labels, num_bins))


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """``(1/n) Σ_x ‖q(x) − e_{y(x)}‖²``."""
    return brier_from(calibration_statistics(probs, labels))
