"""Language models: a GPT-2-family transformer (:mod:`~repsim_jax.lm.model`), Hugging Face
import (:func:`load_hf`), token input through grain (:mod:`~repsim_jax.lm.tokens`) and
per-token distillation losses over the vocabulary (:mod:`~repsim_jax.lm.losses`)."""
