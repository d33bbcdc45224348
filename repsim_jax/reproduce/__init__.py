"""Reproductions of the papers' experiments, importable from Colab.

One driver per experiment, each on :func:`repsim_jax.experiment.train_and_evaluate`:
:func:`run_synthetic` (spirals, arXiv 2602.15438), :func:`run_concepts` (concept
probes, transfer and linear properties on concept shapes) and :func:`run_geometry`
(feature-geometry distillation losses, arXiv 2509.25253) and :func:`run_finetune`
(students distilled on N training points, for each N), :func:`run_sub` (SUB
features: an attribute-head teacher, students and attribute probes) and :func:`run_lm`
(next-token predictors on a language of latent concepts: concept probes on KL vs
logit-distance students).
"""

from repsim_jax.reproduce.concepts import run_concepts
from repsim_jax.reproduce.finetune import run_finetune
from repsim_jax.reproduce.geometry import run_geometry
from repsim_jax.reproduce.lm import run_lm
from repsim_jax.reproduce.sub import run_sub
from repsim_jax.reproduce.synthetic import run_synthetic

__all__ = ["run_synthetic", "run_concepts", "run_geometry", "run_finetune", "run_sub", "run_lm"]
