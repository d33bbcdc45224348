"""The 5-label mCCA-maximal example (b'): m_CCA = 1 on both sides, distributions differ.

Checked against float64 NumPy written here (QR/SVD canonical correlations, log-softmax
KL, centred logit distance), and the library's own figures against those."""

import jax
import numpy as np

from repsim_jax import counterexamples


def _canonical_correlations(x, y):
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def _log_softmax(z):
    shifted = z - z.max(1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(1, keepdims=True))


def test_construction_facts():
    f1, g1, f2, g2 = counterexamples.clustered_opposite_rotations()
    labels = counterexamples.clustered_opposite_rotations_labels()
    assert f1.shape == f2.shape == (500, 2) and g1.shape == g2.shape == (5, 2) and labels.shape == (500,)
    np.testing.assert_allclose(np.linalg.norm(g1, axis=1), 8.0, rtol=1e-12)
    angles = np.mod(np.arctan2(g1[:, 1], g1[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(angles, [0, np.pi / 2, np.pi, 5 * np.pi / 4, 7 * np.pi / 4], atol=1e-12)
    for k in range(5):  # clusters of 100 around 5·direction with std 0.5
        cluster = f1[labels == k]
        np.testing.assert_allclose(cluster.mean(0), 5 * g1[k] / 8, atol=0.2)
        np.testing.assert_allclose(cluster.std(0), 0.5, atol=0.12)
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    np.testing.assert_allclose(f2, f1 @ np.array([[c, s], [-s, c]]), atol=1e-12)  # rows rotated by +π/4
    np.testing.assert_allclose(g2, g1 @ np.array([[c, -s], [s, c]]), atol=1e-12)  # rows rotated by −π/4
    # hence Z₂ = f₁ R(−π/2) g₁ᵀ: the unembeddings seen by the inputs turn by −π/2
    np.testing.assert_allclose(f2 @ g2.T, f1 @ (g1 @ np.array([[0.0, -1.0], [1.0, 0.0]])).T, atol=1e-10)


def test_mcca_maximal_while_distributions_differ():
    f1, g1, f2, g2 = counterexamples.clustered_opposite_rotations()
    labels = counterexamples.clustered_opposite_rotations_labels()
    z1, z2 = f1 @ g1.T, f2 @ g2.T
    np.testing.assert_allclose(_canonical_correlations(f1, f2), [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(_canonical_correlations(g1, g2), [1.0, 1.0], atol=1e-12)
    log_p1, log_p2 = _log_softmax(z1), _log_softmax(z2)
    kl_12 = np.mean(np.sum(np.exp(log_p1) * (log_p1 - log_p2), 1))
    kl_21 = np.mean(np.sum(np.exp(log_p2) * (log_p2 - log_p1), 1))
    centred = (z1 - z1.mean(1, keepdims=True)) - (z2 - z2.mean(1, keepdims=True))
    d_logit = np.sqrt(np.mean(np.sum(centred**2, 1)))
    assert kl_12 > 20 and kl_21 > 20 and d_logit > 50  # far from 0: different distributions
    assert np.mean(z1.argmax(1) == labels) > 0.95  # model 1 classifies its clusters
    assert np.mean(z2.argmax(1) == labels) < 0.05  # model 2 gives almost every input another label
    assert np.mean(z2[labels == 0].argmax(1) == 1) > 0.95  # label 1's inputs go to label 2
    with jax.enable_x64(True):
        figures = counterexamples.summarise(f1, g1, f2, g2)
    np.testing.assert_allclose([figures.mean_cca_embeddings, figures.mean_cca_unembeddings], 1.0, atol=1e-8)
    np.testing.assert_allclose(
        [figures.kl_12, figures.kl_21, figures.logit_distance], [kl_12, kl_21, d_logit], rtol=1e-8
    )
