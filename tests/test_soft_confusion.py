"""Soft confusion matrices at temperature T (the authors' interpolation figures) against
a float64 NumPy loop written here, their invariances, bad input, and the figure."""

import matplotlib.image
import numpy as np
import pytest

from repsim_jax import plots
from repsim_jax.errors import InputError
from repsim_jax.soft_confusion import AUTHORS_TEMPERATURE, soft_confusion


def _reference(logits, labels, temperature):
    """Row i: the mean over inputs of label i of exp(z/T) / Σ exp(z/T), one input at a time."""
    k = logits.shape[1]
    out = np.full((k, k), np.nan)
    for i in range(k):
        rows = [np.exp(z / temperature - np.max(z / temperature)) for z in logits[labels == i]]
        if rows:
            out[i] = np.mean([r / r.sum() for r in rows], axis=0)
    return out


def test_matches_numpy_loop_with_a_label_absent():
    rng = np.random.default_rng(0)
    logits = 20 * rng.standard_normal((60, 5))
    labels = rng.choice([0, 1, 2, 4], size=60)  # label 3 has no inputs
    for temperature in (AUTHORS_TEMPERATURE, 1.0):
        got = soft_confusion(logits, labels, temperature)
        np.testing.assert_allclose(got, _reference(logits, labels, temperature), rtol=1e-12, equal_nan=True)
    got = soft_confusion(logits, labels)  # default T = 10, the authors' value
    assert AUTHORS_TEMPERATURE == 10.0 and np.all(np.isnan(got[3]))
    np.testing.assert_allclose(np.delete(got, 3, 0).sum(1), 1.0, rtol=1e-12)


def test_invariances_and_limits():
    rng = np.random.default_rng(1)
    logits, labels = 5 * rng.standard_normal((40, 4)), np.repeat(np.arange(4), 10)
    base = soft_confusion(logits, labels)
    shifted = logits + 100 * rng.standard_normal((40, 1))  # softmax ignores a per-input constant
    np.testing.assert_allclose(soft_confusion(shifted, labels), base, rtol=1e-10)
    np.testing.assert_allclose(soft_confusion(logits, labels, 1e9), 0.25, rtol=1e-7)  # T → ∞: uniform
    confident = 1000.0 * np.eye(4)[labels]  # T → 0 relative to the margins: the hard confusion matrix
    np.testing.assert_allclose(soft_confusion(confident, labels, 1.0), np.eye(4), atol=1e-12)


@pytest.mark.parametrize(
    "logits, labels, temperature, message",
    [
        (np.zeros((3, 2)), np.array([0, 1, 2]), 10.0, r"labels must lie in \[0, 2\)"),
        (np.zeros((3, 2)), np.array([0.0, 1.0, 1.0]), 10.0, "labels must be 3 integers"),
        (np.zeros((3, 2)), np.array([0, 1]), 10.0, "labels must be 3 integers"),
        (np.zeros(3), np.array([0, 1, 1]), 10.0, r"non-empty \(n, K\)"),
        (np.array([[0.0, np.nan]]), np.array([0]), 10.0, "NaN or inf"),
        (np.zeros((3, 2)), np.array([0, 1, 1]), 0.0, "temperature must be a positive number"),
    ],
)
def test_bad_input_is_named(logits, labels, temperature, message):
    with pytest.raises(InputError, match=message):
        soft_confusion(logits, labels, temperature)


def test_figure_one_panel_per_model_on_one_scale(tmp_path, monkeypatch):
    figures, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or save(fig, path))
    teacher = np.array([[0.6, 0.4], [np.nan, np.nan]])  # label 1 absent from the split
    student = np.array([[0.5, 0.5], [0.3, 0.7]])
    path = plots.soft_confusion({"teacher": teacher, "l2 student": student}, tmp_path / "sc.png", 10.0, "test")
    assert matplotlib.image.imread(path).ndim == 3
    panels = [ax for ax in figures[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["teacher", "l2 student"]
    assert all(ax.images[0].get_clim() == (0.3, 0.7) for ax in panels)
    assert [t.get_text() for t in panels[0].texts] == ["0.600", "0.400"]  # no number in the empty row
    assert "T = 10" in figures[0].get_suptitle() and "test split" in figures[0].get_suptitle()
    with pytest.raises(InputError, match="at least one"):
        plots.soft_confusion({}, tmp_path / "none.png", 10.0, "test")
