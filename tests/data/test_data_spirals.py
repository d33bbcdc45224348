"""Spirals: the formula re-derived point by point, structure, modalities, splits, plot."""

import numpy as np
import pytest

from repsim_jax.data import make_spirals, spiral_splits, stratified_split, stratified_subset


def _reference_spirals(seed, n):
    """Straightforward loop over arms and radii following the documented draw order."""
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(6) + 1 for _ in range(4)]
    jitter = rng.uniform(-0.75, 0.75, size=(28, n))
    xs, ys = [], []
    for arm in range(28):
        label = 0 if arm % 7 == 0 else perms[arm // 7][arm % 7 - 1]
        for i, r in enumerate(np.linspace(1, 10, n)):
            theta = 0.2 * np.pi / 7 * r / 2 + arm * 2 * np.pi / 28 + jitter[arm, i] * np.pi / 28
            xs.append((r * np.cos(theta), r * np.sin(theta)))
            ys.append(label)
    return np.array(xs), np.array(ys)


@pytest.mark.parametrize("seed,n", [(0, 7), (3, 50)])
def test_make_spirals_matches_loop_reference(seed, n):
    x, y = make_spirals(seed, n)
    x_ref, y_ref = _reference_spirals(seed, n)
    assert x.shape == (28 * n, 2) and x.dtype == np.float32
    assert y.shape == (28 * n,) and y.dtype == np.int32
    np.testing.assert_allclose(x, x_ref, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(y, y_ref)


def test_spiral_label_structure():
    n = 30
    x, y = make_spirals(5, n)
    per_arm = y.reshape(28, n)
    assert np.all(per_arm == per_arm[:, :1]), "one label per arm"
    arm_labels = per_arm[:, 0]
    assert np.bincount(arm_labels, minlength=7).tolist() == [4] * 7
    for block in range(4):
        assert sorted(arm_labels[7 * block : 7 * block + 7]) == list(range(7))
    assert np.all(arm_labels[::7] == 0)
    radii = np.linalg.norm(x.reshape(28, n, 2).astype(np.float64), axis=-1)
    np.testing.assert_allclose(radii, np.broadcast_to(np.linspace(1, 10, n), (28, n)), atol=1e-5)


def test_spirals_deterministic_per_seed():
    a, b, c = make_spirals(1, 20), make_spirals(1, 20), make_spirals(2, 20)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert a[0].tobytes() != c[0].tobytes()


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_make_spirals_rejects_bad_points_per_arm(bad):
    with pytest.raises(ValueError, match="points_per_arm"):
        make_spirals(0, bad)


def _rows(x):
    return sorted(map(tuple, np.asarray(x).tolist()))


def test_standard_split_is_stratified_partition():
    n = 40
    s = spiral_splits(seed=0, points_per_arm=n)
    x, _ = make_spirals(0, n)
    assert s.ood is None and s.modality == "standard"
    for (_, y), per_label in zip((s.train, s.val, s.test), (2 * n, n, n)):
        assert np.bincount(y, minlength=7).tolist() == [per_label] * 7
    assert _rows(np.concatenate([s.train[0], s.val[0], s.test[0]])) == _rows(x)


@pytest.mark.parametrize("modality", ["interpolation", "extrapolation"])
def test_ring_modalities(modality):
    lo, hi = 3.5, 6.0
    s = spiral_splits(seed=1, points_per_arm=60, modality=modality, min_radius=lo, max_radius=hi)
    x, _ = make_spirals(1, 60)
    in_ring = lambda pts: (
        (np.linalg.norm(pts.astype(np.float64), axis=1) > lo) & (np.linalg.norm(pts.astype(np.float64), axis=1) < hi)
    )
    fit = np.concatenate([s.train[0], s.val[0], s.test[0]])
    expect_fit_in_ring = modality == "extrapolation"
    assert np.all(in_ring(fit) == expect_fit_in_ring)
    assert np.all(in_ring(s.ood[0]) != expect_fit_in_ring)
    assert _rows(np.concatenate([fit, s.ood[0]])) == _rows(x)
    assert len(s.ood[0]) > 0 and len(s.test[0]) > 0


def test_spiral_splits_errors():
    with pytest.raises(ValueError, match="modality"):
        spiral_splits(modality="sideways", points_per_arm=5)
    with pytest.raises(ValueError, match="min_radius"):
        spiral_splits(points_per_arm=5, min_radius=5.0, max_radius=5.0)
    with pytest.raises(ValueError, match="no spiral points"):
        spiral_splits(points_per_arm=5, modality="extrapolation", min_radius=20.0, max_radius=30.0)


def test_stratified_split_sizes_partition_and_seed():
    labels = np.repeat(np.arange(4), [10, 7, 5, 1])
    parts = stratified_split(labels, (0.5, 0.25, 0.25), seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(labels.size))
    for c, n_c in enumerate([10, 7, 5, 1]):
        counts = [int(np.sum(labels[p] == c)) for p in parts]
        assert counts == [n_c // 2, n_c // 4, n_c - n_c // 2 - n_c // 4]
    again = stratified_split(labels, (0.5, 0.25, 0.25), seed=3)
    other = stratified_split(labels, (0.5, 0.25, 0.25), seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other))


@pytest.mark.parametrize("fractions", [(0.5, 0.4), (0.5, 0.0, 0.5), ()])
def test_stratified_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(np.zeros(4, int), fractions)


@pytest.mark.parametrize("modality, ring", [("interpolation", (4.0, 7.0)), ("extrapolation", (3.0, 7.0))])
def test_default_ring_per_modality(modality, ring):
    """The held-out ring defaults to the paper code's radii: interpolation 4–7, extrapolation 3–7."""
    s = spiral_splits(seed=0, points_per_arm=40, modality=modality)
    assert (s.min_radius, s.max_radius) == ring
    norms = np.linalg.norm(s.ood[0].astype(np.float64), axis=1)
    inside = (norms > ring[0]) & (norms < ring[1])
    assert np.all(inside == (modality == "interpolation"))


@pytest.mark.parametrize("size", [70, 75, 7])
def test_stratified_subset_sizes_and_balance(size):
    labels = np.repeat(np.arange(7), [30, 12, 40, 25, 11, 50, 20])
    keep = stratified_subset(labels, size, seed=3)
    assert keep.size == size == np.unique(keep).size and np.all(np.diff(keep) > 0)
    counts = np.bincount(labels[keep], minlength=7)
    assert counts.max() - counts.min() <= 1 and counts.sum() == size
    assert np.array_equal(keep, stratified_subset(labels, size, seed=3))


def test_stratified_subset_refuses_impossible_sizes():
    labels = np.repeat(np.arange(3), [5, 1, 5])
    with pytest.raises(ValueError, match="label 1 has 1 examples"):
        stratified_subset(labels, 9)
    with pytest.raises(ValueError, match="subset size"):
        stratified_subset(labels, 0)
