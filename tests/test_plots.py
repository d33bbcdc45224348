"""Figures: each writes a PNG of the expected content; importing or saving leaves the backend alone."""

import os
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from repsim_jax import plots
from repsim_jax.data import spiral_splits


def test_spirals_writes_an_image(tmp_path):
    s = spiral_splits(points_per_arm=10, modality="interpolation")
    path = plots.spirals(*s.train, tmp_path / "spirals.png", min_radius=s.min_radius, max_radius=s.max_radius)
    assert matplotlib.image.imread(path).shape[-1] in (3, 4)
    with pytest.raises(ValueError, match="need x"):
        plots.spirals(np.zeros((3, 3)), np.zeros(3), tmp_path / "bad.png")


def test_bound_pairs_writes_an_image_with_an_undrawable_pair(tmp_path):
    rows = [{"kl_logit": {"lhs": 1.0, "rhs": float("inf")}}, {"kl_logit": {"lhs": 0.5, "rhs": 2.0}}]
    path = plots.bound_pairs(rows, ("kl_logit",), tmp_path / "pairs.png")
    assert matplotlib.image.imread(path).ndim == 3


def _drawn(monkeypatch) -> list:
    """Record every figure :mod:`repsim_jax.plots` saves (the real save still runs)."""
    figures, save = [], plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or save(fig, path))
    return figures


_BACKEND_SCRIPT = """
import os, sys, tempfile
import matplotlib
before = matplotlib.rcParams._get_backend_or_none()
import repsim_jax.plots as plots
after_import = matplotlib.rcParams._get_backend_or_none()
path = plots.curves([0, 1], {"a": [1, 2]}, os.path.join(tempfile.mkdtemp(), "c.png"), "x", "t")
after_saving = matplotlib.rcParams._get_backend_or_none()
print(before, after_import, after_saving, "matplotlib.pyplot" in sys.modules, os.path.getsize(path) > 0)
"""


@pytest.mark.parametrize(
    "backend, expected",
    [
        (None, "None None None False True"),  # the backend stays unresolved (auto-selected on first pyplot use)
        ("svg", "svg svg svg False True"),  # a user's choice stays
        ("tkagg", "tkagg tkagg tkagg False True"),  # an interactive backend with no display: still saves
    ],
)
def test_importing_and_saving_leave_the_matplotlib_backend_alone(backend, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    if backend:
        env["MPLBACKEND"] = backend
    done = subprocess.run(
        [sys.executable, "-c", _BACKEND_SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == expected


def test_zoo_heatmaps_put_model_1_on_rows_and_name_both_axes(tmp_path, monkeypatch):
    figures = _drawn(monkeypatch)
    names = [f"/zoo/{loss}/seed{s}" for loss in ("kl", "l2") for s in range(3)]
    # an asymmetric value per ordered pair: 10·(index of a) + (index of b)
    rows = [
        {"a": a, "b": b, "logit_distance": 1.0, "mean_cca": 0.5, "rep_dissimilarity": 10.0 * i + j}
        for i, a in enumerate(names)
        for j, b in enumerate(names)
        if a != b
    ]
    plots.model_zoo(rows, tmp_path / "zoo.png")
    heatmap = figures[0].axes[2]  # logit_distance, mean_cca, rep_dissimilarity, then the scatter
    assert heatmap.get_title() == "rep_dissimilarity"
    grid = np.ma.filled(heatmap.images[0].get_array(), np.nan)
    expected = np.add.outer(10.0 * np.arange(6), np.arange(6))
    np.fill_diagonal(expected, np.nan)
    np.testing.assert_array_equal(grid, expected)  # row i = model 1 (A) = names[i]
    assert (heatmap.get_ylabel(), heatmap.get_xlabel()) == ("model 1 (A)", "model 2 (B)")
    ticks = [t.get_text() for t in heatmap.get_yticklabels()]
    assert ticks == ["kl/seed0", "kl/seed1", "kl/seed2", "l2/seed0", "l2/seed1", "l2/seed2"]
    assert min(t.get_fontsize() for t in [*heatmap.get_xticklabels(), *heatmap.get_yticklabels()]) >= 8
    assert "d_rep maps B onto A" in figures[0].get_suptitle()


def test_zoo_ticks_stay_readable_for_many_models(tmp_path, monkeypatch):
    figures = _drawn(monkeypatch)
    names = [f"m{i:03d}" for i in range(90)]
    rows = [{"a": a, "b": b, "logit_distance": 1.0, "mean_cca": 0.5} for a in names for b in names if a != b]
    plots.model_zoo(rows, tmp_path / "zoo.png", metrics=("logit_distance",))
    heatmap = figures[0].axes[0]
    labels = heatmap.get_xticklabels()
    assert len(labels) == 30 and labels[1].get_text() == "m003"  # every 3rd model named (at most 40)
    assert min(t.get_fontsize() for t in labels) >= 8


def test_bound_curves_label_the_y_axis_and_explain_the_band(tmp_path, monkeypatch):
    figures = _drawn(monkeypatch)
    curve = {"epochs": np.array([10, 20]), "lhs": np.ones((4, 2)), "rhs": np.full((4, 2), 2.0)}
    plots.bound_curves({"kl": curve, "l2": curve}, tmp_path / "bound.png")
    assert figures[0].axes[0].get_ylabel()
    (legend,) = figures[0].legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert "shaded: ± std over 4 seeds" in labels
    assert any("rhs" in t for t in labels) and any("lhs" in t for t in labels)


def test_decision_regions_name_every_label_in_a_legend(tmp_path, monkeypatch):
    figures = _drawn(monkeypatch)
    grid = np.arange(25).reshape(5, 5) % 7
    x, y = np.zeros((7, 2)), np.arange(7)
    plots.decision_regions(np.linspace(-1, 1, 5), {"teacher": grid, "kl": grid}, x, y, tmp_path / "regions.png")
    (legend,) = figures[0].legends
    assert [t.get_text() for t in legend.get_texts()] == [str(k) for k in range(7)]
    assert "predicted label" in figures[0].get_suptitle()


def test_metric_bars_say_what_the_error_bars_are(tmp_path, monkeypatch):
    figures = _drawn(monkeypatch)
    seeds = {"accuracy": {"mean": 0.5, "std": 0.1, "values": [0.4, 0.5, 0.6]}}
    plots.metric_bars({"kl": seeds, "l2": seeds}, tmp_path / "seeds.png")
    teachers = {"accuracy": {**seeds["accuracy"], "teacher_means": [0.4, 0.6]}}
    plots.metric_bars({"kl": teachers}, tmp_path / "teachers.png")
    assert "± std over 3 student seeds" in figures[0].get_suptitle()
    assert "standard error of the weighted mean over 2 teachers" in figures[1].get_suptitle()
