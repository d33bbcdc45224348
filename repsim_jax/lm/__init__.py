"""Language models: a GPT-2-family transformer (:mod:`~repsim_jax.lm.model`), Hugging Face
import (:func:`load_hf`, :mod:`~repsim_jax.lm.hf`), token input through grain
(:mod:`~repsim_jax.lm.tokens`) and per-token distillation losses over the vocabulary
(:mod:`~repsim_jax.lm.losses`)."""

from repsim_jax.lm.hf import load_hf
from repsim_jax.lm.model import LMOutputs, TrainedLM, TransformerLM

__all__ = ["load_hf", "LMOutputs", "TrainedLM", "TransformerLM"]
