"""Bound checks between distributional and representational distances, over many pairs at once.

Every check takes a teacher (model 1) and a student (model 2). Each array argument is
either one model's array or a stack with a leading pair axis; a side whose arrays are
not stacked is shared by all pairs, and its own work (QR, eigenvalues, log-softmax) is
done once, before a single compiled ``lax.map`` over the pairs (a plain loop on CPU,
``pairs_per_step`` vmapped pairs per step on accelerators; :mod:`~repsim_jax.bounds.pairs`).
:func:`logit_bounds` runs the three logit bounds with one validation of the inputs.
Results are NamedTuples of arrays (with the pair axis when one was given) holding ``lhs``,
``rhs``, ``holds``, ``slack = rhs / lhs``, ``tolerance``, ``within_round_off`` and the
ingredients. The forms and their proofs are in each docstring and in docs/theory.md §3
(derived for this project from the definitions of arXiv 2602.15438 and 2506.03784).

Round-off and scale (:mod:`~repsim_jax.bounds.verdict`): ``holds`` allows ``1000·eps``
of rounding, and the squared distances are computed on inputs divided by powers of 2 and
multiplied back once, so ``holds`` and ``slack`` are right at any input scale. The KL
bound's ``rhs = KL/τ²`` is computed in log space: ``log10_rhs`` is finite whenever τ > 0,
``holds`` is decided there, and ``rhs`` itself is +inf only where that finite
``log10_rhs`` exceeds the dtype's range.

Modules: :mod:`~repsim_jax.bounds.pairs` (the pair-mapping engine and the per-side input
checks), :mod:`~repsim_jax.bounds.verdict` (round-off tolerance, holds, slack, units),
:mod:`~repsim_jax.bounds.basis` (teacher-basis algebra, label-centring),
:mod:`~repsim_jax.bounds.logit_stats` (logit statistics shared by the CCA and KL bounds),
one module per bound (:mod:`~repsim_jax.bounds.cca`, :mod:`~repsim_jax.bounds.rep`,
:mod:`~repsim_jax.bounds.kl`, :mod:`~repsim_jax.bounds.llv`) and
:mod:`~repsim_jax.bounds.fused` (the three logit bounds in one call).
"""

from repsim_jax.bounds.cca import CCALogitBound, cca_logit_bound
from repsim_jax.bounds.fused import LogitBounds, logit_bounds
from repsim_jax.bounds.kl import KLLogitBound, kl_logit_bound
from repsim_jax.bounds.llv import LLVSVDBound, llv_svd_bound
from repsim_jax.bounds.rep import RepLogitBound, rep_logit_bound
from repsim_jax.bounds.verdict import ROUND_OFF_EPS

__all__ = [
    "CCALogitBound",
    "KLLogitBound",
    "LLVSVDBound",
    "LogitBounds",
    "ROUND_OFF_EPS",
    "RepLogitBound",
    "cca_logit_bound",
    "kl_logit_bound",
    "llv_svd_bound",
    "logit_bounds",
    "rep_logit_bound",
]
