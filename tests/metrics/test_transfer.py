"""affine_map (least-squares affine transfer with ridge) vs float64 references."""

import jax
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref


def _st(seed, n=30, ds=4, dt=3, noise=0.5):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, ds)) * 2 + 1
    a = rng.standard_normal((dt, ds))
    b = rng.standard_normal(dt)
    t = s @ a.T + b + noise * rng.standard_normal((n, dt))
    return s, t, a, b


def _unpack(res):
    return np.asarray(res.matrix), np.asarray(res.bias), float(res.r2)


@pytest.mark.parametrize("ds,dt", [(4, 3), (2, 5)])
@pytest.mark.parametrize("ridge", [0.0, 2.0])
def test_affine_map_matches_reference(ds, dt, ridge):
    s, t, _, _ = _st(ds * 10 + dt, ds=ds, dt=dt)
    a_ref, b_ref, r2_ref = ref.affine_map(s, t, ridge=ridge)
    with jax.enable_x64(True):
        a, b, r2 = _unpack(M.affine_map(s, t, ridge=ridge))
    assert a.shape == (dt, ds) and b.shape == (dt,)
    np.testing.assert_allclose(a, a_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b, b_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r2, r2_ref, rtol=1e-9)
    a32, b32, r232 = _unpack(M.affine_map(s.astype(np.float32), t.astype(np.float32), ridge=ridge))
    assert a32.dtype == np.float32
    np.testing.assert_allclose(a32, a_ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(b32, b_ref, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(r232, r2_ref, atol=1e-4)


def test_affine_map_unregularised_equals_lstsq_with_intercept():
    s, t, _, _ = _st(1)
    a_ref, b_ref = ref.affine_map_lstsq(s, t)
    with jax.enable_x64(True):
        a, b, _ = _unpack(M.affine_map(s, t))
    np.testing.assert_allclose(a, a_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b, b_ref, rtol=1e-8, atol=1e-10)


def test_affine_map_recovers_exact_affine_relation():
    s, t, a_true, b_true = _st(2, noise=0.0)
    with jax.enable_x64(True):
        a, b, r2 = _unpack(M.affine_map(s, t))
    np.testing.assert_allclose(a, a_true, atol=1e-10)
    np.testing.assert_allclose(b, b_true, atol=1e-10)
    np.testing.assert_allclose(r2, 1.0, atol=1e-12)
    a, b, r2 = _unpack(M.affine_map(s.astype(np.float32), t.astype(np.float32)))
    np.testing.assert_allclose(a, a_true, atol=1e-4)
    np.testing.assert_allclose(b, b_true, atol=1e-4)
    np.testing.assert_allclose(r2, 1.0, atol=1e-5)


def test_affine_map_r2_definition_and_apply():
    s, t, _, _ = _st(3, noise=2.0)
    with jax.enable_x64(True):
        res = M.affine_map(s, t)
        pred = np.asarray(res.apply(s))
        v = np.array([1.0, -2.0, 0.5, 0.0])
        moved = np.asarray(res.transfer_direction(v))
    a, b, r2 = _unpack(res)
    np.testing.assert_allclose(pred, s @ a.T + b, rtol=1e-12)
    sse = np.sum((pred - t) ** 2)
    sst = np.sum((t - t.mean(0)) ** 2)
    np.testing.assert_allclose(r2, 1 - sse / sst, rtol=1e-10)
    assert 0.0 < r2 < 1.0
    np.testing.assert_allclose(moved, a @ v, rtol=1e-12)


def test_affine_map_ridge_shrinks_matrix_and_r2():
    s, t, _, _ = _st(4, noise=1.0)
    with jax.enable_x64(True):
        norms, r2s = [], []
        for lam in (0.0, 1.0, 100.0, 1e4):
            a, _, r2 = _unpack(M.affine_map(s, t, ridge=lam))
            norms.append(np.linalg.norm(a))
            r2s.append(r2)
    assert all(x > y for x, y in zip(norms, norms[1:]))
    assert all(x >= y - 1e-12 for x, y in zip(r2s, r2s[1:]))
    # very strong ridge: A → 0, b → mean target, R² → 0
    with jax.enable_x64(True):
        a, b, r2 = _unpack(M.affine_map(s, t, ridge=1e12))
    np.testing.assert_allclose(a, 0.0, atol=1e-8)
    np.testing.assert_allclose(b, t.mean(0), atol=1e-6)
    assert abs(r2) < 1e-6


def test_affine_map_rank_deficient_source_minimum_norm():
    rng = np.random.default_rng(5)
    s = rng.standard_normal((30, 3))
    s = np.concatenate([s, s[:, :1] * 2.0 - s[:, 1:2]], axis=1)  # 4th column collinear
    t = s[:, :3] @ rng.standard_normal((3, 3)) + 0.1 * rng.standard_normal((30, 3))
    a_ref, b_ref = ref.affine_map_pinv(s, t)
    with jax.enable_x64(True):
        a, b, r2 = _unpack(M.affine_map(s, t))
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, a_ref, atol=1e-8)
    np.testing.assert_allclose(b, b_ref, atol=1e-8)
    sse = np.sum((s @ a_ref.T + b_ref - t) ** 2)
    np.testing.assert_allclose(r2, 1 - sse / np.sum((t - t.mean(0)) ** 2), rtol=1e-9)


def test_affine_map_more_features_than_samples_with_ridge():
    rng = np.random.default_rng(6)
    s = rng.standard_normal((5, 8))
    t = rng.standard_normal((5, 2))
    a_ref, b_ref, r2_ref = ref.affine_map(s, t, ridge=0.3)
    with jax.enable_x64(True):
        a, b, r2 = _unpack(M.affine_map(s, t, ridge=0.3))
    np.testing.assert_allclose(a, a_ref, atol=1e-9)
    np.testing.assert_allclose(b, b_ref, atol=1e-9)
    np.testing.assert_allclose(r2, r2_ref, atol=1e-9)
