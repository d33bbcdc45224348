"""Linear concept properties (2410.23501) and transferability (2506.00653) on constructed models."""

import itertools

import jax
import numpy as np
import pytest

import repsim_jax.metrics as M


def _auc(labels, scores):
    """Mann–Whitney AUC: P(score of a positive > score of a negative) + ½ P(tie)."""
    pos, neg = scores[labels > 0], scores[labels <= 0]
    diff = pos[:, None] - neg[None, :]
    return np.mean(diff > 0) + 0.5 * np.mean(diff == 0)


def _added_concept(rng, repeats=5, d=6):
    """f = u_a + c·v with v ⟂ every u_a; classes ``2a + c`` for 4 values of a, balanced."""
    v = np.zeros(d)
    v[0] = 1.5
    u = np.concatenate([np.zeros((4, 1)), rng.standard_normal((4, d - 1))], axis=1)
    a, c = np.array(list(itertools.product(range(4), range(2))) * repeats).T
    noise = np.concatenate([np.zeros((a.size, 1)), 0.1 * rng.standard_normal((a.size, d - 1))], axis=1)
    return u[a] + c[:, None] * v + noise, 2 * a + c, c[:, None], v


def test_added_vector_is_the_direction_and_separates_perfectly():
    f, _, concepts, v = _added_concept(np.random.default_rng(0))
    directions = M.concept_directions(f, concepts)
    assert directions.shape == (1, f.shape[1])
    np.testing.assert_allclose(directions[0, 0], v[0], rtol=1e-12)  # noise is ⟂ v; other coordinates noise only
    np.testing.assert_allclose(M.direction_auc(f, concepts, directions), [1.0])


def test_direction_auc_matches_mann_whitney():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((40, 3))
    concepts = (rng.standard_normal((40, 2)) + f[:, :2] > 0).astype(int)
    directions = rng.standard_normal((2, 3))
    want = [_auc(concepts[:, j], f @ directions[j]) for j in range(2)]
    np.testing.assert_allclose(M.direction_auc(f, concepts, directions), want, rtol=1e-12)


def test_class_means_of_symmetric_samples():
    mu = np.array([[1.0, 2.0], [-3.0, 0.5], [0.0, 4.0]])
    eps = np.array([[0.3, -0.1]])
    f = np.concatenate([mu + eps, mu - eps])
    labels = np.tile(np.arange(3), 2)
    np.testing.assert_allclose(M.class_means(f, labels, 3), mu, rtol=1e-12)


def test_parallelism_of_known_difference_vectors():
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal((4, 6)), rng.standard_normal(6)
    means = np.stack([u[a] + c * v for a in range(4) for c in range(2)])  # class 2a + c
    pairs = [(2 * a, 2 * a + 1) for a in range(4)]
    assert M.parallelism(means, pairs) == pytest.approx(1.0, abs=1e-12)
    square = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0], [-1.0, 0.0]])
    # Δ = e₁, e₂, −e₁: cosines 0, −1, 0
    assert M.parallelism(square, [(0, 1), (2, 3), (4, 5)]) == pytest.approx(-1.0 / 3.0, abs=1e-12)


def _nearest_mean_model(means):
    """A linear model whose argmax is the nearest class mean: f ↦ [f, 1], g_y = [μ_y, −½‖μ_y‖²]."""
    return np.concatenate([means, -0.5 * np.sum(means**2, axis=1, keepdims=True)], axis=1)


