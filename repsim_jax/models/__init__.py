"""Models: the networks (:mod:`~repsim_jax.models.architectures`), variables files
(:mod:`~repsim_jax.models.variables`), the config factory (:mod:`~repsim_jax.models.build`)
and trained models with inference (:mod:`~repsim_jax.models.trained`). Every name is
importable from ``repsim_jax.models``."""

from repsim_jax.models.architectures import (
    INITS,
    STEMS,
    AttributeHeadClassifier,
    Classifier,
    ConceptBottleneckClassifier,
    MLPEncoder,
    ResNetEncoder,
    Unembedding,
    dense,
    resnet18_encoder,
    resnet50_encoder,
    unembedding_matrix,
    without_init_file,
)
from repsim_jax.models.build import DTYPES, build_model, compute_dtype
from repsim_jax.models.trained import TrainedModel, predict
from repsim_jax.models.variables import _read_variables as _read_variables  # its cache, cleared by tests
from repsim_jax.models.variables import load_variables, with_init_file, with_variables

__all__ = [
    "MLPEncoder",
    "ResNetEncoder",
    "resnet18_encoder",
    "resnet50_encoder",
    "Unembedding",
    "Classifier",
    "ConceptBottleneckClassifier",
    "AttributeHeadClassifier",
    "STEMS",
    "DTYPES",
    "load_variables",
    "without_init_file",
    "with_init_file",
    "with_variables",
    "unembedding_matrix",
    "build_model",
    "dense",
    "INITS",
    "compute_dtype",
    "predict",
    "TrainedModel",
]
