"""``model.init = "torch_default"``: the authors' initialisation (PyTorch's ``nn.Linear``
defaults, kernels and biases ``U(±1/√fan_in)``; Xavier-uniform on the unembedding of every
model but the plain cross-entropy classifier, their ``main.py`` 68–69), checked against the
uniform distribution's bound and standard deviation ``bound/√3``."""

import jax
import numpy as np
import pytest

from repsim_jax.config import experiment_config
from repsim_jax.errors import InputError
from repsim_jax.models import build_model

HIDDEN, DIM, CLASSES, INPUTS = 512, 64, 200, 2


def _params(init: str, distilled: bool = False, **model):
    config = experiment_config("synthetic", "default", [f"--config.model.init={init}"]).model
    config.update(dict(hidden=(HIDDEN,), embedding_dim=DIM, **model))
    net = build_model(config, CLASSES, num_concepts=5, distilled=distilled)
    return net.init(jax.random.key(0), np.zeros((1, INPUTS), np.float32))["params"]


def _uniform_on(values, bound: float) -> None:
    values = np.asarray(values, np.float64).ravel()
    assert np.abs(values).max() <= bound
    np.testing.assert_allclose(values.std(), bound / np.sqrt(3), rtol=0.1)


def test_plain_teacher_is_pytorch_default_everywhere():
    params = _params("torch_default")
    hidden, head = params["encoder"]["Dense_0"], params["encoder"]["Dense_1"]
    _uniform_on(hidden["kernel"], 1 / np.sqrt(INPUTS))
    _uniform_on(hidden["bias"], 1 / np.sqrt(INPUTS))
    _uniform_on(head["kernel"], 1 / np.sqrt(HIDDEN))
    _uniform_on(head["bias"], 1 / np.sqrt(HIDDEN))
    _uniform_on(params["unembedding"]["Dense_0"]["kernel"], 1 / np.sqrt(DIM))


def test_students_and_attribute_teachers_get_a_xavier_unembedding():
    xavier = np.sqrt(6 / (DIM + CLASSES))
    _uniform_on(_params("torch_default", distilled=True)["unembedding"]["Dense_0"]["kernel"], xavier)
    sub = _params("torch_default", attribute_head=True)
    _uniform_on(sub["unembedding"]["Dense_0"]["kernel"], xavier)
    _uniform_on(sub["attributes"]["kernel"], 1 / np.sqrt(DIM))


def test_flax_default_is_unchanged():
    params = _params("flax")
    assert not np.any(np.asarray(params["encoder"]["Dense_0"]["bias"]))
    _uniform_on(params["unembedding"]["Dense_0"]["kernel"], np.sqrt(6 / (DIM + CLASSES)))


@pytest.mark.parametrize("init, model", [("lecun", {}), ("torch_default", {"name": "resnet18"})])
def test_unsupported_init_is_one_line(init, model):
    with pytest.raises(InputError, match="model.init"):
        _params(init, **model)
