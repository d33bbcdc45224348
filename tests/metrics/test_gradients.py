"""Finite gradients at degenerate inputs, gradient correctness, and jit-under-vmap tracing."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref

N, D = 12, 3


def _base(seed=0):
    return np.random.default_rng(seed).standard_normal((N, D)).astype(np.float32)


def _degenerate_inputs():
    rng = np.random.default_rng(1)
    x = _base(0)
    y = _base(2)
    rank_def = x.copy()
    rank_def[:, 2] = rank_def[:, 0] + rank_def[:, 1]  # rank 2 of 3
    # orthogonal, equal-norm centred columns ⇒ all singular values of x equal
    q, _ = np.linalg.qr(rng.standard_normal((N, D)) - 0.0)
    q = q - q.mean(0)
    q, _ = np.linalg.qr(q)
    equal_sv = (3.0 * q).astype(np.float32)
    return {
        "identical": (x, x),
        "rotated": (x, (x @ ref.random_orthogonal(rng, D)).astype(np.float32)),
        "rank_deficient_x": (rank_def, y),
        "rank_deficient_identical": (rank_def, rank_def),
        "equal_singular_values": (equal_sv, y),
        "equal_singular_values_identical": (equal_sv, equal_sv),
    }


DEGENERATE = _degenerate_inputs()

SHAPE_METRICS = {
    "procrustes": lambda a, b: M.procrustes_distance(a, b, validate=False),
    "procrustes_angular": lambda a, b: M.procrustes_distance(a, b, angular=True, validate=False),
    "gram": lambda a, b: M.gram_distance(a, b, validate=False),
    "cka": lambda a, b: M.linear_cka(a, b, validate=False),
    "cka_debiased": lambda a, b: M.linear_cka(a, b, debiased=True, validate=False),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
@pytest.mark.parametrize("metric", sorted(SHAPE_METRICS))
def test_shape_metric_gradients_finite(metric, case):
    # (the angular form too: arccos' is unbounded at 1, but 2·arcsin(D_P/2) with a safe sqrt is finite)
    x, y = DEGENERATE[case]
    fn = SHAPE_METRICS[metric]
    gx, gy = jax.grad(fn, argnums=(0, 1))(x, y)
    assert np.all(np.isfinite(np.asarray(gx))), (metric, case)
    assert np.all(np.isfinite(np.asarray(gy))), (metric, case)


@pytest.mark.parametrize("metric", ["procrustes", "gram"])
def test_distance_gradient_zero_at_identical(metric):
    x, _ = DEGENERATE["identical"]
    gx = jax.grad(SHAPE_METRICS[metric])(x, x)
    np.testing.assert_allclose(np.asarray(gx), 0.0, atol=1e-3)


def test_cka_gradient_zero_at_identical():
    # CKA is maximal (= 1) at x = y: the gradient w.r.t. x vanishes there.
    x, _ = DEGENERATE["identical"]
    gx = jax.grad(SHAPE_METRICS["cka"])(x, x)
    np.testing.assert_allclose(np.asarray(gx), 0.0, atol=1e-4)


@pytest.mark.parametrize("case", ["identical", "rotated", "equal_singular_values", "equal_singular_values_identical"])
def test_mean_cca_gradient_finite(case):
    x, y = DEGENERATE[case]
    fn = lambda a, b: M.mean_cca(a, b, validate=False)  # noqa: E731
    gx, gy = jax.grad(fn, argnums=(0, 1))(x, y)
    assert np.all(np.isfinite(np.asarray(gx))) and np.all(np.isfinite(np.asarray(gy)))


@pytest.mark.parametrize("case", ["identical", "rank_deficient_x", "rank_deficient_identical"])
def test_mean_cca_ridge_gradient_finite(case):
    # Without a ridge, rank-deficient inputs are refused (documented); with one they are allowed.
    x, y = DEGENERATE[case]
    gx, gy = jax.grad(lambda a, b: M.mean_cca(a, b, ridge=0.1, validate=False), argnums=(0, 1))(x, y)
    assert np.all(np.isfinite(np.asarray(gx))) and np.all(np.isfinite(np.asarray(gy)))


@pytest.mark.parametrize("squared", [False, True])
def test_logit_distance_gradient_finite_at_identical(squared):
    z = np.random.default_rng(3).standard_normal((N, 5)).astype(np.float32)
    g = jax.grad(lambda a, b: M.logit_distance(a, b, squared=squared, validate=False), argnums=(0, 1))(z, z)
    for gi in g:
        assert np.all(np.isfinite(np.asarray(gi)))
        np.testing.assert_allclose(np.asarray(gi), 0.0, atol=1e-6)
    # same conditionals, different per-input shifts: still d = 0
    shifted = z + np.arange(N, dtype=np.float32)[:, None]
    g = jax.grad(lambda a: M.logit_distance(a, shifted, squared=squared, validate=False))(z)
    assert np.all(np.isfinite(np.asarray(g)))


def test_logit_distance_from_reps_gradient_finite_at_identical():
    rng = np.random.default_rng(4)
    f = rng.standard_normal((N, D)).astype(np.float32)
    g = rng.standard_normal((6, D)).astype(np.float32)
    grads = jax.grad(lambda *a: M.logit_distance_from_reps(*a, validate=False), argnums=(0, 1, 2, 3))(f, g, f, g)
    for gi in grads:
        assert np.all(np.isfinite(np.asarray(gi)))


def test_kl_gradient_finite_and_zero_at_equal():
    z = np.random.default_rng(5).standard_normal((N, 5)).astype(np.float32)
    gp, gq = jax.grad(lambda a, b: M.kl_divergence(a, b, validate=False), argnums=(0, 1))(z, z)
    np.testing.assert_allclose(np.asarray(gp), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(gq), 0.0, atol=1e-6)


def test_kl_gradient_far_apart_logits_is_finite_and_exact():
    """A trained teacher's logits (size ~100) against a student's at initialisation: some
    ``e^{−u}`` overflows, and the value takes the log-sum-exp fallback. The gradient (the
    closed form of ``metrics.kl.mean_kl``) stays finite and equals float64 finite
    differences of the textbook formula, in both arguments, from float32 inputs."""
    rng = np.random.default_rng(8)
    zp = (60.0 * rng.standard_normal((6, 5))).astype(np.float32)
    zq = rng.standard_normal((6, 5)).astype(np.float32)
    gp, gq = jax.grad(lambda a, b: M.kl_divergence(a, b, validate=False), argnums=(0, 1))(zp, zq)
    p64, q64 = zp.astype(np.float64), zq.astype(np.float64)
    want_p = _fd_grad(lambda a: ref.kl_divergence(a, q64), p64, eps=1e-4)
    want_q = _fd_grad(lambda b: ref.kl_divergence(p64, b), q64, eps=1e-4)
    np.testing.assert_allclose(np.asarray(gp), want_p, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(np.asarray(gq), want_q, rtol=1e-3, atol=1e-5)


# ----------------------------------------------------------------- gradient correctness (float64 FD)


def _fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


GRAD_CASES = {
    "procrustes": (lambda a, b: M.procrustes_distance(a, b, validate=False), ref.procrustes_distance),
    "gram": (lambda a, b: M.gram_distance(a, b, validate=False), ref.gram_distance),
    "cka": (lambda a, b: M.linear_cka(a, b, validate=False), ref.linear_cka),
    "cka_debiased": (
        lambda a, b: M.linear_cka(a, b, debiased=True, validate=False),
        lambda a, b: ref.linear_cka(a, b, debiased=True),
    ),
    "mean_cca": (lambda a, b: M.mean_cca(a, b, validate=False), ref.mean_cca),
    "logit": (lambda a, b: M.logit_distance(a, b, validate=False), ref.logit_distance),
    "kl": (lambda a, b: M.kl_divergence(a, b, validate=False), ref.kl_divergence),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradient_matches_reference_finite_differences(name):
    fn, rfn = GRAD_CASES[name]
    rng = np.random.default_rng(6)
    x = rng.standard_normal((10, 3))
    y = x @ rng.standard_normal((3, 3)) + rng.standard_normal((10, 3))
    with jax.enable_x64(True):
        g = np.asarray(jax.grad(fn)(x, y))
    want = _fd_grad(lambda a: rfn(a, y), x)
    np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7)


def test_logit_distance_from_reps_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    f1, f2 = rng.standard_normal((10, 2)), rng.standard_normal((10, 3))
    g1, g2 = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    with jax.enable_x64(True):
        gg = np.asarray(jax.grad(lambda g: M.logit_distance_from_reps(f1, g, f2, g2, validate=False))(g1))
    want = _fd_grad(lambda g: ref.logit_distance_from_reps(f1, g, f2, g2), g1)
    np.testing.assert_allclose(gg, want, rtol=1e-5, atol=1e-7)


def test_rep_dissimilarity_gradient_matches_finite_differences():
    rng = np.random.default_rng(8)
    f1, f2 = rng.standard_normal((10, 2)), rng.standard_normal((10, 3))
    g1, g2 = rng.standard_normal((6, 2)), rng.standard_normal((6, 3))
    pivots = np.array([0, 4], np.int32)
    subsets = np.array([[[1, 2], [3, 5]], [[0, 1], [2, 5]]], np.int32)
    fn = lambda f, g: M.rep_dissimilarity(f, g, f2, g2, pivots, subsets, validate=False)  # noqa: E731
    with jax.enable_x64(True):
        gf, gg = jax.grad(fn, argnums=(0, 1))(f1, g1)
    np.testing.assert_allclose(
        np.asarray(gf),
        _fd_grad(lambda f: ref.rep_dissimilarity(f, g1, f2, g2, pivots, subsets), f1),
        rtol=1e-5,
        atol=1e-7,
    )
    np.testing.assert_allclose(
        np.asarray(gg),
        _fd_grad(lambda g: ref.rep_dissimilarity(f1, g, f2, g2, pivots, subsets), g1),
        rtol=1e-5,
        atol=1e-7,
    )


# ----------------------------------------------------------------- jit traces once under vmap

VMAP_METRICS = {
    "logit_distance": lambda a, b: M.logit_distance(a, b, validate=False),
    "kl_divergence": lambda a, b: M.kl_divergence(a, b, validate=False),
    "mean_cca": lambda a, b: M.mean_cca(a, b, validate=False),
    "canonical_correlations": lambda a, b: M.canonical_correlations(a, b, validate=False),
    "procrustes_distance": lambda a, b: M.procrustes_distance(a, b, validate=False),
    "gram_distance": lambda a, b: M.gram_distance(a, b, validate=False),
    "linear_cka": lambda a, b: M.linear_cka(a, b, debiased=True, validate=False),
    "affine_map_r2": lambda a, b: M.affine_map(a, b, ridge=0.1, validate=False).r2,
}


@pytest.mark.parametrize("name", sorted(VMAP_METRICS))
def test_jit_traces_once_under_vmap(name):
    metric = VMAP_METRICS[name]
    count = {"n": 0}

    @jax.jit
    def batched(xs, ys):
        count["n"] += 1  # Python side effect: runs only while tracing
        return jax.vmap(metric)(xs, ys)

    rng = np.random.default_rng(9)
    xs = rng.standard_normal((3, N, D)).astype(np.float32)
    ys = rng.standard_normal((3, N, D)).astype(np.float32)
    out1 = np.asarray(batched(xs, ys))
    out2 = np.asarray(batched(xs + 1.0, ys * 2.0))
    assert count["n"] == 1
    # and the batched values are the per-pair values
    for i in range(3):
        np.testing.assert_allclose(out1[i], np.asarray(metric(xs[i], ys[i])), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out2[i], np.asarray(metric(xs[i] + 1.0, ys[i] * 2.0)), rtol=1e-4, atol=1e-5)


def test_rep_dissimilarity_jit_traces_once_under_vmap():
    count = {"n": 0}
    pivots = jnp.array([0, 4], jnp.int32)
    subsets = jnp.array([[[1, 2, 3], [3, 5, 6]], [[0, 1, 2], [2, 5, 6]]], jnp.int32)

    @jax.jit
    def batched(f1, g1, f2, g2):
        count["n"] += 1
        return jax.vmap(lambda a, b, c, d: M.rep_dissimilarity(a, b, c, d, pivots, subsets, validate=False))(
            f1, g1, f2, g2
        )

    rng = np.random.default_rng(10)
    args = [rng.standard_normal(s).astype(np.float32) for s in [(2, N, 3), (2, 7, 3), (2, N, 2), (2, 7, 2)]]
    out = np.asarray(batched(*args))
    batched(*(a * 1.5 for a in args))
    assert count["n"] == 1
    for i in range(2):
        want = ref.rep_dissimilarity(*(a[i] for a in args), np.asarray(pivots), np.asarray(subsets))
        np.testing.assert_allclose(out[i], want, rtol=2e-3)
