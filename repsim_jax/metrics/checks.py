"""Input checks for the public metric wrappers.

Checks run once, eagerly, outside ``jit``: they look at concrete values (NaN/Inf,
shapes, label ranges) and raise :class:`~repsim_jax.errors.InputError` (a ``ValueError``)
naming the argument and the problem. Kernels never call these; public functions skip them
with ``validate=False`` (then inputs must already be float32 or float64).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError

HALF_PRECISION_UPCAST = np.float32
"""Floating dtypes narrower than 32 bits (float16, bfloat16, float8) are upcast to this:
LAPACK has no half-precision kernels, and their 3-digit mantissas cannot resolve the
cancellations of the metrics."""


def as_float_array(name: str, value, ndim: int) -> jax.Array:
    """Returns ``value`` as a floating JAX array of rank ``ndim`` with finite entries.

    Float32/float64 inputs keep their precision (float64 only when x64 is enabled);
    float16/bfloat16 (any float narrower than 32 bits) are upcast to float32, exactly;
    integer, boolean or object inputs are refused rather than silently cast.
    """
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise InputError(f"{name} must be a floating-point array, got dtype {value.dtype}")
    if np.dtype(value.dtype).itemsize < 4:
        value = value.astype(HALF_PRECISION_UPCAST)
    if value.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if any(size == 0 for size in value.shape):
        raise InputError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    array = value if isinstance(value, jax.Array) else to_device(value)
    if not bool(_all_finite(array)):
        raise InputError(f"{name} contains NaN or Inf values")
    return array


@jax.jit
def _all_finite(array: jax.Array) -> jax.Array:
    """One fused pass: ``Σ x·0`` is 0 for finite entries and NaN as soon as one is NaN or ±Inf."""
    return jnp.isfinite(jnp.sum(array * 0))


def to_device(value, alignment: int = 64) -> jax.Array:
    """A JAX array holding a private copy of the host array ``value``.

    The copy goes to a buffer aligned to ``alignment`` bytes, which XLA:CPU adopts without
    a second copy; ``jax.device_put`` of a NumPy array that is not 64-byte aligned (the
    usual case) is slower.
    """
    host = np.asarray(value)
    raw = np.empty(host.nbytes + alignment, np.uint8)
    offset = -raw.ctypes.data % alignment
    copy = raw[offset : offset + host.nbytes].view(host.dtype).reshape(host.shape)
    np.copyto(copy, host)
    return jax.device_put(copy)


def same_rows(**arrays) -> None:
    """Raises unless all arrays have the same number of rows (inputs)."""
    rows = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(rows.values())) > 1:
        described = ", ".join(f"{name} has {count}" for name, count in rows.items())
        raise InputError(f"row (input) counts differ: {described}")


def same_shape(**arrays) -> None:
    """Raises unless all arrays have identical shapes."""
    shapes = {name: tuple(array.shape) for name, array in arrays.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise InputError(f"shapes differ: {described}")


def same_width(**arrays) -> None:
    """Raises unless all arrays have the same last dimension."""
    widths = {name: array.shape[-1] for name, array in arrays.items()}
    if len(set(widths.values())) > 1:
        described = ", ".join(f"{name} has {count}" for name, count in widths.items())
        raise InputError(f"feature dimensions differ: {described}")


def min_rows(array: jax.Array, minimum: int, why: str) -> None:
    """Raises unless ``array`` has at least ``minimum`` rows."""
    if array.shape[0] < minimum:
        raise InputError(f"too few samples: {why} needs at least {minimum} rows, got {array.shape[0]}")


def label_indices(name: str, value, num_labels: int, ndim: int) -> jax.Array:
    """Returns integer label indices of rank ``ndim``, all in ``[0, num_labels)``."""
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.integer):
        raise InputError(f"{name} must be an integer array of label indices, got dtype {value.dtype}")
    if value.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    array = jnp.asarray(value)
    if array.size and (int(array.min()) < 0 or int(array.max()) >= num_labels):
        raise InputError(f"{name} holds labels outside [0, {num_labels})")
    return array


def non_negative(name: str, value: float) -> float:
    """Returns ``float(value)`` after checking it is finite and >= 0."""
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {value}")
    return value


def representable(name: str, value, log_value, underflow: bool = True) -> None:
    """Raises unless ``value`` kept its precision in its dtype: a finite natural log
    ``log_value`` (the value is nonzero) whose value overflowed to ±inf or (``underflow``)
    fell below the smallest normal number (XLA flushes those to 0) means the input scale
    puts the true value outside the dtype's range. Kernels compute ``log_value``
    scale-safely, so the message can say how large the value is."""
    dtype = np.asarray(value).dtype
    value, log_value = (np.asarray(a, np.float64) for a in jax.device_get((value, log_value)))
    value, log_value = np.broadcast_arrays(value, log_value)
    too_small = (np.abs(value) < np.finfo(dtype).tiny) if underflow else np.zeros(value.shape, bool)
    outside = np.isfinite(log_value) & (too_small | ~np.isfinite(value))
    if np.any(outside):
        exponent = float(log_value[outside][0]) / np.log(10.0)
        raise InputError(
            f"{name} is about 1e{exponent:+.1f}, outside the {dtype} range at this input scale; rescale the "
            "inputs (e.g. divide them by their largest magnitude) or enable float64 (jax_enable_x64)"
        )
