"""Independent float64 NumPy references for tests and benchmarks.

:mod:`repsim_jax.testing.reference` covers :mod:`repsim_jax.metrics`;
:mod:`repsim_jax.testing.bounds_reference` covers :mod:`repsim_jax.bounds` and the
arXiv 2506.03784 measures (d_LLV, d_SVD). Both are written from the formulas, not from
the JAX code, and are only meant for small sizes.
"""
