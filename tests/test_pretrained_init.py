"""``model.init_from``: a classifier's ``init`` returns the stored variables in place of its
random ones (the others untouched), for one seed and vmapped over seeds; bad files fail
with a ValueError naming the problem; a trained run never reads the file again."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from repsim_jax import experiment, models
from repsim_jax.config import base_config, experiment_config, with_values
from repsim_jax.losses import get_loss
from repsim_jax.train.optim import make_optimizer
from repsim_jax.train.state import init_states

X = jnp.zeros((2, 5), jnp.float32)
KEY = "params/unembedding/Dense_0/kernel"


def _model(init_from: str = "", **changes):
    config = base_config().model
    values = {"name": "mlp", "hidden": (8,), "dropout": 0.0, "embedding_dim": 3, "init_from": init_from}
    config.update({**values, **changes})
    return models.build_model(config, num_classes=4)


def _flat(variables):
    return traverse_util.flatten_dict(dict(variables), sep="/")


@pytest.fixture
def stored(tmp_path):
    """An .npz holding the unembedding (3, 4) = 0..11 and the first layer's bias."""
    arrays = {KEY: np.arange(12, dtype=np.float32).reshape(3, 4), "params/encoder/Dense_0/bias": np.full(8, 0.5)}
    path = tmp_path / "init.npz"
    np.savez(path, **arrays)
    return str(path), arrays


def test_init_returns_the_stored_arrays_and_keeps_the_rest(stored):
    path, arrays = stored
    fresh = _flat(_model().init(jax.random.key(0), X))
    loaded = _flat(_model(path).init(jax.random.key(0), X))
    assert loaded.keys() == fresh.keys()
    for key, value in loaded.items():
        expected = arrays.get(key, fresh[key])
        np.testing.assert_array_equal(value, expected)
        assert value.dtype == fresh[key].dtype


def test_vmapped_seeds_all_start_from_the_file(stored):
    path, arrays = stored
    model = _model(path)
    loss, tx = get_loss("ce"), make_optimizer("adam", 1e-3)
    state = init_states([0, 1, 2], model, loss, tx, X)
    kernel = state.params["model"]["unembedding"]["Dense_0"]["kernel"]
    np.testing.assert_array_equal(kernel, np.broadcast_to(arrays[KEY], (3, 3, 4)))
    first_layer = state.params["model"]["encoder"]["Dense_0"]["kernel"]
    assert not np.allclose(first_layer[0], first_layer[1])  # not in the file: per-seed random


@pytest.mark.parametrize(
    "name, arrays, message",
    [
        ("missing.npz", None, "no such file"),
        ("weights.txt", {}, "expected a .npz"),
        ("bad.npz", {"encoder/Dense_0/bias": np.zeros(8)}, "is not a model variable"),
        ("nan.npz", {KEY: np.full((3, 4), np.nan)}, "NaN or Inf"),
        ("shape.npz", {KEY: np.zeros((4, 3))}, r"kernel has shape \(4, 3\), the model's has \(3, 4\)"),
        ("unknown.npz", {"params/encoder/Conv_0/kernel": np.zeros((3, 3, 3, 8))}, "match no variable"),
    ],
)
def test_bad_files_raise_a_clear_error(tmp_path, name, arrays, message):
    path = tmp_path / name
    if name.endswith(".npz") and arrays is not None:
        np.savez(path, **arrays)
    elif arrays is not None:
        path.write_text("weights")
    with pytest.raises(ValueError, match=message):
        _model(str(path)).init(jax.random.key(0), X)


def test_build_model_rejects_bad_heads_and_stems(stored):
    with pytest.raises(ValueError, match="initialises plain classifiers"):
        _model(stored[0], attribute_head=True)
    with pytest.raises(ValueError, match="not both"):
        _model(concept_bottleneck=True, attribute_head=True)
    with pytest.raises(ValueError, match="needs a dataset with concepts"):
        _model(attribute_head=True)
    resnet = _model(name="resnet18", stem="tiny")
    with pytest.raises(ValueError, match="unknown ResNet stem"):
        resnet.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))


def test_a_trained_run_restores_and_resumes_without_its_weight_file(tmp_path, monkeypatch):
    """Defect (issue 19): restoring re-ran ``init``, which read ``model.init_from`` again, so
    a run could not be loaded once its .npz/.pth was moved. The file is read once, into
    the initial state; the checkpoint holds the weights. The path is stored absolute."""
    monkeypatch.chdir(tmp_path)
    np.savez("init.npz", **{KEY: np.full((4, 7), 0.25, np.float32)})
    tiny = {"data.points_per_arm": 20, "num_epochs": 2, "batch_size": 32, "model.hidden": (16, 16)}
    config = with_values(experiment_config("synthetic", "smoke"), {**tiny, "model.init_from": "init.npz"})
    trained = experiment.train_and_evaluate(config, "w", progress=False)
    (tmp_path / "init.npz").unlink()
    models._read_variables.cache_clear()  # no copy of the file's arrays in memory either
    restored = experiment.restore(str(tmp_path / "w"))
    for a, b in zip(jax.tree.leaves(trained.model.variables), jax.tree.leaves(restored.model.variables)):
        np.testing.assert_array_equal(b, a)
    again = experiment.train_and_evaluate(config, "w", progress=False)  # resumes: nothing left to train
    assert again.reports[0]["test"]["accuracy"] == pytest.approx(trained.reports[0]["test"]["accuracy"])
    stored = json.loads((tmp_path / "w" / "config.json").read_text())
    assert stored["model"]["init_from"] == str(tmp_path / "init.npz")
