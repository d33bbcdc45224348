"""The statistics engine: a comparison's every quantity (metrics and the three logit bounds)
is the same whether its inputs come as one chunk (in memory), as 10 streamed chunks, as two
streams merged, or as two JAX processes' states merged (each process its own rows)."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special
from _processes import run_processes
from test_streaming import N
from test_streaming import _equivalent_pair as _equivalent
from test_streaming import _random_pair as _pair

from repsim_jax.errors import InputError
from repsim_jax.streaming import PairStream, ZooStream

RTOL = 1e-5
WORKER = Path(__file__).with_name("_engine_worker.py")


def _streamed(f1, g1, f2, g2, parts):
    stream = PairStream(g1, g2)
    for rows in np.array_split(np.arange(f1.shape[0]), parts):
        stream.add(f1[rows], f2[rows])
    return stream


def _leaves(result, prefix=""):
    """``{"cca_logit/lhs": value, ...}``: every entry of a result, flattened."""
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out |= _leaves(value, f"{prefix}{key}/")
        else:
            out[prefix + key] = value
    return out


def _assert_same_quantities(actual, expected):
    """Every quantity present in both, equal to ``RTOL`` relative (verdicts exactly)."""
    actual, expected = _leaves(actual), _leaves(expected)
    assert actual.keys() == expected.keys()
    assert len(expected) >= 25  # 7 metrics and the 3 bounds' fields
    for key, value in expected.items():
        if isinstance(value, bool):
            assert actual[key] is value, key
        elif math.isinf(value):
            assert actual[key] == value, key
        else:
            np.testing.assert_allclose(actual[key], value, rtol=RTOL, atol=0.0, err_msg=key)


@pytest.mark.slow
def test_one_chunk_ten_chunks_and_two_merged_streams_agree():
    arrays = _pair()
    f1, g1, f2, g2 = arrays
    in_memory = _streamed(*arrays, parts=1).result()
    assert in_memory["kl_logit"]["holds"] and in_memory["cca_logit"]["holds"] and in_memory["rep_logit"]["holds"]
    _assert_same_quantities(_streamed(*arrays, parts=10).result(), in_memory)
    half = N // 3
    first = _streamed(f1[:half], g1, f2[:half], g2, parts=4)
    second = _streamed(f1[half:], g1, f2[half:], g2, parts=6)
    merged = first.merge(second)
    assert merged.count == N
    _assert_same_quantities(merged.result(), in_memory)


def _top_label_agreement(f1, g1, f2, g2):
    """Float64 reference: the fraction of rows whose largest logits are at the same label."""
    z1, z2 = (np.float64(f) @ np.float64(g).T for f, g in ((f1, g1), (f2, g2)))
    return np.mean(np.argmax(z1, -1) == np.argmax(z2, -1))


def test_streamed_agreement_is_the_fraction_of_inputs_with_the_same_top_label():
    f1, g1, _, _ = _pair()
    g2 = g1 + 0.2 * np.random.default_rng(5).standard_normal(g1.shape).astype(np.float32)
    expected = _top_label_agreement(f1, g1, f1, g2)
    assert 0.2 < expected < 0.95  # neither trivial case
    for parts in (1, 7):  # a chunk's rows in blocks of ROW_BLOCK and a remainder
        agreement = _streamed(f1, g1, f1, g2, parts).result()["agreement"]
        assert abs(agreement - expected) <= 1.0 / N  # a float32 near-tie may flip one row
    assert _streamed(*_equivalent(), parts=3).result()["agreement"] >= 1.0 - 1.0 / N  # the same predictions


def test_streamed_kl_in_both_directions_matches_float64():
    f1, g1, f2, g2 = _pair()
    z1, z2 = (np.float64(f) @ np.float64(g).T for f, g in ((f1, g1), (f2, g2)))
    log_p1, log_p2 = (scipy.special.log_softmax(z, axis=-1) for z in (z1, z2))
    forward = np.mean(np.sum(np.exp(log_p1) * (log_p1 - log_p2), -1))
    reverse = np.mean(np.sum(np.exp(log_p2) * (log_p2 - log_p1), -1))
    assert abs(forward - reverse) > 0.05 * forward  # the directions differ here
    result = _streamed(f1, g1, f2, g2, parts=7).result()
    np.testing.assert_allclose(result["kl_divergence"], forward, rtol=1e-4)
    np.testing.assert_allclose(result["reverse_kl_divergence"], reverse, rtol=1e-4)


def test_a_zoo_computes_each_kl_direction_once():
    """Pair (i, j)'s reverse KL is pair (j, i)'s forward KL: the same direction's terms,
    so bit-equal (the property under test), and equal to the two-model stream's."""
    f1, g1, f2, g2 = _pair()
    stream = ZooStream([g1, g2])
    for rows in np.array_split(np.arange(N), 3):
        stream.add(f1[rows], f2[rows])
    results = stream.results()
    assert results[(0, 1)]["reverse_kl_divergence"] == results[(1, 0)]["kl_divergence"]
    assert results[(1, 0)]["reverse_kl_divergence"] == results[(0, 1)]["kl_divergence"]
    single = _streamed(f1, g1, f2, g2, parts=3).result()
    np.testing.assert_allclose(results[(0, 1)]["reverse_kl_divergence"], single["reverse_kl_divergence"], rtol=1e-5)


@pytest.mark.slow
def test_merging_a_stream_of_other_models_is_refused_and_an_empty_one_changes_nothing():
    f1, g1, f2, g2 = _pair()
    stream = _streamed(f1, g1, f2, g2, parts=2)
    before = stream.result()
    assert stream.merge(PairStream(g1, g2)).count == N  # nothing added
    assert stream.result() == before
    with pytest.raises(InputError, match="different models"):
        stream.merge(PairStream(g1, g2 + 1.0))
    with pytest.raises(InputError, match="different models"):
        stream.merge(PairStream(g2, g1))


@pytest.mark.slow
def test_two_processes_each_streaming_its_own_rows_agree_with_one_chunk(tmp_path):
    arrays = _pair(seed=1)
    np.savez(tmp_path / "arrays.npz", **dict(zip(("f1", "g1", "f2", "g2"), arrays)))
    out = tmp_path / "result.json"
    run_processes([sys.executable, str(WORKER), str(tmp_path / "arrays.npz")], [out, tmp_path / "unused.json"])
    _assert_same_quantities(json.loads(out.read_text()), _streamed(*arrays, parts=1).result())
