"""Each logit bound is attained (lhs/rhs = 1 within 1e-6) at its proof's equality case.

The constructions follow docs/theory.md §3.1–§3.3. Expected values come from the
metrics' definitions in float64 NumPy (``repsim_jax.testing.reference``) and from the
construction in closed form, never from the bound's own formula, so a constant that is
too large makes lhs/rhs < 1 and one that is too small makes the check fail. Each test
also asserts that half the library's rhs is exceeded there, i.e. that halving the
constant would break the inequality.
"""

import jax
import numpy as np
import pytest
import scipy.special

from repsim_jax import bounds
from repsim_jax.testing import reference


def _orthogonal_with_column(rng, direction):
    """A random orthogonal matrix whose last column is ``direction / ‖direction‖``."""
    dim = direction.shape[0]
    q = np.linalg.qr(np.column_stack([direction, rng.normal(size=(dim, dim - 1))]))[0]
    q = q * np.sign(q[0, 0] * direction[0])  # first column +direction/‖direction‖
    return np.roll(q, -1, axis=1)


def _rep_equality_case(rng, n, d1):
    """Pivot K−1, subset 0..d₁−1 (K = d₁ + 1), ``f₂ = f₁``, ``g₂ = g₁ − c hᵀ`` with
    ``c = (1, …, 1, −d₁)``: then ``D(x) = (hᵀf(x))c`` is label-centred and
    ``Δ(x) = (d₁+1)(hᵀf(x))1``; ``L₁`` has ``1/√d₁`` as its σ_min left singular vector.

    Returns the models, pivots, subsets and the closed-form
    ``d²_rep = (d₁+1)²·d₁·mean(hᵀf)²/σ_min²``.
    """
    f1, h = rng.normal(size=(n, d1)), rng.normal(size=d1)
    sigma = np.linspace(3.0, 0.5, d1)  # descending: σ_min = 0.5 along the last column of U
    u = _orthogonal_with_column(rng, np.ones(d1))
    v = np.linalg.qr(rng.normal(size=(d1, d1)))[0]
    l1 = (u * sigma) @ v.T
    pivot_row = rng.normal(size=d1)
    g1 = np.vstack([l1 + pivot_row, pivot_row])
    c = np.append(np.ones(d1), -float(d1))
    g2 = g1 - np.outer(c, h)
    pivots, subsets = np.array([d1]), np.arange(d1)[None, None, :]
    expected = (d1 + 1) ** 2 * d1 * np.mean((f1 @ h) ** 2) / sigma[-1] ** 2
    return (f1, g1, f1.copy(), g2), pivots, subsets, expected


@pytest.mark.parametrize("d1", [2, 3, 5])
def test_rep_logit_bound_is_attained(d1):
    (f1, g1, f2, g2), pivots, subsets, expected = _rep_equality_case(np.random.default_rng(d1), 50, d1)
    d_rep_sq = reference.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, squared=True)
    np.testing.assert_allclose(d_rep_sq, expected, rtol=1e-10)  # the construction is what it claims
    with jax.enable_x64(True):
        result = bounds.rep_logit_bound(f1, g1, f2, g2, pivots, subsets)
    np.testing.assert_allclose(float(result.lhs), d_rep_sq, rtol=1e-10)
    np.testing.assert_allclose(float(result.rhs) / d_rep_sq, 1.0, atol=1e-6)
    np.testing.assert_allclose(np.ravel(result.subset_rhs) / d_rep_sq, 1.0, atol=1e-6)
    logit_sq = reference.logit_distance_from_reps(f1, g1, f2, g2, squared=True)
    np.testing.assert_allclose(float(result.logit_distance_sq), logit_sq, rtol=1e-10)
    assert bool(result.holds) and bool(np.all(result.subset_holds))
    assert d_rep_sq > 0.5 * float(result.rhs) * (1 + 1e-6)  # (d₁+1)/2 instead of d₁+1 would fail
    assert np.all(d_rep_sq > 0.5 * np.asarray(result.subset_rhs) * (1 + 1e-6))  # so would ‖L₁⁻¹‖₂²/2


