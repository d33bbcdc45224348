"""Geometry-aware feature distillation (arXiv 2509.25253) on concept shapes.

``run_geometry(preset, out)``: KD (KL) alone vs KD + a Procrustes / feature-Gram / CKA /
projection-MSE embedding loss (``reproduce.geometry_losses`` of
``repsim_jax/configs/concepts.py``), with the outputs of
:func:`repsim_jax.reproduce.concepts.run_concepts`; tests against KD alone.
"""

from __future__ import annotations

from repsim_jax.reproduce.concepts import run_concept_students
from repsim_jax.reproduce.students import reproduction_config

__all__ = ["run_geometry"]


def run_geometry(preset: str = "quick", out: str = "runs/geometry", progress: bool = True, overrides=()) -> dict:
    """KD alone vs KD + each feature-geometry loss; see the module docstring."""
    config = reproduction_config("concepts", preset, overrides)
    metrics = ("procrustes_distance", "mean_cca", "concept_probe_accuracy")
    return run_concept_students(
        f"Geometry ({preset})", config, config.reproduce.geometry_losses, metrics, out, progress
    )
