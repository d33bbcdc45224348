"""PairStream: streamed comparison and logit bounds equal the in-memory ones on the full arrays."""

import warnings

import jax
import numpy as np
import pytest

from repsim_jax import bounds
from repsim_jax import metrics as M
from repsim_jax.errors import InputError
from repsim_jax.streaming import RESULT_TYPES, PairStream
from repsim_jax.testing import bounds_reference as bref
from repsim_jax.testing import reference as ref

pytestmark = pytest.mark.filterwarnings("error")  # no subset may be excluded: the references keep them all

N, K, D1, D2 = 3000, 40, 6, 5
CHUNKS = [700, 1, 1299, 512, 488]  # uneven, with a single row; sums to N
BOUNDS = ("cca_logit", "rep_logit", "kl_logit")


def _random_pair(seed=0, d2=D2):
    """A teacher and a noisy linearly related student, float32, logits of order 1."""
    rng = np.random.default_rng(seed)
    f1 = rng.standard_normal((N, D1)) + 0.5
    g1 = 0.3 * rng.standard_normal((K, D1))
    f2 = f1 @ rng.standard_normal((D1, d2)) + 0.5 * rng.standard_normal((N, d2))
    g2 = g1 @ rng.standard_normal((D1, d2)) + 0.1 * rng.standard_normal((K, d2))
    return tuple(np.asarray(a, np.float32) for a in (f1, g1, f2, g2))


def _equivalent_pair(seed=1):
    """``f₂ = f₁A``, ``g₂ = g₁A⁻ᵀ + c``: the same predictions (c shifts each input's logits)."""
    f1, g1, _, _ = _random_pair(seed)
    rng = np.random.default_rng(seed)
    a = ref.random_invertible(rng, D1, cond=5.0)
    g2 = g1.astype(np.float64) @ np.linalg.inv(a).T + rng.standard_normal(D1)
    return tuple(np.asarray(x, np.float32) for x in (f1, g1, f1.astype(np.float64) @ a, g2))


def _stream(f1, g1, f2, g2, chunks=CHUNKS, order=None):
    starts = np.cumsum([0, *chunks])
    stream = PairStream(g1, g2)
    for i in order if order is not None else range(len(chunks)):
        assert stream.add(f1[starts[i] : starts[i + 1]], f2[starts[i] : starts[i + 1]]) is stream
    assert stream.count == f1.shape[0]
    return stream.result()


def _in_memory(f1, g1, f2, g2):
    """The same entries from repsim_jax.metrics and repsim_jax.bounds on the full arrays."""
    z1, z2 = f1 @ g1.T, f2 @ g2.T
    pivots, subsets = M.pivot_subsets(K, D1)
    cca = bounds.cca_logit_bound(f1, z1, f2, z2)
    rep = bounds.rep_logit_bound(f1, g1, f2, g2, pivots, subsets)
    kl = bounds.kl_logit_bound(z1, z2)
    return {
        "logit_distance": M.logit_distance(z1, z2),
        "kl_divergence": M.kl_divergence(z1, z2),
        "mean_cca": M.mean_cca(f1, f2),
        "linear_cka": M.linear_cka(f1, f2),
        "procrustes_distance": M.procrustes_distance(f1, f2),
        "gram_distance": M.gram_distance(f1, f2),
        "reverse_kl_divergence": M.kl_divergence(z2, z1),
        "agreement": np.mean(z1.argmax(-1) == z2.argmax(-1)),
        "rep_dissimilarity": M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets),
        "cca_logit": dict(lhs=cca.lhs, middle=cca.middle, rhs=cca.rhs, holds=cca.holds),
        "rep_logit": dict(lhs=rep.lhs, rhs=rep.rhs, holds=rep.holds),
        "kl_logit": dict(lhs=kl.lhs, rhs=kl.rhs, holds=kl.holds, tau=kl.tau),
    }