def test_steering_on_a_linear_model_reaches_every_target():
    rng = np.random.default_rng(3)
    means = np.stack([np.eye(5)[a] + c * np.eye(5)[4] for a in range(4) for c in range(2)])  # class 2a + c
    labels = np.repeat(np.arange(8), 6)
    f = means[labels] + 0.01 * rng.standard_normal((labels.size, 5))
    f = np.concatenate([f, np.ones((labels.size, 1))], axis=1)
    g = _nearest_mean_model(means)
    class_means = M.class_means(f, labels, 8)
    pairs = [(2 * a, 2 * a + 1) for a in range(4)]
    assert M.steering_success(f, labels, g, class_means, pairs) == 1.0
    assert M.steering_success(f, labels, g, class_means, [(b, a) for a, b in pairs]) == 1.0
    # opposite differences cancel (v ≈ 0): no input reaches its target
    assert M.steering_success(f, labels, g, class_means, [(0, 1), (3, 2)]) == 0.0


def _concept_shapes_model():
    """Every concept combination once; the embedding is the 10 binary concepts and a constant 1:
    e_shape + e_{4+colour} + large·e₇ + top·e₈ + left·e₉ + e₁₀."""
    combos = np.array(list(itertools.product(range(4), range(3), range(2), range(2), range(2))))
    shape, colour, large = combos[:, :3].T
    concepts = np.concatenate([np.eye(4)[shape], np.eye(3)[colour], combos[:, 2:]], axis=1).astype(int)
    f = np.concatenate([concepts, np.ones((len(combos), 1))], axis=1).astype(float)
    labels = 6 * shape + 2 * colour + large
    return f, labels, concepts


def test_concept_class_pairs_differ_in_one_concept():
    groups = M.concept_class_pairs()
    decode = lambda y: (y // 6, y % 6 // 2, y % 2)  # (shape, colour, large)
    changed = {"shape": (0, 1), "colour": (1, 1), "large": (2, 1)}
    for name, pairs in groups.items():
        axis, step = changed[name]
        assert len(pairs) == len(set(pairs)) > 0
        for y0, y1 in pairs:
            a, b = np.array(decode(y0)), np.array(decode(y1))
            assert (b - a).tolist() == [step if i == axis else 0 for i in range(3)] and a[axis] == 0


def test_linear_properties_of_an_exactly_linear_model():
    f, labels, concepts = _concept_shapes_model()
    means = M.class_means(f, labels, 24)
    props = M.linear_properties((f, labels, concepts), (f, labels, concepts), _nearest_mean_model(means[:, :-1]), 24)
    assert props == pytest.approx({"direction_auc": 1.0, "parallelism": 1.0, "steering_success": 1.0}, abs=1e-12)


def test_transfer_through_an_exact_invertible_affine_map():
    rng = np.random.default_rng(4)
    f, _, concepts = _concept_shapes_model()
    student = f[:, :-1] + 0.05 * rng.standard_normal((f.shape[0], 10))
    matrix = rng.standard_normal((10, 10)) + 3 * np.eye(10)
    teacher = student @ matrix.T + rng.standard_normal(10)
    half = rng.permutation(len(f)) < len(f) // 2
    with jax.enable_x64(True):
        props = M.transfer_properties(
            (student[half], student[~half]), (teacher[half], teacher[~half]), (concepts[half], concepts[~half])
        )
    own = M.concept_directions(teacher[half], concepts[half])
    want_auc = np.mean([_auc(concepts[~half][:, j], teacher[~half] @ own[j]) for j in range(own.shape[0])])
    assert props["transfer_r2"] == pytest.approx(1.0, abs=1e-9)
    assert props["transfer_cosine"] == pytest.approx(1.0, abs=1e-9)
    assert props["transfer_auc"] == pytest.approx(want_auc, abs=1e-12)


@pytest.mark.parametrize("value", [0, 1])
def test_a_concept_with_one_value_is_named(value):
    f, _, concepts, _ = _added_concept(np.random.default_rng(5))
    concepts = np.concatenate([concepts, np.full_like(concepts, value), concepts], axis=1)
    with pytest.raises(ValueError, match=r"concepts \[1\] take only one value"):
        M.concept_directions(f, concepts)
    with pytest.raises(ValueError, match=r"concepts \[1\]"):
        M.direction_auc(f, concepts, np.ones((3, f.shape[1])))
