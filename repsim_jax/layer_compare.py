"""Two models compared layer by layer over the same inputs, from streamed moments.

Layer states X (n, d₁) of model 1 and Y (n, d₂) of model 2 (rows: the same tokens; see
:mod:`repsim_jax.lm.layers` for what a layer is) are compared through the joint
:class:`~repsim_jax.metrics.moments.Moments` of every requested layer of both models, fed
chunk by chunk (:class:`LayerGrid`); a layer pair's moments are the joint centred factor's
columns of the two layers re-triangularised (:func:`repsim_jax.streaming.block_pair_moments`).
Memory is O((Σ layer widths)²), whatever the number of tokens. Per pair (:func:`layer_metrics`):

- ``mean_cca``: m_CCA of the column spaces (``rank_tol = default_rank_tol``: a final
  LayerNorm's output is rank-deficient once centred), ``linear_cka`` (biased) and
  ``procrustes_distance``: their ``*_from_moments`` forms;
- ``affine_r2``: the in-sample R² of the least-squares affine map from X to Y,

      R² = 1 − min_{A,b} Σ_x ‖A x + b − y‖² / Σ_x ‖y − ȳ‖² = ‖P_X̃ Ỹ‖²_F / ‖Ỹ‖²_F
         = ‖U_rᵀ F_Y‖²_F / ‖F_Y‖²_F,

  with F = [F_X, F_Y] the centred factor (``FᵀF = [X̃, Ỹ]ᵀ[X̃, Ỹ]``, so F acts as the
  centred data: same Gram, same projections) and U_r the left singular vectors of F_X above
  ``rank_tol · s_max`` (the column space m_CCA uses; the minimum-norm least-squares map
  where X̃ is rank-deficient). In-sample, not held out: for X unrelated to Y its
  expectation is about r/(n − 1) (r = rank X̃), so it reads as "near 0" only for n ≫ d₁.
  1 when Y is an affine function of X (e.g. Y = X A + c, A invertible). Asymmetric.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.cca import column_space, default_rank_tol, mean_cca_from_moments
from repsim_jax.metrics.cka import linear_cka_from_moments
from repsim_jax.metrics.linalg import matmul, squared_norm, unit_frobenius
from repsim_jax.metrics.moments import Moments, empty, update
from repsim_jax.metrics.shape import procrustes_distance_from_moments
from repsim_jax.streaming import block_pair_moments

__all__ = ["LAYER_METRICS", "layer_metrics", "affine_r2_from_moments", "LayerGrid"]

LAYER_METRICS = ("mean_cca", "linear_cka", "procrustes_distance", "affine_r2")


@jax.jit
def _affine_r2(factor_x, factor_y, rank_tol):
    basis, _ = column_space(factor_x, rank_tol)
    target = unit_frobenius(factor_y)  # R² is a ratio: normalised first, so nothing over- or underflows
    return squared_norm(matmul(basis.T, target))


def affine_r2_from_moments(state: Moments, rank_tol: float | None = None) -> jax.Array:
    """In-sample R² of the least-squares affine map from the first block to the second
    (module docstring); ``rank_tol`` defaults to ``default_rank_tol`` of the dtype.
    InputError when the second block is constant over the samples (R² undefined)."""
    factor = state.factor
    x, y = factor[:, state.block(0)], factor[:, state.block(1)]
    if float(jnp.max(jnp.abs(y))) == 0.0:
        raise InputError("singular case: the target layer is constant over the tokens, R² is undefined")
    return _affine_r2(x, y, default_rank_tol(factor.dtype) if rank_tol is None else rank_tol)


def layer_metrics(state: Moments) -> dict:
    """``{mean_cca, linear_cka, procrustes_distance, affine_r2}`` of the first two blocks of
    ``state`` (model 1's layer, model 2's layer) as Python floats; InputError from the
    metrics' own checks (too few tokens, a constant layer)."""
    values = {
        "mean_cca": mean_cca_from_moments(state, rank_tol=default_rank_tol(state.factor.dtype)),
        "linear_cka": linear_cka_from_moments(state),
        "procrustes_distance": procrustes_distance_from_moments(state),
        "affine_r2": affine_r2_from_moments(state),
    }
    return {name: float(value) for name, value in values.items()}


class LayerGrid:
    """Every layer of ``layers_1`` (model 1) against every layer of ``layers_2`` (model 2)
    over chunks streamed in one pass.

    >>> grid = LayerGrid([0, 1, "final"], [0, "final"])
    >>> for chunk_1, chunk_2 in chunks:     # {layer: (m, d)}: the same m tokens
    ...     grid.add(chunk_1, chunk_2)
    >>> grid.result()["linear_cka"]          # (3, 2) nested list, rows model 1's layers
    """

    def __init__(self, layers_1, layers_2):
        self.layers_1, self.layers_2 = tuple(layers_1), tuple(layers_2)
        self._state: Moments | None = None

    def _blocks(self, chunk_1: dict, chunk_2: dict) -> list:
        blocks = []
        for model, layers, chunk in ((1, self.layers_1, chunk_1), (2, self.layers_2, chunk_2)):
            for layer in layers:
                if layer not in chunk:
                    raise InputError(f"model {model}'s chunk has no layer {layer!r}")
                blocks.append(checks.as_float_array(f"model {model} layer {layer}", chunk[layer], ndim=2))
        checks.same_rows(**{f"block {i}": block for i, block in enumerate(blocks)})
        return blocks

    def add(self, chunk_1: dict, chunk_2: dict) -> "LayerGrid":
        """Adds one chunk of tokens: ``{layer: (m, d)}`` of each model, the same m tokens."""
        blocks = self._blocks(chunk_1, chunk_2)
        if self._state is None:
            self._state = empty(tuple(b.shape[1] for b in blocks), jnp.result_type(*blocks))
        self._state = update(self._state, *blocks)
        return self

    @property
    def count(self) -> int:
        """Number of tokens added so far."""
        return 0 if self._state is None else int(self._state.count)

    def pair(self, layer_1, layer_2) -> dict:
        """:func:`layer_metrics` of model 1's ``layer_1`` against model 2's ``layer_2``."""
        if self._state is None:
            raise InputError("no tokens were added to the layer comparison")
        first = self.layers_1.index(layer_1)
        second = len(self.layers_1) + self.layers_2.index(layer_2)
        return layer_metrics(block_pair_moments(self._state, first, second))

    def result(self) -> dict:
        """``{"tokens", "layers_1", "layers_2", <metric>: (len(layers_1), len(layers_2)) nested
        list}`` for each metric of :data:`LAYER_METRICS`."""
        values = [[self.pair(a, b) for b in self.layers_2] for a in self.layers_1]
        grids = {name: np.array([[cell[name] for cell in row] for row in values]).tolist() for name in LAYER_METRICS}
        return {"tokens": self.count, "layers_1": list(self.layers_1), "layers_2": list(self.layers_2), **grids}
