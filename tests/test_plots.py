"""Figures: each writes a PNG of the expected content."""

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
