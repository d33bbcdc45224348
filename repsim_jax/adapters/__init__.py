"""Adapters that turn PyTorch / Hugging Face models into :class:`repsim_jax.io.Representation` arrays,
and torchvision ResNet weights into our Flax ResNet's variables (:mod:`.torchvision_resnet`).

Every adapter returns float32 NumPy arrays with ``logits = embeddings @ unembeddingsᵀ``
exactly (up to float32 rounding): the embeddings are the input of the model's final
linear layer and the unembeddings are that layer's weight; a bias ``b`` is folded in as
a constant-1 column of the embeddings and the column ``b`` of the unembeddings.

The submodules import torch (and transformers); this package itself imports nothing, so
the core library never pulls them in. Install with ``pip install torch==2.14.1
torchvision==0.29.1 && pip install -e .[torch]``.
"""
