"""crop_flip against an exhaustive NumPy search over crops and flips."""

import jax
import numpy as np
import pytest

from repsim_jax.data import crop_flip

PAD = 4


def _matches(image, out, pad=PAD):
    """Every (dy, dx, flipped) with out == crop of the zero-padded image, flipped or not."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    found = []
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy : dy + height, dx : dx + width]
            found += [
                (dy, dx, flipped)
                for flipped, candidate in ((False, crop), (True, crop[:, ::-1]))
                if np.array_equal(candidate, out)
            ]
    return found


def _images(n, seed=0, size=(8, 6)):
    return np.random.default_rng(seed).integers(1, 256, size=(n, *size, 3), dtype=np.uint8)


def test_each_output_is_one_padded_crop_of_its_input():
    images = _images(200)
    out = np.asarray(crop_flip(jax.random.key(3), images))
    assert out.shape == images.shape and out.dtype == np.uint8
    draws = []
    for image, row in zip(images, out):
        found = _matches(image, row)
        assert len(found) == 1, found  # random non-zero pixels make the crop unique
        draws.append(found[0])
    offsets = {(dy, dx) for dy, dx, _ in draws}
    assert {dy for dy, _ in offsets} == set(range(2 * PAD + 1))
    assert {dx for _, dx in offsets} == set(range(2 * PAD + 1))


def test_flips_are_about_half():
    images = _images(4000, seed=1, size=(4, 4))
    out = np.asarray(crop_flip(jax.random.key(0), images, padding=1))
    flips = [_matches(image, row, pad=1) for image, row in zip(images, out)]
    assert all(len(f) == 1 for f in flips)
    rate = np.mean([f[0][2] for f in flips])
    assert abs(rate - 0.5) < 0.04  # > 5 standard deviations of a fair coin over 4000 draws


@pytest.mark.slow
def test_deterministic_per_key_and_independent_of_batch_size():
    images = _images(32, seed=2)
    a = np.asarray(crop_flip(jax.random.key(7), images))
    assert a.tobytes() == np.asarray(crop_flip(jax.random.key(7), images)).tobytes()
    assert a.tobytes() != np.asarray(crop_flip(jax.random.key(8), images)).tobytes()
    assert a[:5].tobytes() == np.asarray(crop_flip(jax.random.key(7), images[:5])).tobytes()
    jitted = jax.jit(crop_flip)(jax.random.key(7), images)
    assert a.tobytes() == np.asarray(jitted).tobytes()


def test_rejects_non_image_batches():
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        crop_flip(jax.random.key(0), np.zeros((4, 8, 8)))
