"""Concept shapes: small RGB images whose class is a fixed function of binary concepts.

A local, seconds-to-generate stand-in for a concept-annotated image set (the role
the CUB/SUB birds attributes play in arXiv 2602.15438): a concept-bottleneck
teacher and linear concept probes can be trained on it.

Each 32x32 RGB image shows one shape on a dark, noisy background. Attributes:

* shape ∈ SHAPES = (circle, square, triangle, cross), half-size h (small 4 px,
  large 7 px);
* colour ∈ COLOURS = (red, green, blue), brightness ~ U(160, 255);
* position: the quadrant (top/bottom, left/right), centre = quadrant centre +
  integer jitter in [-2, 2] per axis.

Binary concepts (``CONCEPT_NAMES``, in this order): one-hot shape (4), one-hot
colour (3), ``large``, ``top``, ``left``.

Class (``NUM_CLASSES = 24``): ``label = 6·shape + 2·colour + large``; the
position concepts do not enter the class (nuisance concepts for probes).

Random draws from ``np.random.default_rng(seed)`` in this order: shape, colour,
large, top, left (each ``rng.integers`` of size n), jitter ``(n, 2)`` in [-2, 2],
brightness ``U(160, 255)``, background level ``U(0, 60)`` and pixel noise
``N(0, 8²)`` of shape (n, 32, 32, 3).
"""

from __future__ import annotations

import numpy as np

from repsim_jax.errors import InputError

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue")
CONCEPT_NAMES = (*(f"shape_{s}" for s in SHAPES), *(f"colour_{c}" for c in COLOURS), "large", "top", "left")
NUM_CLASSES = len(SHAPES) * len(COLOURS) * 2
IMAGE_SIZE = 32
_HALF_SIZE = (4.0, 7.0)
_COLOUR_RGB = np.array([[1.0, 0.15, 0.15], [0.15, 1.0, 0.15], [0.15, 0.15, 1.0]])


def class_from_concepts(concepts: np.ndarray) -> np.ndarray:
    """``label = 6·shape + 2·colour + large`` from binary concepts (n, 10)."""
    concepts = np.asarray(concepts)
    shape = np.argmax(concepts[:, : len(SHAPES)], axis=1)
    colour = np.argmax(concepts[:, len(SHAPES) : len(SHAPES) + len(COLOURS)], axis=1)
    large = concepts[:, CONCEPT_NAMES.index("large")]
    return (6 * shape + 2 * colour + large).astype(np.int32)


def _shape_masks(shape: np.ndarray, half: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Boolean (n, H, W) masks; pixel centres (i + 0.5) measured from ``centre``.

    circle: dy² + dx² ≤ h²; square: max(|dy|, |dx|) ≤ 0.85h; triangle (apex up):
    dy ≤ h and |dx| ≤ (dy + h)/2; cross: arms of half-width h/3 and half-length h.
    """
    grid = np.arange(IMAGE_SIZE) + 0.5
    dy = grid[None, :, None] - centre[:, 0, None, None]
    dx = grid[None, None, :] - centre[:, 1, None, None]
    h = half[:, None, None]
    ady, adx = np.abs(dy), np.abs(dx)
    masks = np.stack(
        [
            dy**2 + dx**2 <= h**2,
            np.maximum(ady, adx) <= 0.85 * h,
            (dy <= h) & (adx <= (dy + h) / 2),
            ((adx <= h / 3) & (ady <= h)) | ((ady <= h / 3) & (adx <= h)),
        ]
    )
    return masks[shape, np.arange(shape.size)]


def generate_concept_shapes(seed, num_examples: int) -> dict[str, np.ndarray]:
    """Render ``num_examples`` concept-shape images (see the module docstring).

    Args:
      seed: anything ``np.random.default_rng`` accepts (an int or a tuple of ints).
      num_examples: n ≥ 1.

    Returns:
      ``{"image": uint8 (n, 32, 32, 3), "label": int32 (n,), "concepts": uint8 (n, 10)}``.
    """
    if int(num_examples) != num_examples or num_examples < 1:
        raise InputError(f"num_examples must be an integer >= 1, got {num_examples}")
    rng = np.random.default_rng(seed)
    n = num_examples
    shape, colour, large, top, left = (rng.integers(k, size=n) for k in (4, 3, 2, 2, 2))
    jitter = rng.integers(-2, 3, size=(n, 2))
    brightness = rng.uniform(160, 255, size=n)
    background = rng.uniform(0, 60, size=n)
    noise = rng.normal(0, 8, size=(n, IMAGE_SIZE, IMAGE_SIZE, 3))
    quarter = IMAGE_SIZE / 4
    centre = (
        np.stack([np.where(top == 1, quarter, 3 * quarter), np.where(left == 1, quarter, 3 * quarter)], axis=1) + jitter
    )
    mask = _shape_masks(shape, np.array(_HALF_SIZE)[large], centre)
    fg = (_COLOUR_RGB[colour] * brightness[:, None])[:, None, None, :]
    image = np.where(mask[..., None], fg, background[:, None, None, None]) + noise
    concepts = np.concatenate(
        [np.eye(4)[shape], np.eye(3)[colour], np.stack([large, top, left], axis=1)], axis=1
    ).astype(np.uint8)
    return {
        "image": np.clip(np.rint(image), 0, 255).astype(np.uint8),
        "label": class_from_concepts(concepts),
        "concepts": concepts,
    }
