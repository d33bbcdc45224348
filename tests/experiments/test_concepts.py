"""Concept analyses (probes, parallel differences, steering, transfer) on constructed
embeddings with known answers, and `reproduce concepts`/`geometry` end to end (smoke)."""

import json

import numpy as np
import pytest

from repsim_jax import reproduce
from repsim_jax.cli import main
from repsim_jax.data.concepts import class_from_concepts


def _concepts(n, seed=0):
    rng = np.random.default_rng(seed)
    shape, colour = rng.integers(4, size=n), rng.integers(3, size=n)
    rest = rng.integers(2, size=(n, 3))
    return np.concatenate([np.eye(4)[shape], np.eye(3)[colour], rest], 1).astype(np.uint8)


def _code(concepts):
    """An embedding that codes shape and colour one-hot and `large` as ±1."""
    c = np.asarray(concepts, np.float64)
    return np.concatenate([c[:, :7], 2 * c[:, 7:8] - 1], 1)


@pytest.fixture
def coded():
    train_c, test_c = _concepts(600, 0), _concepts(300, 1)
    all_c = np.array([[*np.eye(4)[s], *np.eye(3)[c], l, 0, 0] for s in range(4) for c in range(3) for l in (0, 1)])
    g = _code(all_c)  # row y codes class y, so argmax f·g_y is the class of f
    assert np.array_equal(class_from_concepts(all_c), np.arange(24))
    return ((_code(train_c), class_from_concepts(train_c), train_c),
            (_code(test_c), class_from_concepts(test_c), test_c), g)


def test_coded_embeddings_have_every_linear_property(coded):
    train, test, g = coded
    props = reproduce.linear_properties(train, test, g, 24)
    assert props["parallelism"] == pytest.approx(1.0)
    assert props["steering_success"] == pytest.approx(1.0)
    # top/left are not coded: their directions are noise, shape/colour/large separate perfectly
    aucs = reproduce.direction_auc(test[0], test[2], reproduce.concept_directions(train[0], train[2]))
    assert np.allclose(aucs[:8], 1.0) and np.all(np.abs(aucs[8:] - 0.5) < 0.15)


def test_transfer_through_an_invertible_affine_map_is_exact(coded):
    train, test, _ = coded
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((8, 8)), rng.standard_normal(8)
    student = (train[0] @ a.T + b, test[0] @ a.T + b)
    teacher = (train[0], test[0])
    props = reproduce.transfer_properties(student, teacher, (train[2], test[2]))
    assert props["transfer_r2"] == pytest.approx(1.0, abs=1e-4)
    assert props["transfer_cosine"] == pytest.approx(1.0, abs=1e-4)
    own = reproduce.direction_auc(test[0], test[2], reproduce.concept_directions(train[0], train[2])).mean()
    assert props["transfer_auc"] == pytest.approx(own, abs=2e-3)  # float32 map; noise concepts move


def test_parallelism_of_orthogonal_differences_is_zero():
    means = np.eye(4)
    assert reproduce.parallelism(means, [(0, 1), (2, 3)]) == pytest.approx(0.0)


def test_concept_directions_need_both_values():
    with pytest.raises(ValueError, match="both values"):
        reproduce.concept_directions(np.ones((4, 2)), np.ones((4, 1)))


def test_concept_class_pairs_differ_in_one_concept():
    for name, pairs in reproduce.concept_class_pairs().items():
        assert len({a for a, _ in pairs}) == len(pairs)
        for a, b in pairs:
            assert (a % 2 != b % 2) == (name == "large")


@pytest.mark.parametrize("experiment, losses", [("concepts", "--config.sweep.losses=('kl','l2')"),
                                                ("geometry", "--config.geometry_losses=('kl','kl+procrustes')")])
def test_reproduce_concepts_smoke_writes_summary(tmp_path, experiment, losses):
    assert main(["reproduce", experiment, "--preset", "smoke", "--out", str(tmp_path), "--quiet", losses]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    second = "l2" if experiment == "concepts" else "kl+procrustes"
    assert set(summary["significance"]) == {f"{second}_vs_kl"}
    for loss in ("kl", second):
        for key in ("concept_probe_accuracy", "transfer_r2", "parallelism", "steering_success"):
            values = summary[loss][key]["values"]
            assert len(values) == 2 and np.all(np.isfinite(values))
    assert 0.5 <= summary["teacher"]["concept_probe_accuracy"]["mean"] <= 1
    assert (tmp_path / "metrics.png").stat().st_size > 0