def _kl_equality_case(n, s):
    """K = 2, every input ``p = (½ + s, ½ − s)``, ``q = (½ − s, ½ + s)``: with
    ``a = log((½ + s)/(½ − s))``, ``d²_logit = 2a²``, ``KL = 2sa``, ``τ = ½ − s``, so
    ``lhs/rhs = a(½ − s)²/s = 1 − 4s + O(s²)``; returns the logits and that ratio."""
    a = np.log((0.5 + s) / (0.5 - s))
    z_p = np.tile([a / 2, -a / 2], (n, 1))
    return z_p, -z_p, a * (0.5 - s) ** 2 / s


def test_kl_logit_bound_is_attained_for_two_labels_near_uniform():
    z_p, z_q, ratio = _kl_equality_case(4, 1e-7)
    lhs = reference.logit_distance(z_p, z_q, squared=True)
    kl = reference.kl_divergence(z_p, z_q)
    tau = min(scipy.special.softmax(z_p, axis=1).min(), scipy.special.softmax(z_q, axis=1).min())
    np.testing.assert_allclose(lhs * tau**2 / kl, ratio, rtol=1e-8)  # the construction is what it claims
    with jax.enable_x64(True):
        result = bounds.kl_logit_bound(z_p, z_q)
    np.testing.assert_allclose([float(result.lhs), float(result.kl), float(result.tau)], [lhs, kl, tau], rtol=1e-7)
    np.testing.assert_allclose(lhs / float(result.rhs), 1.0, atol=1e-6)
    np.testing.assert_allclose(lhs / float(result.rhs_per_input), 1.0, atol=1e-6)
    assert bool(result.holds) and bool(result.holds_per_input)
    assert lhs > 0.5 * float(result.rhs) * (1 + 1e-6)  # KL/(2τ²) would fail


def test_cca_logit_bound_is_attained():
    """Orthogonal teacher coordinates with variances 9, 4, 1 read out by orthonormal label
    directions; the student keeps the first coordinate only: ρ = (1, 0, 0), λ = (9, 4, 1),
    so lhs = middle = rhs = 4 + 1 (docs/theory.md §3.1, equality case)."""
    rng = np.random.default_rng(1)
    n, k = 60, 6
    q = np.linalg.qr(rng.normal(size=(n, 3)))[0]
    q = np.linalg.qr(q - q.mean(0))[0]
    f_t = np.sqrt(n) * q * np.array([3.0, 2.0, 1.0])
    g = np.linalg.qr(reference.center_logits(rng.normal(size=(3, k))).T)[0]  # (K, 3) orthonormal, label-centred
    f_s, z_t = f_t[:, :1], f_t @ g.T
    z_s = f_s @ g[:, :1].T
    rho = np.pad(reference.canonical_correlations(f_t, f_s), (0, 2))
    lam = np.sort(np.linalg.eigvalsh(np.cov(reference.center_logits(z_t), rowvar=False, bias=True)))[::-1][:3]
    lhs, rhs = np.sum((1 - rho**2) * lam), reference.logit_distance(z_t, z_s, squared=True)
    np.testing.assert_allclose([lhs, rhs], [5.0, 5.0], rtol=1e-10)  # the construction is what it claims
    with jax.enable_x64(True):
        result = bounds.cca_logit_bound(f_t, z_t, f_s, z_s)
    np.testing.assert_allclose([result.lhs, result.middle, result.rhs], [lhs, rhs, rhs], rtol=1e-10)
    np.testing.assert_allclose(result.eigenvalues[:3], [9.0, 4.0, 1.0], rtol=1e-10)
    assert bool(result.holds)
    assert lhs > 0.5 * float(result.rhs) * (1 + 1e-6)  # half of d²_logit would fail
