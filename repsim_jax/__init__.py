"""repsim_jax: representational similarity, identifiability bounds and distillation in JAX."""

__version__ = "0.1.0"
