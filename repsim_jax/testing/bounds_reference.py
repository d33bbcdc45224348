"""Independent float64 NumPy references for tests and benchmarks: the bounds and the 2506.03784 measures.

Written from the formulas (explicit loops, lstsq, eigvalsh), not from the JAX code.
"""

import numpy as np
from scipy.special import log_softmax


def clr(z):
    z = np.asarray(z, np.float64)
    return z - z.mean(axis=1, keepdims=True)


def canonical_correlations(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    qx, qy = np.linalg.qr(x)[0], np.linalg.qr(y)[0]
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def cca_logit(ft, zt, fs, zs):
    """(lhs, middle, rhs) of the CCA-logit chain via eigvalsh of the covariance (arguments in
    :func:`repsim_jax.bounds.cca_logit_bound`'s order: teacher embeddings and logits, then the student's)."""
    ct, cs = clr(zt), clr(zs)
    n = ct.shape[0]
    cov = np.cov(ct, rowvar=False, bias=True)
    lam = np.sort(np.linalg.eigvalsh(cov))[::-1]
    rho = canonical_correlations(ft, fs)
    size = max(len(lam), len(rho))
    lam, rho = np.pad(lam, (0, size - len(lam))), np.pad(rho, (0, size - len(rho)))
    diff = ct - cs
    middle = np.sum((diff - diff.mean(0)) ** 2) / n
    return float(np.sum((1 - rho**2) * lam)), float(middle), float(np.sum(diff**2) / n)


def rep_logit(f1, g1, f2, g2, pivots, subsets):
    """(d2_rep, (d1+1) mean ||L1^-1||^2 d2_logit, per-subset errors, per-subset rhs) by loops."""
    n, d1 = f1.shape
    d2_logit = np.mean(np.sum((clr(f1 @ g1.T) - clr(f2 @ g2.T)) ** 2, 1))
    errors, rhs_subset, inv = [], [], []
    for j, p in enumerate(pivots):
        for s in subsets[j]:
            l1, l2 = g1[s] - g1[p], g2[s] - g2[p]
            a = np.linalg.inv(l1) @ l2
            errors.append(np.mean(np.sum((f1 - f2 @ a.T) ** 2, 1)))
            delta = (f1 @ g1[s].T - (f1 @ g1[p])[:, None]) - (f2 @ g2[s].T - (f2 @ g2[p])[:, None])
            inv.append(1 / np.linalg.svd(l1, compute_uv=False)[-1] ** 2)
            rhs_subset.append(inv[-1] * np.mean(np.sum(delta**2, 1)))
    return np.mean(errors), (d1 + 1) * np.mean(inv) * d2_logit, np.array(errors), np.array(rhs_subset)


def kl_logit(zp, zq):
    lp, lq = log_softmax(np.asarray(zp, np.float64), 1), log_softmax(np.asarray(zq, np.float64), 1)
    kl_x = np.sum(np.exp(lp) * (lp - lq), 1)
    tau_x = np.minimum(np.exp(lp).min(1), np.exp(lq).min(1))
    lhs_x = np.sum((clr(lp) - clr(lq)) ** 2, 1)
    return lhs_x, kl_x, tau_x


def _terms(a1, a2, pivot, members):
    """(T, gap) over members: std over axis 0 of the standardised differences."""
    best, gap = 0.0, 0.0
    for y in members:
        if y == pivot:
            continue
        s1, s2 = np.std(a1[:, y] - a1[:, pivot]), np.std(a2[:, y] - a2[:, pivot])
        best = max(best, np.std(a1[:, y] / s1 - a2[:, y] / s2), np.std(a1[:, pivot] / s1 - a2[:, pivot] / s2))
        gap = max(gap, abs(s1 - s2))
    return best, gap


def llv(z1, z2, labels, input_sets, weight):
    """d_LLV with the pivot label minimising T1 and the input set minimising T2."""
    l1, l2 = log_softmax(np.asarray(z1, np.float64), 1), log_softmax(np.asarray(z2, np.float64), 1)
    t1, t3 = min(_terms(l1, l2, p, labels) for p in labels)
    t2, t4 = min(_terms(l1.T, l2.T, s[0], s[1:]) for s in input_sets)
    return max(t1, t2, weight * t3, weight * t4), t1, t2


def m_svd(u1, u2):
    z1 = (u1 - u1.mean(0)) / u1.std(0)
    z2 = (u2 - u2.mean(0)) / u2.std(0)
    return np.mean(np.linalg.svd(z1.T @ z2 / len(u1), compute_uv=False))


def svd_dissimilarity(f1, g1, f2, g2, pivots, subsets, input_sets):
    sims_f = [m_svd(f1 @ (g1[s] - g1[p]).T, f2 @ (g2[s] - g2[p]).T) for j, p in enumerate(pivots) for s in subsets[j]]
    sims_g = [m_svd(g1 @ (f1[s[1:]] - f1[s[0]]).T, g2 @ (f2[s[1:]] - f2[s[0]]).T) for s in input_sets]
    return max(1 - min(sims_f), 1 - min(sims_g))
