"""Calibration of a classifier's probabilities q against labels y: ECE and the Brier score."""

from __future__ import annotations

import numpy as np

__all__ = ["expected_calibration_error", "brier_score"]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """``ECE = Σ_b (|b|/n) |acc_b − conf_b|`` over equal-width confidence bins."""
    conf, pred = probs.max(-1), probs.argmax(-1)
    bins = np.minimum((conf * num_bins).astype(int), num_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        mask = bins == b
        ece += mask.mean() * abs(np.mean(pred[mask] == labels[mask]) - conf[mask].mean())
    return float(ece)


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """``(1/n) Σ_x ‖q(x) − e_{y(x)}‖²``, as ``‖q‖² − 2 q_y + 1`` per input (no n × K one-hot)."""
    picked = np.take_along_axis(probs, np.asarray(labels)[:, None], -1)[:, 0]
    return float(np.mean(np.einsum("nk,nk->n", probs, probs) - 2 * picked + 1))
