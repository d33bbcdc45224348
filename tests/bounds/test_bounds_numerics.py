"""The bounds' numerics: KL exactness, rhs in log space, input scale, round-off, half precision.

References: float64 NumPy (``repsim_jax.testing``) and the bounds' own values at scale 1
(lhs and rhs of the CCA and rep bounds are homogeneous of degree 2 in the logits and
embeddings respectively, so at scale s they must be s² times those).
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from repsim_jax import bound_table, bounds
from repsim_jax import metrics as M
from repsim_jax.bounds import verdict
from repsim_jax.errors import InputError
from repsim_jax.streaming import PairStream
from repsim_jax.testing import bounds_reference as bref
from repsim_jax.testing import reference as ref

RNG = np.random.default_rng(0)
N, K, D1, D2 = 120, 10, 3, 4
F1 = RNG.standard_normal((N, D1)).astype(np.float32)
G1 = RNG.standard_normal((K, D1)).astype(np.float32)
F2 = (F1 @ RNG.standard_normal((D1, D2)) + 0.5 * RNG.standard_normal((N, D2))).astype(np.float32)
G2 = (G1 @ RNG.standard_normal((D1, D2)) + 0.1 * RNG.standard_normal((K, D2))).astype(np.float32)
PIVOTS, SUBSETS = M.pivot_subsets(K, D1, num_pivots=3, num_subsets=3)


def _three(f1, g1, f2, g2, validate=True):
    """The three bounds of one pair (separate calls), logits ``F Gᵀ``."""
    z1, z2 = f1 @ g1.T, f2 @ g2.T
    return {
        "cca_logit": bounds.cca_logit_bound(f1, z1, f2, z2, validate=validate),
        "rep_logit": bounds.rep_logit_bound(f1, g1, f2, g2, PIVOTS, SUBSETS, validate=validate),
        "kl_logit": bounds.kl_logit_bound(z1, z2, validate=validate),
    }


# ----------------------------------------------------------------- KL


def test_kl_bound_is_exact_for_near_equal_models():
    """z₂ = z₁ + 1e-5·noise, KL ≈ 5e-11: within 1e-3 of float64 (the previous log1p/expm1
    form was +3e-3 off here), alone and in the fused call."""
    rng = np.random.default_rng(1)
    z1 = (3.0 * rng.standard_normal((600, 5000))).astype(np.float32)
    z2 = (z1 + 1e-5 * rng.standard_normal(z1.shape)).astype(np.float32)
    expected = ref.kl_divergence(z1, z2)
    assert expected < 1e-10
    np.testing.assert_allclose(float(bounds.kl_logit_bound(z1, z2).kl), expected, rtol=1e-3)


@pytest.mark.slow
def test_fused_kl_equals_the_one_implementation():
    z1, z2 = F1 @ G1.T, F2 @ G2.T
    fused = bounds.logit_bounds(F1, G1, z1, F2, G2, z2, PIVOTS, SUBSETS).kl_logit
    np.testing.assert_allclose(float(fused.kl), float(M.kl_divergence(z1, z2)), rtol=1e-6)
    np.testing.assert_allclose(float(fused.kl), ref.kl_divergence(z1, z2), rtol=1e-5)


def test_kl_rhs_beyond_float32_is_finite_in_log_space():
    """Logits of size ~40 over 30 labels make τ ≈ e^-150: KL/τ² ≈ 1e130 is no float32 number.
    log10_rhs (and log10_tau) match float64, holds is decided from them, and rhs is +inf
    only as the overflow of that finite log10_rhs."""
    rng = np.random.default_rng(2)
    z1 = (15.0 * rng.standard_normal((50, 30))).astype(np.float32)
    z2 = (z1 + 2.0 * rng.standard_normal(z1.shape)).astype(np.float32)
    result = bounds.kl_logit_bound(z1, z2)
    lhs_x, kl_x, tau_x = bref.kl_logit(z1, z2)
    log10_rhs = np.log10(kl_x.mean()) - 2 * np.log10(tau_x.min())
    assert log10_rhs > 60
    np.testing.assert_allclose(float(result.log10_rhs), log10_rhs, rtol=1e-6)
    np.testing.assert_allclose(float(result.log10_tau), np.log10(tau_x.min()), rtol=1e-6)
    assert float(result.rhs) == np.inf
    np.testing.assert_allclose(float(result.tau), tau_x.min(), rtol=1e-4)
    assert bool(result.holds) and bool(result.holds_per_input) and not bool(result.within_round_off)
    np.testing.assert_allclose(float(result.lhs), lhs_x.mean(), rtol=1e-5)
    with jax.enable_x64(True):
        exact = bounds.kl_logit_bound(z1.astype(np.float64), z2.astype(np.float64))
    np.testing.assert_allclose(np.log10(float(exact.rhs)), log10_rhs, rtol=1e-10)


# ----------------------------------------------------------------- input scale


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_bounds_outside_float32_raise_and_keep_their_verdicts(scale):
    """Embeddings ×1e±30: d²_logit ≈ 1e±60 is no float32 number, so validation raises
    InputError (before: lhs nan, rhs inf, FAILS; or 0 ≤ 0 holds). Without validation the
    verdicts are those at scale 1 (decided on power-of-2-scaled inputs)."""
    s = np.float32(scale)
    for name, call in {
        "cca_logit_bound": lambda: bounds.cca_logit_bound(F1 * s, F1 @ G1.T * s, F2 * s, F2 @ G2.T * s),
        "rep_logit_bound": lambda: bounds.rep_logit_bound(F1 * s, G1, F2 * s, G2, PIVOTS, SUBSETS),
        "kl_logit_bound": lambda: bounds.kl_logit_bound(F1 @ G1.T * s, F2 @ G2.T * s),
        "logit_bounds": lambda: bounds.logit_bounds(
            F1 * s, G1, F1 @ G1.T * s, F2 * s, G2, F2 @ G2.T * s, PIVOTS, SUBSETS
        ),
    }.items():
        with pytest.raises(InputError, match=f"{name}.*is about 1e[+-]\\d+.*outside the float32 range"):
            call()
    base, scaled = _three(F1, G1, F2, G2), _three(F1 * s, G1, F2 * s, G2, validate=False)
    for name in ("cca_logit", "rep_logit"):
        assert bool(scaled[name].holds) == bool(base[name].holds) and bool(base[name].holds), name
        np.testing.assert_allclose(float(scaled[name].slack), float(base[name].slack), rtol=1e-3, err_msg=name)


@pytest.mark.parametrize("scale", [1e15, 1e-15])
def test_bounds_scale_with_the_inputs_inside_float32(scale):
    s = np.float32(scale)
    base, scaled = _three(F1, G1, F2, G2), _three(F1 * s, G1, F2 * s, G2)
    for name in ("cca_logit", "rep_logit"):
        for field in ("lhs", "rhs", "tolerance"):
            value, expected = float(getattr(scaled[name], field)), float(s) ** 2 * float(getattr(base[name], field))
            np.testing.assert_allclose(value, expected, rtol=1e-3, err_msg=f"{name}.{field}")
        assert bool(scaled[name].holds)
    np.testing.assert_allclose(float(scaled["kl_logit"].lhs), float(s) ** 2 * float(base["kl_logit"].lhs), rtol=1e-3)
    assert bool(scaled["kl_logit"].holds) and np.isfinite(float(scaled["kl_logit"].log10_rhs))


@pytest.mark.slow
@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_bounds_in_float64_at_any_scale(scale):
    """In float64, 1e±60 are numbers: the bounds are s² times those at scale 1."""
    with jax.enable_x64(True):
        f1, g1, f2, g2 = (a.astype(np.float64) for a in (F1, G1, F2, G2))
        base, scaled = _three(f1, g1, f2, g2), _three(f1 * scale, g1, f2 * scale, g2)
        for name in ("cca_logit", "rep_logit", "kl_logit"):
            np.testing.assert_allclose(float(scaled[name].lhs), scale**2 * float(base[name].lhs), rtol=1e-8)
            assert bool(scaled[name].holds), name
        for name in ("cca_logit", "rep_logit"):
            np.testing.assert_allclose(float(scaled[name].rhs), scale**2 * float(base[name].rhs), rtol=1e-8)


# ----------------------------------------------------------------- round-off


def test_identical_models_hold_within_round_off_and_say_so():
    """A model against itself: the CCA lhs is rounding noise (~1e-13) above an rhs of 0.
    ``holds`` allows it through ``tolerance`` and ``within_round_off`` says so; the table's
    verdict reads 'holds (within round-off)'."""
    z = F1 @ G1.T
    result = bounds.cca_logit_bound(F1, z, F1, z)
    assert float(result.rhs) < float(result.lhs) <= float(result.tolerance)
    assert bool(result.holds) and bool(result.within_round_off)
    row = {key: float(getattr(result, key)) for key in ("lhs", "rhs", "tolerance")}
    assert bound_table.verdict(row | {"holds": True, "within_round_off": True}) == "holds (within round-off)"
    assert bound_table.verdict(row | {"holds": True, "within_round_off": False}) == "holds"
    assert bound_table.verdict(row | {"holds": False, "within_round_off": False}) == "FAILS"


def test_tolerance_is_round_off_sized_and_does_not_hide_a_violation():
    """The allowance is 1000·eps relative (plus (1000·eps)² of the inputs' scale): a bound
    whose lhs exceeds rhs by 1% still fails. Checked on the KL bound's own rule by giving it
    lhs/rhs through the equality case of docs/theory.md §3.3 (K = 2, p, q mirrored)."""
    for result in _three(F1, G1, F2, G2).values():
        assert 0 < float(result.tolerance) < 1e-3 * max(float(result.lhs), float(result.rhs))
        assert not bool(result.within_round_off)
    lhs, rhs = np.float32(1.01), np.float32(1.0)
    tolerance = verdict.tolerance(lhs, scale=1.0)
    assert not bool(verdict.holds(lhs, rhs, tolerance))
    assert bool(verdict.holds(np.float32(1.0 + 1e-5), rhs, tolerance))


# ----------------------------------------------------------------- half precision

HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
INPUT_SETS = M.sample_input_sets(jax.random.key(0), N, 2, 3)
LABEL_SETS = np.array([[0, 1], [2, 3], [4, 5]], np.int32)
CASES = {  # arguments: f1, g1, f2, g2, z1, z2 (logits given, so that they too are half precision)
    "cca_logit_bound": lambda f1, g1, f2, g2, z1, z2: bounds.cca_logit_bound(f1, z1, f2, z2),
    "rep_logit_bound": lambda f1, g1, f2, g2, z1, z2: bounds.rep_logit_bound(f1, g1, f2, g2, PIVOTS, SUBSETS),
    "kl_logit_bound": lambda f1, g1, f2, g2, z1, z2: bounds.kl_logit_bound(z1, z2),
    "logit_bounds": lambda f1, g1, f2, g2, z1, z2: bounds.logit_bounds(f1, g1, z1, f2, g2, z2, PIVOTS, SUBSETS),
    "llv_svd_bound": lambda f1, g1, f2, g2, z1, z2: bounds.llv_svd_bound(f1, g1, f2, g2, LABEL_SETS, INPUT_SETS),
    "PairStream": lambda f1, g1, f2, g2, z1, z2: (
        PairStream(g1, g2).add(f1, f2).result(dict(num_pivots=2, num_subsets=2))
    ),
}


def _values(result):
    leaves = jax.tree.leaves(result._asdict() if hasattr(result, "_asdict") else result)
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])


@pytest.mark.slow
def test_unvalidated_calls_equal_validated_ones():
    """``validate=False`` (no checks, no conversion: JAX float32 arrays in) gives the
    validated results, for each of the five public bounds (five compiles: the unvalidated
    calls reuse them)."""
    z1, z2 = F1 @ G1.T, F2 @ G2.T
    arrays = dict(f1=F1, g1=G1, z1=z1, f2=F2, g2=G2, z2=z2)
    calls = {
        "cca_logit_bound": lambda a, **kw: bounds.cca_logit_bound(a["f1"], a["z1"], a["f2"], a["z2"], **kw),
        "rep_logit_bound": lambda a, **kw: bounds.rep_logit_bound(
            a["f1"], a["g1"], a["f2"], a["g2"], PIVOTS, SUBSETS, **kw
        ),
        "kl_logit_bound": lambda a, **kw: bounds.kl_logit_bound(a["z1"], a["z2"], **kw),
        "logit_bounds": lambda a, **kw: bounds.logit_bounds(*a.values(), PIVOTS, SUBSETS, **kw),
        "llv_svd_bound": lambda a, **kw: bounds.llv_svd_bound(
            a["f1"], a["g1"], a["f2"], a["g2"], jnp.asarray(LABEL_SETS), INPUT_SETS, **kw
        ),
    }
    device = {name: jnp.asarray(a) for name, a in arrays.items()}
    for name, call in calls.items():
        checked, unchecked = call(arrays), call(device, validate=False)
        np.testing.assert_allclose(_values(unchecked), _values(checked), rtol=1e-6, atol=1e-12, err_msg=name)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PairStream")
@pytest.mark.parametrize("dtype", sorted(HALF))
@pytest.mark.parametrize("name", sorted(CASES))
def test_half_precision_inputs_are_upcast_to_float32(name, dtype):
    half = [a.astype(HALF[dtype]) for a in (F1, G1, F2, G2, F1 @ G1.T, F2 @ G2.T)]
    result = CASES[name](*half)
    expected = CASES[name](*(a.astype(np.float32) for a in half))
    np.testing.assert_allclose(_values(result), _values(expected), rtol=1e-6, atol=1e-7, err_msg=name)
