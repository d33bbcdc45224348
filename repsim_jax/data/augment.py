"""CIFAR augmentation: random crop with zero padding + horizontal flip, stateless.

Every example's randomness is a pure function of ``(seed, epoch, index)`` (index =
the record's position in the data source), computed with the SplitMix64 mixer
(Steele, Lea & Flood, "Fast splittable pseudorandom number generators", 2014):
``h = mix(mix(mix(seed) ^ epoch) ^ index)``. From h: vertical offset
``h mod (2p+1)``, horizontal offset ``(h >> 8) mod (2p+1)``, flip ``(h >> 16) & 1``.
So a batch is augmented identically however it is sliced across hosts and after
an exact resume.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of ``x + φ`` on uint64 arrays (arithmetic mod 2⁶⁴)."""
    z = np.asarray(x, dtype=np.uint64) + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def example_hash(seed: int, epoch: int, indices: np.ndarray) -> np.ndarray:
    """``mix(mix(mix(seed) ^ epoch) ^ index)`` for each index, as uint64."""
    base = splitmix64(np.array([seed], np.uint64)) ^ np.uint64(epoch)
    return splitmix64(splitmix64(base) ^ np.asarray(indices, np.uint64))


def random_crop_flip(
    images: np.ndarray,
    seed: int,
    epoch: int,
    indices: np.ndarray,
    pad: int = 4,
    flip: bool = True,
) -> np.ndarray:
    """Pad (B, H, W, C) images with ``pad`` zeros, crop H x W back, maybe flip.

    Output pixel ``(i, j)`` of example b is padded pixel ``(dy_b + i, dx_b + j')``
    with ``j' = W − 1 − j`` when b is flipped, else ``j``.
    """
    images = np.asarray(images)
    if images.ndim != 4 or len(indices) != images.shape[0]:
        raise ValueError(f"need images (B, H, W, C) and B indices, got {images.shape}, {len(indices)}")
    _, height, width, _ = images.shape
    h = example_hash(seed, epoch, indices)
    span = np.uint64(2 * pad + 1)
    dy = (h % span).astype(np.int64)
    dx = ((h >> np.uint64(8)) % span).astype(np.int64)
    flipped = np.logical_and(flip, (h >> np.uint64(16)) & np.uint64(1))
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    cols = np.arange(width)
    rows = dy[:, None] + np.arange(height)
    cols = dx[:, None] + np.where(flipped[:, None], width - 1 - cols, cols)
    batch = np.arange(images.shape[0])[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]]
