"""Synthetic 28-arm spirals with 7 labels (the spiral data of arXiv 2602.15438).

Construction (reimplemented here from the description of the reference code's
spiral data in arXiv 2602.15438):

* 28 arms ``a = 0..27``; each holds N points at radii ``r ∈ linspace(1, 10, N)``.
* A point on arm a at radius r has angle
  ``θ = (0.2π/7)·(r/2) + a·2π/28 + s·π/28`` with ``s ~ U(−0.75, 0.75)`` and
  position ``x = r·(cos θ, sin θ)``.
* Labels: ``label(a) = 0`` if ``a mod 7 = 0``, else ``π_⌊a/7⌋(a mod 7)`` where
  ``π_0..π_3`` are random permutations of 1..6. Every label owns 4 arms and every
  block of 7 adjacent arms holds each of the 7 labels once.

Random draws (``np.random.default_rng(seed)``), in this order: the four
permutations ``rng.permutation(6) + 1``, then ``s = rng.uniform(-0.75, 0.75,
size=(28, N))``. Points are stored arm-major: point ``a·N + i`` is the i-th radius
of arm a.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from repsim_jax.data.splits import stratified_split
from repsim_jax.errors import InputError

NUM_ARMS = 28
NUM_LABELS = 7
MODALITIES = ("standard", "interpolation", "extrapolation")
# The held-out ring ``(min_radius, max_radius)`` of each modality, as in the paper's
# code: interpolation holds out 4 < r < 7, extrapolation trains on 3 < r < 7.
RING_RADII = {"standard": (4.0, 7.0), "interpolation": (4.0, 7.0), "extrapolation": (3.0, 7.0)}


def spiral_arm_labels(rng: np.random.Generator) -> np.ndarray:
    """Labels of the 28 arms: 0 for ``a mod 7 = 0``, else ``π_⌊a/7⌋(a mod 7)``."""
    labels = np.zeros(NUM_ARMS, np.int32)
    for block in range(NUM_ARMS // NUM_LABELS):
        start = block * NUM_LABELS
        labels[start + 1 : start + NUM_LABELS] = rng.permutation(NUM_LABELS - 1) + 1
    return labels


def make_spirals(seed: int = 0, points_per_arm: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The 28-arm, 7-label spirals (see the module docstring for the formula).

    Args:
      seed: seed of ``np.random.default_rng``; the output is a function of it.
      points_per_arm: N ≥ 1, the number of radii per arm.

    Returns:
      ``x`` float32 (28·N, 2) and ``y`` int32 (28·N,), arm-major.
    """
    if int(points_per_arm) != points_per_arm or points_per_arm < 1:
        raise InputError(f"points_per_arm must be an integer >= 1, got {points_per_arm}")
    rng = np.random.default_rng(seed)
    arm_labels = spiral_arm_labels(rng)
    jitter = rng.uniform(-0.75, 0.75, size=(NUM_ARMS, points_per_arm))
    radius = np.linspace(1.0, 10.0, points_per_arm)[None, :]
    arm = np.arange(NUM_ARMS)[:, None]
    theta = 0.2 * np.pi / 7 * radius / 2 + arm * 2 * np.pi / NUM_ARMS + jitter * np.pi / NUM_ARMS
    x = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=-1)
    y = np.repeat(arm_labels, points_per_arm)
    return x.reshape(-1, 2).astype(np.float32), y


@dataclasses.dataclass(frozen=True)
class SpiralSplits:
    """Named ``(x, y)`` splits of the spirals; ``ood`` is None for ``standard``."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    ood: tuple[np.ndarray, np.ndarray] | None
    modality: str
    min_radius: float
    max_radius: float


def ring_mask(x: np.ndarray, min_radius: float, max_radius: float) -> np.ndarray:
    """Boolean mask of the open ring ``min_radius < ‖x‖ < max_radius``."""
    norm = np.linalg.norm(np.asarray(x, np.float64), axis=-1)
    return (norm > min_radius) & (norm < max_radius)


def spiral_splits(
    seed: int = 0,
    points_per_arm: int = 1000,
    modality: str = "standard",
    min_radius: float | None = None,
    max_radius: float | None = None,
    split_seed: int | None = None,
) -> SpiralSplits:
    """Spirals split 50/25/25 into train/val/test, stratified by label.

    Modalities (``ring`` = ``min_radius < ‖x‖ < max_radius``):

    * ``standard``: every point is split; no OOD set.
    * ``interpolation``: the ring is held out as ``ood``; train/val/test come
      from outside it.
    * ``extrapolation``: train/val/test come from the ring; ``ood`` is outside.

    Args:
      seed: seed of :func:`make_spirals`.
      points_per_arm: N of :func:`make_spirals`.
      modality: one of ``MODALITIES``.
      min_radius, max_radius: the ring (ignored by ``standard`` but validated); None
        takes the modality's ``RING_RADII`` (interpolation 4–7, extrapolation 3–7).
      split_seed: seed of :func:`stratified_split`; defaults to ``seed``.
    """
    if modality not in MODALITIES:
        raise InputError(f"modality must be one of {MODALITIES}, got {modality!r}")
    default_min, default_max = RING_RADII[modality]
    min_radius = default_min if min_radius is None else min_radius
    max_radius = default_max if max_radius is None else max_radius
    if not min_radius < max_radius:
        raise InputError(f"need min_radius < max_radius, got {min_radius} >= {max_radius}")
    x, y = make_spirals(seed, points_per_arm)
    ring = ring_mask(x, min_radius, max_radius)
    in_dist = {"standard": np.ones_like(ring), "interpolation": ~ring, "extrapolation": ring}[modality]
    if not in_dist.any():
        raise InputError(
            f"no spiral points left for training with modality={modality!r}, "
            f"min_radius={min_radius}, max_radius={max_radius}"
        )
    keep = np.flatnonzero(in_dist)
    parts = stratified_split(y[keep], (0.5, 0.25, 0.25), seed if split_seed is None else split_seed)
    train, val, test = ((x[keep[p]], y[keep[p]]) for p in parts)
    ood = None if modality == "standard" else (x[~in_dist], y[~in_dist])
    return SpiralSplits(train, val, test, ood, modality, float(min_radius), float(max_radius))
