"""Theorem F.1 in the authors' raw-logit form against a float64 NumPy transcription of
their figure's quantities (with the eigenvalues sorted), its relation to the centred
form, and the two-panel figure."""

import numpy as np
import pytest

from repsim_jax import plots
from repsim_jax.reproduce.theorem_f1 import raw_cca_logit
from repsim_jax.testing import bounds_reference

N, K = 500, 12


def _pair(seed: int, d_t: int = 6, d_s: int = 4):
    """A teacher and a noisy student (f = embeddings, z = f Gᵀ with an offset embedding
    head, so the raw logits have a non-zero mean)."""
    rng = np.random.default_rng(seed)
    f_t = rng.normal(size=(N, d_t)) + 1.5
    f_s = f_t[:, :d_s] @ rng.normal(size=(d_s, d_s)) + 0.3 * rng.normal(size=(N, d_s)) + 0.5
    g_t, g_s = rng.normal(size=(K, d_t)), rng.normal(size=(K, d_s))
    return f_t, f_s, f_t @ g_t.T, f_s @ g_s.T


def _reference(f_t, f_s, z_t, z_s, order=None):
    """Their quantities: eig of the raw second moment, correlations padded with zeros."""
    mu = np.linalg.eig(z_t.T @ z_t / len(z_t))[0].real
    mu = np.sort(mu)[::-1] if order is None else mu[order]
    rho = bounds_reference.canonical_correlations(f_t, f_s)
    rho = np.concatenate([rho, np.zeros(K - rho.size)])
    return np.sum((1 - rho**2) * mu), np.sum((z_s - z_t) ** 2) / len(z_t)


@pytest.mark.parametrize("seed", [0, 1])
def test_raw_form_matches_the_reference(seed):
    f_t, f_s, z_t, z_s = _pair(seed)
    got = raw_cca_logit(f_t, f_s, z_t, z_s)
    lhs, rhs = _reference(f_t, f_s, z_t, z_s)
    assert got["lhs"] == pytest.approx(lhs, rel=1e-5) and got["rhs"] == pytest.approx(rhs, rel=1e-12)
    # sorted pairing is the smallest left side (rearrangement); other orders overstate it
    rng = np.random.default_rng(seed)
    for order in (rng.permutation(K) for _ in range(5)):
        assert got["lhs"] <= _reference(f_t, f_s, z_t, z_s, order)[0] * (1 + 1e-6)


def test_raw_sides_dominate_the_centred_sides():
    f_t, f_s, z_t, z_s = _pair(2)
    raw = raw_cca_logit(f_t, f_s, z_t, z_s)
    lhs, _, rhs = bounds_reference.cca_logit(f_t, z_t, f_s, z_s)
    # μ ≥ λ elementwise (second moment vs covariance of label-centred logits); ‖z‖ ≥ ‖clr z‖
    assert raw["lhs"] >= lhs and raw["rhs"] >= rhs
    assert raw["lhs"] > 1.5 * lhs  # the mean logits add a large raw eigenvalue here


def test_figure_has_both_forms(tmp_path):
    rng = np.random.default_rng(0)
    sides = lambda: {"lhs": rng.uniform(0.1, 1, (3, 5)), "rhs": rng.uniform(1, 2, (3, 5))}
    curves = {"epochs": np.arange(10, 60, 10), "seeds": [0, 1, 2], "centred": sides(), "raw": sides()}
    path = plots.theorem_f1(curves, tmp_path / "f1.png")
    assert path.stat().st_size > 10_000
