"""SUB: the paper preset's settings, the attribute probe on constructed embeddings, and
(slow) the driver end to end on generated features and on encoder features of concept
shapes."""

import json

import numpy as np
import pytest
from flax import traverse_util

from repsim_jax.config import experiment_config
from repsim_jax.data import generate_concept_shapes, read_features, write_features
from repsim_jax.reproduce.sub import attribute_probe, encoder_features, run_sub


def test_paper_preset_is_the_authors_settings():
    c = experiment_config("sub", "paper")
    assert (c.data.name, c.data.seed, c.data.num_train, c.data.num_test) == ("features", 42, 0, 0)
    assert (c.model.name, tuple(c.model.hidden), c.model.dropout, c.model.embedding_dim) == ("mlp", (2048,), 0.1, 10)
    o = c.optim
    assert (o.name, o.learning_rate, o.schedule, o.warmup_epochs, o.decay) == ("adam", 0.005, "reference", 20, 0.995)
    assert c.batch_size == 512 and (c.reproduce.teacher_epochs, c.reproduce.student_epochs) == (500, 500)
    assert tuple(c.reproduce.teacher_seeds) == (100, 101, 102, 103, 104) and tuple(c.sweep.seeds) == (0, 1, 2, 3, 4)
    assert tuple(c.sweep.losses) == ("kl", "l1", "l2") and not c.loss.centered
    assert (c.model.init, c.keep_last_batch, c.loss.concept_loss) == ("torch_default", True, "softmax")
    assert (c.eval.cca_components, c.eval.num_pivots, c.eval.num_subsets) == (2, 33, 250)


def test_presets_share_the_common_schema():
    schema = lambda c: traverse_util.flatten_dict(c.to_dict()).keys()
    base = schema(experiment_config("synthetic", "default"))
    assert all(schema(experiment_config("sub", p)) == base for p in ("default", "paper", "quick", "smoke"))


def test_attribute_probe_reads_separable_attributes_and_not_noise():
    rng = np.random.default_rng(0)
    attributes = np.repeat(np.arange(4), 100)
    centres = 10 * np.eye(4, 6)
    separable = attribute_probe(centres[attributes] + rng.normal(size=(400, 6)), attributes)
    assert separable["accuracy"] == 1.0 and separable["f1"] == 1.0 and separable["nll"] < 0.05
    noise = attribute_probe(rng.normal(size=(400, 6)), attributes)
    assert noise["accuracy"] < 0.4 and noise["nll"] > 0.9 * np.log(4)  # chance 0.25, log 4 = 1.39


@pytest.mark.slow
def test_run_sub_on_generated_features(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 12  # d_rep needs more labels than d + 1 = 11
    attributes = rng.integers(4, size=600)
    features = np.eye(12, 32)[labels] * 3 + np.eye(4, 32, 16)[attributes] * 3 + rng.normal(size=(600, 32))
    write_features(tmp_path / "f.npz", features.astype(np.float32), labels, attributes)
    summary = run_sub(
        "smoke", str(tmp_path / "out"), progress=False, overrides=[f"--config.data.path={tmp_path}/f.npz"]
    )
    assert set(summary) >= {"kl", "l1", "l2", "teacher", "significance"}
    assert summary["teacher"]["attribute_probe_accuracy"]["mean"] > 0.5  # chance 0.25
    for loss in ("kl", "l1", "l2"):
        assert 0 <= summary[loss]["mean_cca"]["mean"] <= 1 and len(summary[loss]["mean_cca"]["values"]) == 2
    report = json.loads((tmp_path / "out" / "students" / "l2" / "seed0" / "report.json").read_text())
    assert report["test"]["pivot_subsets"]["options"] == {"num_pivots": 33, "num_subsets": 20, "seed": 0}
    assert (tmp_path / "out" / "summary.md").exists() and (tmp_path / "out" / "metrics.png").exists()


@pytest.mark.slow
def test_encoder_features_of_concept_shapes(tmp_path):
    encoder_features(tmp_path / "f.npz", 24, seed=3)
    arrays = read_features(str(tmp_path / "f.npz"))
    images = generate_concept_shapes((3, 2), 24)
    quadrant = 2 * images["concepts"][:, 8] + images["concepts"][:, 9]  # concepts "top", "left"
    assert arrays["features"].shape == (24, 768) and np.isfinite(arrays["features"]).all()
    np.testing.assert_array_equal(arrays["labels"], images["label"])
    np.testing.assert_array_equal(arrays["concepts"].argmax(1), quadrant)
