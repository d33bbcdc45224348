"""Agreement of two models' per-input label rankings (pairwise accuracy, Kendall's τ-b,
Spearman's ρ, NDCG), in O(n·K + K²) memory."""

from __future__ import annotations

import functools

import numpy as np
import scipy.stats

from repsim_jax.row_statistics import RowStatistics

__all__ = ["ranking_agreement", "ranking_statistics", "ranking_values"]


_PAIR_ELEMENTS = 1 << 23
"""Label-pair entries (rows × K(K−1)/2) that :func:`ranking_agreement` forms at once:
a chunk's int16 pair signs and their temporaries stay near 100 MB whatever n is."""


def _dense_ranks(x: np.ndarray) -> np.ndarray:
    """Per-row ranks ``1..K`` with tied values sharing one rank: the order and the ties of
    ``x`` exactly, in int16 (int32 from K = 2¹⁵ labels)."""
    ranks = scipy.stats.rankdata(x, method="dense", axis=-1)
    return ranks.astype(np.int16 if x.shape[-1] < 2**15 else np.int32)


def _pair_signs(x: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``sign(x_i − x_j)`` per row for the label pairs ``(first[m], second[m])`` (i < j)."""
    ranks = _dense_ranks(x)
    return np.sign(ranks[:, first] - ranks[:, second])


def _row_statistics(p, q, first, second) -> tuple[np.ndarray, ...]:
    """Per input of a chunk: the number of label pairs ordered alike by ``p`` and ``q``,
    Kendall's τ-b, Spearman's ρ and the NDCG (see :func:`ranking_agreement`)."""
    sign_p, sign_q = _pair_signs(p, first, second), _pair_signs(q, first, second)
    same = np.count_nonzero(sign_p == sign_q, axis=-1)
    concordance = np.sum(sign_p * sign_q, axis=-1, dtype=np.int64)
    untied = np.count_nonzero(sign_p, axis=-1).astype(np.float64) * np.count_nonzero(sign_q, axis=-1)
    del sign_p, sign_q
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = concordance / np.sqrt(untied)  # 0/0 = NaN where p or q ties every label
        rank_p, rank_q = scipy.stats.rankdata(p, axis=-1), scipy.stats.rankdata(q, axis=-1)
        rp, rq = rank_p - rank_p.mean(-1, keepdims=True), rank_q - rank_q.mean(-1, keepdims=True)
        spearman = np.sum(rp * rq, -1) / np.sqrt(np.sum(rp**2, -1) * np.sum(rq**2, -1))
    discount = 1.0 / np.log2(np.arange(2, p.shape[-1] + 2))
    dcg = np.sum(np.take_along_axis(p, np.argsort(-q, -1, kind="stable"), -1) * discount, -1)
    ideal = np.sum(-np.sort(-p, -1) * discount, -1)
    return same, tau, spearman, dcg / ideal


def ranking_statistics(p: np.ndarray, q: np.ndarray) -> RowStatistics:
    """The sums over the inputs of ``p`` and ``q`` from which :func:`ranking_values` gives
    their :func:`ranking_agreement`: label pairs ordered alike and compared, τ-b and ρ where
    defined and how many, NDCG and the number of inputs (merged by adding).

    Computed over chunks of inputs whose ``rows × K(K−1)/2`` pair signs stay within
    :data:`_PAIR_ELEMENTS` (at least one input per chunk), vectorised within a chunk: the
    memory is O(n + K² + chunk) beside the inputs, not O(n·K²)."""
    n, k = p.shape
    first, second = np.triu_indices(k, 1)
    step = max(1, _PAIR_ELEMENTS // max(1, first.size))
    chunks = (_row_statistics(p[s : s + step], q[s : s + step], first, second) for s in range(0, n, step))
    return functools.reduce(RowStatistics.merge, (_chunk_sums(*chunk, first.size) for chunk in chunks))


def _chunk_sums(same, tau, spearman, ndcg, pairs_per_input: int) -> RowStatistics:
    """A chunk's :func:`ranking_statistics` from its per-input values."""
    defined = lambda values: np.count_nonzero(~np.isnan(values))
    sums = {
        "same_pairs": np.sum(same),
        "pairs": same.size * pairs_per_input,
        "kendall_tau": np.nansum(tau),
        "defined_tau": defined(tau),
        "spearman": np.nansum(spearman),
        "defined_spearman": defined(spearman),
        "ndcg": np.sum(ndcg),
        "inputs": same.size,
    }
    return RowStatistics.of(sums)


def ranking_values(statistics: RowStatistics) -> dict[str, float]:
    """:func:`ranking_agreement` from :func:`ranking_statistics` (of one or many chunks or
    processes merged); τ-b and ρ are NaN where no input defines them."""
    sums = {k: float(v) for k, v in statistics.sums.items()}
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = lambda total, count: float(np.float64(total) / count)
        return {
            "pairwise_accuracy": mean(sums["same_pairs"], sums["pairs"]),
            "kendall_tau": mean(sums["kendall_tau"], sums["defined_tau"]),
            "spearman": mean(sums["spearman"], sums["defined_spearman"]),
            "ndcg": mean(sums["ndcg"], sums["inputs"]),
        }


def ranking_agreement(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Agreement of the per-input label rankings by ``p`` (reference) and ``q``.

    With ``s_p = sign(p_i − p_j)``, ``s_q = sign(q_i − q_j)`` over the label pairs i < j
    of one input: ``pairwise_accuracy`` = the fraction of pairs with ``s_p = s_q`` (over
    all inputs' pairs); ``kendall_tau`` = τ-b = ``Σ s_p s_q / sqrt(Σ|s_p| · Σ|s_q|)``
    (Kendall 1945, the variant of ``scipy.stats.kendalltau``; NaN for an input whose p or
    q ties every label); ``spearman`` = Pearson correlation of the average ranks;
    ``ndcg`` = DCG of the ``q`` ranking with relevance ``p`` (gain ``p/log₂(1+rank)``)
    over the ideal DCG, labels that ``q`` ties ranked in label order. τ-b and ρ are
    averaged over the inputs where defined (nanmean), NDCG over all.

    :func:`ranking_values` of :func:`ranking_statistics`: O(n + K² + chunk) memory.
    """
    return ranking_values(ranking_statistics(p, q))