def _float64_reference(f1, g1, f2, g2):
    """The entries from the float64 NumPy references of repsim_jax.testing."""
    z1, z2 = f1.astype(np.float64) @ g1.T, f2.astype(np.float64) @ g2.T
    pivots, subsets = (np.asarray(a) for a in M.pivot_subsets(K, D1))
    cca = bref.cca_logit(f1, z1, f2, z2)
    rep_lhs, rep_rhs, _, _ = bref.rep_logit(f1.astype(np.float64), g1, f2, g2, pivots, subsets)
    lhs_x, kl_x, tau_x = bref.kl_logit(z1, z2)
    return {
        "logit_distance": ref.logit_distance_from_reps(f1, g1, f2, g2),
        "kl_divergence": ref.kl_divergence(z1, z2),
        "mean_cca": ref.mean_cca(f1, f2),
        "linear_cka": ref.linear_cka(f1, f2),
        "rep_dissimilarity": ref.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, max_condition=1e5),
        "cca_logit": dict(zip(("lhs", "middle", "rhs"), cca)),
        "rep_logit": dict(lhs=rep_lhs, rhs=rep_rhs),
        "kl_logit": dict(lhs=lhs_x.mean(), rhs=kl_x.mean() / tau_x.min() ** 2, tau=tau_x.min()),
    }


def _assert_close(streamed, expected, rtol, atol=0.0):
    for key, value in expected.items():
        if isinstance(value, dict):
            _assert_close(streamed[key], value, rtol, atol)
        elif key == "holds":
            assert streamed[key] is bool(value), key
        else:
            np.testing.assert_allclose(streamed[key], float(value), rtol=rtol, atol=atol, err_msg=key)


@pytest.mark.slow
def test_random_pair_equals_in_memory_and_float64_reference():
    arrays = _random_pair()
    streamed = _stream(*arrays)
    assert all(streamed[name]["holds"] for name in BOUNDS)
    assert 0 < streamed["kl_logit"]["tau"] < 1 / K
    expected = _in_memory(*arrays)
    # the in-memory rep–logit bound computes its lhs d²_rep on the teacher's basis (4e-6 from
    # float64 here); d_rep and the streamed bound use d_rep's joint-factor kernel (3.5e-5 from
    # float64, 2e-7 from each other): measured, so 1e-4 for that bound, 1e-5 for the rest
    rep_logit = {"rep_logit": expected.pop("rep_logit")}
    _assert_close(streamed, expected, rtol=1e-5)
    _assert_close(streamed, rep_logit, rtol=1e-4)
    _assert_close(streamed, _float64_reference(*arrays), rtol=1e-4)


def test_the_predictions_comparison_needs_no_more_inputs_than_there_are():
    f1, g1, f2, g2 = (a[:5] if a.shape[0] == N else a for a in _random_pair())  # 5 <= d₁ + d₂ inputs
    stream = PairStream(g1, g2).add(f1, f2)
    with pytest.raises(InputError, match="too few inputs"):
        stream.result()
    z1, z2 = f1.astype(np.float64) @ g1.T, f2.astype(np.float64) @ g2.T
    expected = {
        "logit_distance": ref.logit_distance_from_reps(f1, g1, f2, g2),
        "kl_divergence": ref.kl_divergence(z1, z2),
        "reverse_kl_divergence": ref.kl_divergence(z2, z1),
        "agreement": np.mean(z1.argmax(-1) == z2.argmax(-1)),
    }
    assert stream.comparison() == pytest.approx(expected, rel=1e-5)


@pytest.mark.slow
def test_float64_stream_equals_float64_reference():
    arrays = tuple(a.astype(np.float64) for a in _random_pair(3, d2=8))
    with jax.enable_x64(True):  # also samples the same pivots/subsets for the reference
        _assert_close(_stream(*arrays), _float64_reference(*arrays), rtol=1e-9)


