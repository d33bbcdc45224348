"""Independent float64 NumPy references for tests and benchmarks: the metrics of repsim_jax.metrics.

Written from the definitions in docs/theory.md (not from the JAX implementation).
Everything here is deliberately naive: explicit n×n Gram matrices, explicit Python
loops, np.linalg.inv, full SVDs. Only meant for small test sizes.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.special


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def center_columns(x):
    x = _f64(x)
    return x - x.mean(axis=0, keepdims=True)


# --------------------------------------------------------------------------- logits


def center_logits(z):
    z = _f64(z)
    return z - z.mean(axis=-1, keepdims=True)


def logit_distance(z1, z2, squared=False):
    """d² = (1/n) Σ_x ‖Z̄₁(x) − Z̄₂(x)‖² (row-wise label centring)."""
    diff = center_logits(z1) - center_logits(z2)
    d2 = float(np.mean(np.sum(diff**2, axis=-1)))
    return d2 if squared else float(np.sqrt(max(d2, 0.0)))


def logit_distance_from_reps(f1, g1, f2, g2, squared=False):
    z1 = _f64(f1) @ _f64(g1).T
    z2 = _f64(f2) @ _f64(g2).T
    return logit_distance(z1, z2, squared=squared)


def kl_divergence(zp, zq):
    """(1/n) Σ_x Σ_y p(y|x) (log p(y|x) − log q(y|x))."""
    lp = scipy.special.log_softmax(_f64(zp), axis=-1)
    lq = scipy.special.log_softmax(_f64(zq), axis=-1)
    return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=-1)))


# --------------------------------------------------------------------------- CCA


def _inv_sqrt_psd(c):
    w, v = np.linalg.eigh(c)
    return (v / np.sqrt(w)) @ v.T


def canonical_correlations(x, y, ridge=0.0):
    """Descending canonical correlations, min(dx, dy) of them.

    ridge == 0: QR of each column-centred matrix then singular values of QₓᵀQ_y.
    ridge > 0: singular values of (Cxx+rI)^{-1/2} Cxy (Cyy+rI)^{-1/2} with scatter
    matrices Cxx = X̃ᵀX̃ (not divided by n).
    """
    xc, yc = center_columns(x), center_columns(y)
    k = min(xc.shape[1], yc.shape[1])
    if ridge == 0.0:
        qx, _ = scipy.linalg.qr(xc, mode="economic")
        qy, _ = scipy.linalg.qr(yc, mode="economic")
        s = np.linalg.svd(qx.T @ qy, compute_uv=False)
    else:
        cxx = xc.T @ xc + ridge * np.eye(xc.shape[1])
        cyy = yc.T @ yc + ridge * np.eye(yc.shape[1])
        cxy = xc.T @ yc
        s = np.linalg.svd(_inv_sqrt_psd(cxx) @ cxy @ _inv_sqrt_psd(cyy), compute_uv=False)
    s = np.sort(s)[::-1][:k]
    return np.clip(s, 0.0, 1.0)


def canonical_correlations_whitening(x, y):
    """Second, independent route (covariance whitening) for cross-checking."""
    xc, yc = center_columns(x), center_columns(y)
    k = min(xc.shape[1], yc.shape[1])
    m = _inv_sqrt_psd(xc.T @ xc) @ (xc.T @ yc) @ _inv_sqrt_psd(yc.T @ yc)
    return np.sort(np.linalg.svd(m, compute_uv=False))[::-1][:k]


def mean_cca(x, y, ridge=0.0):
    return float(np.mean(canonical_correlations(x, y, ridge=ridge)))


# --------------------------------------------------------------------------- shape


def normalize(x):
    """Column-centre and scale to unit Frobenius norm."""
    xc = center_columns(x)
    return xc / np.linalg.norm(xc)


def _pad(x, y):
    d = max(x.shape[1], y.shape[1])
    xp = np.zeros((x.shape[0], d))
    yp = np.zeros((y.shape[0], d))
    xp[:, : x.shape[1]] = x
    yp[:, : y.shape[1]] = y
    return xp, yp


def nuclear_overlap(x, y):
    xn, yn = _pad(normalize(x), normalize(y))
    return float(np.sum(np.linalg.svd(xn.T @ yn, compute_uv=False)))


def procrustes_distance(x, y, angular=False):
    nuc = nuclear_overlap(x, y)
    if angular:
        return float(np.arccos(np.clip(nuc, -1.0, 1.0)))
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * nuc)))


def procrustes_distance_by_rotation(x, y):
    """min over orthogonal R of ‖X − Y R‖_F (explicit optimal rotation)."""
    xn, yn = _pad(normalize(x), normalize(y))
    u, _, vt = np.linalg.svd(yn.T @ xn)
    r = u @ vt
    return float(np.linalg.norm(xn - yn @ r))


def gram_distance(x, y):
    xn, yn = normalize(x), normalize(y)
    return float(np.linalg.norm(xn @ xn.T - yn @ yn.T))


# --------------------------------------------------------------------------- CKA


def _unbiased_hsic(k, m):
    """Unbiased HSIC estimator (Song et al. 2012) on n×n Gram matrices."""
    n = k.shape[0]
    k = k.copy()
    m = m.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(m, 0.0)
    one = np.ones(n)
    term1 = np.trace(k @ m)
    term2 = (one @ k @ one) * (one @ m @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ k @ m @ one)
    return (term1 + term2 - term3) / (n * (n - 3))


def linear_cka(x, y, debiased=False):
    xc, yc = center_columns(x), center_columns(y)
    if not debiased:
        num = np.linalg.norm(xc.T @ yc) ** 2
        den = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
        return float(num / den)
    k = xc @ xc.T
    m = yc @ yc.T
    hxy = _unbiased_hsic(k, m)
    hxx = _unbiased_hsic(k, k)
    hyy = _unbiased_hsic(m, m)
    return float(hxy / np.sqrt(hxx * hyy))


def linear_cka_biased_hsic(x, y):
    """CKA via explicit biased HSIC with the centring matrix H (cross-check)."""
    x, y = _f64(x), _f64(y)
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k = h @ (x @ x.T) @ h
    m = h @ (y @ y.T) @ h
    return float(np.sum(k * m) / np.sqrt(np.sum(k * k) * np.sum(m * m)))


# --------------------------------------------------------------------------- d_rep


def rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets, max_condition=np.inf, cond_norm="fro"):
    """Explicit loop. Returns (errors e_jc for kept subsets, number excluded).

    The condition number of L₁ is ‖L₁‖‖L₁⁻¹‖ in the norm ``cond_norm`` (the
    implementation documents the Frobenius one).
    """
    f1, g1, f2, g2 = map(_f64, (f1, g1, f2, g2))
    pivots = np.asarray(pivots)
    subsets = np.asarray(subsets)
    errs, excluded = [], 0
    for j, p in enumerate(pivots):
        for s in subsets[j]:
            l1 = g1[s] - g1[p]
            l2 = g2[s] - g2[p]
            if np.linalg.cond(l1, cond_norm) > max_condition:
                excluded += 1
                continue
            a = np.linalg.inv(l1) @ l2  # (d1, d2)
            resid = f1 - f2 @ a.T  # rows: f1(x) − A f2(x)
            errs.append(np.mean(np.sum(resid**2, axis=1)))
    return np.asarray(errs), excluded


def rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, squared=False, max_condition=np.inf, cond_norm="fro"):
    errs, _ = rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets, max_condition, cond_norm)
    d2 = float(np.mean(errs))
    return d2 if squared else float(np.sqrt(max(d2, 0.0)))


# --------------------------------------------------------------------------- transfer


def affine_map(source, target, ridge=0.0):
    """argmin_{A,b} Σ‖A x + b − y‖² + ridge‖A‖²_F; A is (d_target, d_source).

    Returns (A, b, r2) with r2 = 1 − SSE/SST, SST = Σ‖y − ȳ‖² over all output dims.
    """
    x, y = _f64(source), _f64(target)
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    at = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ yc)  # (dx, dy)
    a = at.T
    b = my - a @ mx
    sse = np.sum((x @ a.T + b - y) ** 2)
    sst = np.sum(yc**2)
    return a, b, float(1.0 - sse / sst)


def affine_map_pinv(source, target):
    """Unregularised affine map with the minimum-norm A (pseudo-inverse of centred source)."""
    x, y = _f64(source), _f64(target)
    mx, my = x.mean(0), y.mean(0)
    a = (np.linalg.pinv(x - mx) @ (y - my)).T
    return a, my - a @ mx


def affine_map_lstsq(source, target):
    """Unregularised affine map by lstsq on [x, 1] (independent cross-check)."""
    x, y = _f64(source), _f64(target)
    xa = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    w, *_ = np.linalg.lstsq(xa, y, rcond=None)
    return w[:-1].T, w[-1]


# --------------------------------------------------------------------------- helpers


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def random_invertible(rng, d, cond=10.0):
    """Random d×d matrix with singular values spread in [1, cond]."""
    u = random_orthogonal(rng, d)
    v = random_orthogonal(rng, d)
    s = np.geomspace(1.0, cond, d)
    return (u * s) @ v.T
