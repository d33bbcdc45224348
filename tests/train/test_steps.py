"""ResNet-18 step on mock CIFAR, concept-bottleneck step, the unembedding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from repsim_jax import models
from repsim_jax.data.loader import read_records
from repsim_jax.data.tfds import open_source
from repsim_jax.losses import get_loss
from repsim_jax.train import create_state, make_optimizer, make_train_step


@pytest.mark.slow
def test_resnet18_step_on_mock_cifar():
    with tfds.testing.mock_data(num_examples=8):
        records = read_records(open_source("cifar100", "train"), np.arange(8))
    x = jnp.asarray(np.stack([r["image"] for r in records]), jnp.float32) / 255.0
    y = jnp.asarray([r["label"] for r in records], jnp.int32) % 100
    model = models.Classifier(models.resnet18_encoder(16), 100)
    loss, tx = get_loss("ce"), make_optimizer("sgd", 0.01)
    state = create_state(jax.random.key(0), model, loss, tx, x[:1])
    new, metrics = jax.jit(make_train_step(model, loss, tx))(state, {"x": x, "y": y})
    assert np.isfinite(float(metrics["loss"])) and abs(float(metrics["loss"]) - np.log(100)) < 2
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), new.batch_stats, state.batch_stats)
    assert max(jax.tree.leaves(moved)) > 0, "BatchNorm running statistics were not updated"
    assert int(new.step) == 1


@pytest.mark.slow
def test_concept_bottleneck_step_trains_concepts():
    rng = np.random.default_rng(0)
    batch = {
        "x": jnp.float32(rng.normal(size=(8, 2))),
        "y": jnp.int32(rng.integers(0, 3, 8)),
        "concepts": jnp.float32(rng.integers(0, 2, (8, 5))),
    }
    model = models.ConceptBottleneckClassifier(models.MLPEncoder(8, hidden=(16,)), 5, 4, 3)
    loss, tx = get_loss("ce"), make_optimizer()
    state = create_state(jax.random.key(0), model, loss, tx, batch["x"])
    _, metrics = make_train_step(model, loss, tx, concept_weight=2.0)(state, batch)
    np.testing.assert_allclose(metrics["loss"], metrics["ce"] + 2.0 * metrics["concept_bce"], rtol=1e-6)


def test_unembedding_is_bias_free_xavier():
    model = models.Classifier(models.MLPEncoder(32), 64)
    params = model.init(jax.random.key(0), jnp.zeros((1, 2)))["params"]
    g = np.asarray(models.unembedding_matrix(params))
    assert g.shape == (64, 32) and set(params["unembedding"]["Dense_0"]) == {"kernel"}
    assert np.abs(g).max() <= np.sqrt(6 / (32 + 64))
    widths = [params["encoder"][f"Dense_{i}"]["kernel"].shape for i in range(4)]
    assert widths == [(2, 512), (512, 512), (512, 512), (512, 32)]


def test_attribute_softmax_term_is_cross_entropy_over_attributes():
    """``concept_loss="softmax"`` (the authors' SUB attribute loss): the batch mean of
    ``−log softmax(a)[attribute]``, against float64 NumPy on the model's own attribute logits."""
    rng = np.random.default_rng(1)
    attribute = rng.integers(0, 6, 8)
    batch = {
        "x": jnp.float32(rng.normal(size=(8, 2))),
        "y": jnp.int32(rng.integers(0, 3, 8)),
        "concepts": jnp.float32(np.eye(6)[attribute]),
    }
    model = models.AttributeHeadClassifier(models.MLPEncoder(4, hidden=(16,), dropout_rate=0.0), 3, 6)
    loss, tx = get_loss("ce"), make_optimizer()
    state = create_state(jax.random.key(0), model, loss, tx, batch["x"])
    _, metrics = make_train_step(model, loss, tx, concept_weight=0.5, concept_loss="softmax")(state, batch)
    variables = {"params": state.params["model"]}
    a = np.asarray(model.apply(variables, batch["x"])[2], np.float64)
    log_softmax = a - a.max(1, keepdims=True) - np.log(np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True))
    expected = -np.mean(log_softmax[np.arange(8), attribute])
    np.testing.assert_allclose(metrics["concept_ce"], expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["loss"], metrics["ce"] + 0.5 * metrics["concept_ce"], rtol=1e-6)