@pytest.mark.slow
def test_equivalent_pair_is_at_zero_and_bounds_hold():
    arrays = _equivalent_pair()
    streamed, expected = _stream(*arrays), _in_memory(*arrays)
    assert all(streamed[name]["holds"] for name in BOUNDS)
    scale = np.mean(np.sum((arrays[0] @ arrays[1].T) ** 2, axis=1))  # mean squared logit norm
    for key in ("logit_distance", "kl_divergence", "rep_dissimilarity"):
        assert streamed[key] < 1e-3, key
    np.testing.assert_allclose(streamed["mean_cca"], 1.0, rtol=1e-5)  # (CKA is not invariant to A)
    del expected["kl_logit"]["rhs"]  # KL/τ²: float32 rounding of a zero KL (~1e-7) times 1/τ² (~2e8)
    _assert_close(streamed, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.slow
def test_chunk_order_and_sizes_do_not_change_the_result():
    arrays = _random_pair(3)
    first = _stream(*arrays)
    _assert_close(_stream(*arrays, order=[4, 2, 0, 3, 1]), first, rtol=1e-5)
    _assert_close(_stream(*arrays, chunks=[N]), first, rtol=1e-5)
    _assert_close(_stream(*arrays, chunks=[17] * (N // 17) + [N % 17]), first, rtol=1e-5)


def test_pivot_options_select_the_subsets():
    arrays = _random_pair(4)
    stream = PairStream(arrays[1], arrays[3]).add(arrays[0], arrays[2])
    pivots, subsets = M.pivot_subsets(K, D1, num_pivots=3, num_subsets=4, seed=7)
    expected = M.rep_dissimilarity(arrays[0], arrays[1], arrays[2], arrays[3], pivots, subsets)
    result = stream.result(dict(num_pivots=3, num_subsets=4, seed=7))
    np.testing.assert_allclose(result["rep_dissimilarity"], float(expected), rtol=1e-4)


def test_bad_input_raises():
    f1, g1, f2, g2 = _random_pair()
    with pytest.raises(ValueError, match="logits over different label sets are not comparable"):
        PairStream(g1, g2[:-1])
    with pytest.raises(ValueError, match="too few labels"):
        PairStream(g1[:D1], g2[:D1])
    stream = PairStream(g1, g2)
    with pytest.raises(ValueError, match="f1_chunk has 5 features but g1 has 6"):
        stream.add(f1[:10, :5], f2[:10])
    with pytest.raises(ValueError, match="f2_chunk has 6 features but g2 has 5"):
        stream.add(f1[:10], f1[:10])
    with pytest.raises(ValueError, match="row .* counts differ"):
        stream.add(f1[:10], f2[:9])
    for bad in (np.nan, np.inf):
        chunk = f2[:10].copy()
        chunk[3, 1] = bad
        with pytest.raises(ValueError, match="f2_chunk contains NaN or Inf"):
            stream.add(f1[:10], chunk)
    with pytest.raises(ValueError, match="too few inputs: n=0"):
        stream.result()
    stream.add(f1[: D1 + D2], f2[: D1 + D2])
    with pytest.raises(ValueError, match=f"too few inputs: n={D1 + D2} <= d1\\+d2"):
        stream.result()
    assert stream.count == D1 + D2  # rejected chunks left the state untouched


# ----------------------------------------------------------------- KL exactness, scale, degenerate inputs


def _near_equal_reps(noise, far=False, n=600, k=5000, d=8, seed=0):
    """float32 f, g with K = 5000 labels; the student ``f₂ = f₁ + noise·N(0, 1)`` on the same
    unembeddings (KL ≈ 4e-8 at noise 1e-4, 1.6e-9 at 2e-5), or an unrelated model (far)."""
    rng = np.random.default_rng(seed)
    f1 = rng.standard_normal((n, d))
    g1 = 3.0 * rng.standard_normal((k, d)) / np.sqrt(d)
    if far:
        f2, g2 = rng.standard_normal((n, d)), 3.0 * rng.standard_normal((k, d)) / np.sqrt(d)
    else:
        f2, g2 = f1 + noise * rng.standard_normal((n, d)), g1
    return tuple(np.asarray(a, np.float32) for a in (f1, g1, f2, g2))


@pytest.mark.parametrize("noise, far", [(1e-4, False), (2e-5, False), (0.0, True)], ids=["4e-8", "1.6e-9", "far"])
def test_streamed_kl_matches_float64_in_ten_chunks(noise, far):
    """KL streamed in 10 chunks against float64 NumPy on the float64 logits of the same f, g
    (relative error ≤ 1e-3; the previous difference-of-log-sum-exps was off by +330% at 4e-8).
    The in-memory bound on the float32 logits agrees too."""
    f1, g1, f2, g2 = _near_equal_reps(noise, far)
    stream = PairStream(g1, g2)
    for rows in np.array_split(np.arange(f1.shape[0]), 10):
        stream.add(f1[rows], f2[rows])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an ill-conditioned subset of the random unembeddings is no concern here
        streamed = stream.result(dict(num_pivots=1, num_subsets=2))
    expected = ref.kl_divergence(f1.astype(np.float64) @ g1.T, f2.astype(np.float64) @ g2.T)
    np.testing.assert_allclose(streamed["kl_divergence"], expected, rtol=1e-3)
    in_memory = bounds.kl_logit_bound(f1 @ g1.T, f2 @ g2.T)
    np.testing.assert_allclose(float(in_memory.kl), expected, rtol=1e-3)
    kl = streamed["kl_logit"]
    np.testing.assert_allclose(kl["log10_rhs"], np.log10(expected) - 2 * kl["log10_tau"], atol=np.log10(1 + 1e-3))
    assert kl["holds"] and np.isfinite(kl["log10_rhs"])


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_streamed_values_are_right_at_any_scale(scale):
    """Embeddings ×1e±30 in float32: d_logit and d_rep scale by s, the squared bound terms by
    s² (≈ 1e±60, returned as float64), the scale-free metrics and every verdict unchanged."""
    f1, g1, f2, g2 = _random_pair()
    base = _stream(f1, g1, f2, g2, chunks=[N // 2] * 2)
    scaled = _stream(f1 * np.float32(scale), g1, f2 * np.float32(scale), g2, chunks=[N // 2] * 2)
    for key in ("logit_distance", "rep_dissimilarity"):
        np.testing.assert_allclose(scaled[key], scale * base[key], rtol=1e-4, err_msg=key)
    for key in ("mean_cca", "linear_cka"):
        np.testing.assert_allclose(scaled[key], base[key], rtol=1e-4, err_msg=key)
    for name in ("cca_logit", "rep_logit"):
        for key in ("lhs", "rhs"):
            np.testing.assert_allclose(scaled[name][key], scale**2 * base[name][key], rtol=1e-3, err_msg=name)
    np.testing.assert_allclose(scaled["kl_logit"]["lhs"], scale**2 * base["kl_logit"]["lhs"], rtol=1e-3)
    for name in BOUNDS:
        assert scaled[name]["holds"] and np.isfinite(scaled[name]["lhs"]) and scaled[name]["lhs"] > 0, name
    assert scaled["kl_logit"]["log10_rhs"] > -np.inf


def test_constant_embeddings_raise_instead_of_nan():
    f1, g1, f2, g2 = _random_pair()
    stream = PairStream(g1, g2)
    stream.add(np.ones_like(f1), f2)
    with pytest.raises(ValueError, match="x is constant over the samples"):
        stream.result()


def test_bounds_report_tolerance_and_log10_rhs():
    """Every streamed bound carries its round-off tolerance and slack and the KL bound
    log10_rhs/log10_tau, equal to the in-memory bound's; its keys are fields of the in-memory
    result type, in that type's order."""
    f1, g1, f2, g2 = _random_pair()
    streamed = _stream(f1, g1, f2, g2, chunks=[N // 2] * 2)
    kl = bounds.kl_logit_bound(f1 @ g1.T, f2 @ g2.T)
    np.testing.assert_allclose(streamed["kl_logit"]["log10_rhs"], float(kl.log10_rhs), rtol=1e-5)
    np.testing.assert_allclose(streamed["kl_logit"]["log10_tau"], float(kl.log10_tau), rtol=1e-5)
    for name in BOUNDS:
        assert 0 < streamed[name]["tolerance"] < 1e-2 * streamed[name]["rhs"], name
        assert streamed[name]["within_round_off"] is False, name
    np.testing.assert_allclose(streamed["kl_logit"]["slack"], float(kl.slack), rtol=1e-4)
    for name, result_type in RESULT_TYPES.items():
        keys = list(streamed[name])
        assert keys == [field for field in result_type._fields if field in keys], name
        assert streamed[name]["slack"] == pytest.approx(streamed[name]["rhs"] / streamed[name]["lhs"], rel=1e-12), name
