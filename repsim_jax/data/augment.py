"""CIFAR augmentation in-graph: zero-padded random crop + horizontal flip.

Training applies it to each batch inside the jitted step (see ``Dataset.augment``);
the loader yields un-augmented batches.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError


def crop_flip(key: jax.Array, images: jax.Array, padding: int = 4) -> jax.Array:
    """Zero-pad (B, H, W, C) ``images`` by ``padding``, crop H x W back, maybe flip.

    Row i draws its offsets ``(dy, dx) ∈ [0, 2·padding]²`` and its flip bit (p = 1/2)
    from ``jax.random.fold_in(key, i)`` alone, so a row's augmentation does not depend
    on the batch size: ``crop_flip(key, x)[:k] == crop_flip(key, x[:k])``. Output
    pixel ``(r, c)`` of row i is padded pixel ``(dy + r, dx + c')`` with
    ``c' = W − 1 − c`` when row i is flipped, else ``c``. Keeps the dtype.
    """
    if images.ndim != 4:
        raise InputError(f"need images of shape (B, H, W, C), got {images.shape}")
    n, height, width, channels = images.shape
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    padded = jnp.pad(images, pad)

    def one(row_key, image):
        k_off, k_flip = jax.random.split(row_key)
        dy, dx = jax.random.randint(k_off, (2,), 0, 2 * padding + 1)
        crop = jax.lax.dynamic_slice(image, (dy, dx, 0), (height, width, channels))
        return jnp.where(jax.random.bernoulli(k_flip), crop[:, ::-1], crop)

    return jax.vmap(one)(keys, padded)
