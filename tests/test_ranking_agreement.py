"""The report's chunked ranking agreement against a per-input float64 reference built from
``scipy.stats.kendalltau`` / ``spearmanr`` and explicit pair and NDCG loops."""

import warnings

import numpy as np
import pytest
import scipy.stats

from repsim_jax import ranking


def _reference(p, q):
    """The definitions input by input: pair signs from float64 differences, τ-b and ρ by scipy."""
    k = p.shape[1]
    same, pairs, tau, rho, ndcg = 0, 0, [], [], []
    gain = 1.0 / np.log2(np.arange(2, k + 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on a constant input (τ, ρ are NaN there)
        for a, b in zip(p, q):
            for i in range(k):
                for j in range(i + 1, k):
                    same += np.sign(a[i] - a[j]) == np.sign(b[i] - b[j])
                    pairs += 1
            tau.append(scipy.stats.kendalltau(a, b).statistic)
            rho.append(scipy.stats.spearmanr(a, b).statistic)
            ndcg.append(np.sum(a[np.argsort(-b, kind="stable")] * gain) / np.sum(np.sort(a)[::-1] * gain))
    return {
        "pairwise_accuracy": same / pairs,
        "kendall_tau": np.nanmean(tau),
        "spearman": np.nanmean(rho),
        "ndcg": np.mean(ndcg),
    }


@pytest.mark.parametrize("ties", [False, True])
def test_chunked_ranking_agreement_matches_the_per_input_reference(monkeypatch, ties):
    rng = np.random.default_rng(3)
    n, k = 23, 7  # 21 label pairs per input
    p = rng.dirichlet(np.ones(k), size=n)
    q = 0.6 * p + 0.4 * rng.dirichlet(np.ones(k), size=n)
    if ties:  # many ties within inputs, and one input whose q ties every label (τ-b, ρ undefined)
        p, q = np.round(p, 1), np.round(q, 1)
        q[5] = 1.0 / k
    whole = ranking.ranking_agreement(p, q)
    monkeypatch.setattr(ranking, "_PAIR_ELEMENTS", 5 * 21)  # chunks of 5 inputs: 23 = 4·5 + 3
    chunked = ranking.ranking_agreement(p, q)
    expected = _reference(p, q)
    assert set(chunked) == set(expected)
    for key, value in expected.items():
        assert chunked[key] == pytest.approx(value, abs=1e-12), key
        assert whole[key] == pytest.approx(value, abs=1e-12), key
    assert -1 < expected["kendall_tau"] < 1 and expected["pairwise_accuracy"] < 1  # not a trivial case
