"""Each loss against an independent float64 NumPy reference; finite gradients at
degenerate inputs; the registry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from repsim_jax import losses


def _np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _normalise(x):
    x = x - x.mean(0)
    return x / np.linalg.norm(x)


def _pad(x, width):
    return np.pad(x, ((0, 0), (0, width - x.shape[1])))


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(12, 5)),
        rng.normal(size=(12, 5)) * 2 + 1,
        rng.normal(size=(12, 4)),
        rng.normal(size=(12, 3)),
        rng.integers(0, 5, 12),
    )


def test_cross_entropy(pair):
    zs, _, _, _, y = pair
    ref = -np.mean(_np_log_softmax(zs)[np.arange(12), y])
    np.testing.assert_allclose(losses.cross_entropy(jnp.float32(zs), y), ref, rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_kl_is_teacher_to_student_with_t_squared(pair, temperature):
    zs, zt, *_ = pair
    lp, lq = _np_log_softmax(zt / temperature), _np_log_softmax(zs / temperature)
    ref = temperature**2 * np.mean(np.sum(np.exp(lp) * (lp - lq), -1))
    got = losses.kl_distillation(jnp.float32(zs), jnp.float32(zt), temperature)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_logit_l2_centered_and_reference(pair):
    zs, zt, *_ = pair
    c = lambda z: z - z.mean(-1, keepdims=True)
    np.testing.assert_allclose(
        losses.logit_l2(jnp.float32(zs), jnp.float32(zt)), np.sum((c(zs) - c(zt)) ** 2) / 12, rtol=1e-5
    )
    np.testing.assert_allclose(
        losses.logit_l2(jnp.float32(zs), jnp.float32(zt), centered=False), np.sum((zs - zt) ** 2) / 12, rtol=1e-5
    )


def test_logit_l1_centered_and_reference(pair):
    zs, zt, *_ = pair
    c = lambda z: z - z.mean(-1, keepdims=True)
    np.testing.assert_allclose(
        losses.logit_l1(jnp.float32(zs), jnp.float32(zt)), np.sum(np.abs(c(zs) - c(zt))) / 12, rtol=1e-5
    )
    np.testing.assert_allclose(
        losses.logit_l1(jnp.float32(zs), jnp.float32(zt), centered=False), np.mean(np.abs(zs - zt)), rtol=1e-5
    )


def test_centered_logit_losses_ignore_per_input_shifts(pair):
    zs, zt, *_ = pair
    shift = np.arange(12.0)[:, None]
    for fn in (losses.logit_l2, losses.logit_l1):
        np.testing.assert_allclose(
            fn(jnp.float32(zs + shift), jnp.float32(zt)), fn(jnp.float32(zs), jnp.float32(zt)), rtol=1e-4
        )


def test_feature_losses_match_numpy(pair):
    *_, fs, ft, _ = pair
    x, y = _normalise(fs), _pad(_normalise(ft), 4)
    ref_p = np.sqrt(max(0.0, 2 - 2 * np.linalg.svd(x.T @ y, compute_uv=False).sum()))
    ref_g = np.linalg.norm(x @ x.T - y @ y.T)
    xc, yc = fs - fs.mean(0), ft - ft.mean(0)
    ref_cka = 1 - np.linalg.norm(xc.T @ yc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    a, b = jnp.float32(fs), jnp.float32(ft)
    np.testing.assert_allclose(losses.procrustes_loss(a, b), ref_p, rtol=1e-4)
    np.testing.assert_allclose(losses.gram_loss(a, b), ref_g, rtol=1e-4)
    np.testing.assert_allclose(losses.cka_loss(a, b), ref_cka, rtol=1e-4)


def test_projection_mse(pair):
    *_, fs, ft, _ = pair
    w = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(
        losses.projection_mse(jnp.float32(w), jnp.float32(fs), jnp.float32(ft)), np.mean((fs @ w - ft) ** 2), rtol=1e-5
    )


@pytest.mark.parametrize("name", ["kl", "l2", "l1", "l2+procrustes", "l1+gram", "kl+cka", "l2+proj_mse"])
def test_gradients_finite_at_identical_inputs(name):
    """Student = teacher (zero distance) and a rank-deficient embedding (one column)."""
    rng = np.random.default_rng(2)
    emb = jnp.float32(np.c_[rng.normal(size=(10, 1)), np.zeros((10, 2))])
    logits = jnp.float32(rng.normal(size=(10, 4)))
    loss = losses.get_loss(name, ce_weight=0.1)
    params = loss.init(jax.random.key(0), 3, 3)
    if "projection" in params:
        params = {"projection": jnp.eye(3)}
    value, grads = jax.value_and_grad(lambda s: loss.apply(params, s, (emb, logits), jnp.zeros(10, jnp.int32))[0])(
        (emb, logits)
    )
    assert np.isfinite(value)
    for g in jax.tree.leaves(grads):
        assert np.all(np.isfinite(np.asarray(g)))


def test_get_loss_combines_weighted_terms(pair):
    zs, zt, fs, ft, y = pair
    loss = losses.get_loss("l2+cka", ce_weight=0.3, logit_weight=2.0, feature_weight=0.5)
    total, parts = loss.apply({}, (jnp.float32(fs), jnp.float32(zs)), (jnp.float32(ft), jnp.float32(zt)), y)
    assert set(parts) == {"ce", "l2", "cka"}
    np.testing.assert_allclose(total, 0.3 * parts["ce"] + 2 * parts["l2"] + 0.5 * parts["cka"], rtol=1e-6)
    assert losses.get_loss("ce").needs_teacher is False


@pytest.mark.parametrize("name", ["mse", "l2+l1", "kl+cka+gram", ""])
def test_get_loss_rejects_bad_names(name):
    with pytest.raises(ValueError, match="loss"):
        losses.get_loss(name)


def test_get_loss_rejects_bad_settings():
    with pytest.raises(ValueError, match="temperature"):
        losses.get_loss("kl", temperature=0.0)
    with pytest.raises(ValueError, match="no terms"):
        losses.get_loss("ce", ce_weight=0.0)
