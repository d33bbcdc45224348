"""In-graph image augmentation (runs inside the jitted epoch)."""

import jax
import jax.numpy as jnp

__all__ = ["crop_flip"]


def crop_flip(key: jax.Array, images: jax.Array, padding: int = 4) -> jax.Array:
    """CIFAR augmentation: zero-pad by ``padding``, random crop back, random h-flip.

    Each image draws its own offsets ``(dy, dx) ∈ [0, 2·padding]²`` and flip bit.
    """
    n, h, w, _ = images.shape
    k_off, k_flip = jax.random.split(key)
    offsets = jax.random.randint(k_off, (n, 2), 0, 2 * padding + 1)
    flips = jax.random.bernoulli(k_flip, 0.5, (n,))
    padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))

    def one(image, offset, flip):
        crop = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))
        return jnp.where(flip, crop[:, ::-1], crop)

    return jax.vmap(one)(padded, offsets, flips)
