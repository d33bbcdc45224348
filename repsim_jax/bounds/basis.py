"""The teacher-basis algebra shared by the CCA and rep bounds: an orthonormal basis of the
teacher's span[1, F₁], a student's split on it, squared distances from that split, the
``1 − ρ²`` of the canonical correlations, and label-centring.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from repsim_jax.metrics.linalg import matmul, squared_norm


def teacher_basis(f):
    """``Q`` (n × (d+1)), an orthonormal basis of span[1, F] whose first column is ±1/√n,
    and F's coordinates ``R = QᵀF``; ``Q[:, 1:]`` spans the centred F. Householder QR:
    Cholesky-QR2 lost accuracy on rank-deficient teachers (LayerNorm outputs)."""
    ones = jnp.ones((f.shape[0], 1), f.dtype)
    basis, factor = jnp.linalg.qr(jnp.concatenate([ones, f], axis=1))
    return basis, factor[:, 1:]


def split(basis, f):
    """``F = Q C + E`` with ``E ⟂ Q``: returns ``C = QᵀF`` and ``S = EᵀE``.

    With ``F₁ = Q R``, every ``‖F₁X − F Y‖² = ‖RX − CY‖² + tr(YᵀSY)`` (:func:`distance_sq`):
    a student costs two n-row products and one Gram, all matmuls. ``E`` is formed
    explicitly, so S stays accurate when F lies (almost) in the teacher's span.
    """
    coords = matmul(basis.T, f)
    residual = f - matmul(basis, coords)
    return coords, matmul(residual.T, residual)


def distance_sq(target, coords, gram, y):
    """``‖F₁X − F Y‖²`` from ``target = RX`` and :func:`split`'s ``(C, S)``; batched over leading axes."""
    return squared_norm(target - matmul(coords, y)) + jnp.sum(y * matmul(gram, y), axis=(-2, -1))


def label_centred(x):
    """Subtracts the mean over labels (axis -1 for logits, the label rows of an unembedding: use ``.T``)."""
    return x - jnp.mean(x, axis=-1, keepdims=True)


def unexplained(coords, gram):
    """``1 − ρᵢ²`` ascending (ρ: canonical correlations of the teacher and the centred student),
    and the student's whitening W (``WᵀF̃ᵀF̃W = I`` on F̃'s range, zero columns off it).

    ``F̃ = Q_c C_c + E`` (``C_c`` the coordinates on the centred teacher span): with
    ``F̃ᵀF̃ = C_cᵀC_c + S``, the ``1 − ρ²`` are the eigenvalues of ``WᵀSW``; directions
    outside F̃'s range count as ρ = 0.
    """
    covariance = matmul(coords.T, coords) + gram
    values, vectors = jnp.linalg.eigh(covariance)
    kept = values > jnp.max(values) * values.shape[0] * jnp.finfo(values.dtype).eps
    whitening = vectors * jnp.where(kept, jax.lax.rsqrt(jnp.where(kept, values, 1.0)), 0.0)
    fractions = jnp.linalg.eigvalsh(matmul(whitening.T, matmul(gram, whitening)) + jnp.diag(jnp.where(kept, 0.0, 1.0)))
    return jnp.clip(fractions, 0.0, 1.0), whitening
