"""Linear concept properties of one model and their transfer between models (float64 NumPy).

All-or-none linear properties (arXiv 2410.23501): a binary concept c is *linearly
represented* when one direction carries it everywhere. With embeddings f(x) (n, d),
unembeddings G (K, d) and class means μ_y,

    direction      v_c = μ(f | c=1) − μ(f | c=0)                 (:func:`concept_directions`)
    separability   AUC of the score ⟨f(x), v_c⟩ for c              (:func:`direction_auc`)
    parallelism    mean over pairs of cos(Δ_i, Δ_j), Δ = μ_{y₁} − μ_{y₀}
                   over class pairs differing only in c            (:func:`parallelism`)
    steering       fraction of inputs of y₀ with argmax (f + v̄)Gᵀ = y₁,
                   v̄ = mean Δ                                       (:func:`steering_success`)

Linear transferability (arXiv 2506.00653): an affine map ``f_t ≈ A f_s + b`` from a
student to a teacher (:func:`repsim_jax.metrics.affine_map`) carries a student concept
direction to ``A v_c`` (:func:`transfer_properties`).

Concepts are (n, C) binary arrays (nonzero = present); every concept needs examples
with both values.
"""

from __future__ import annotations

import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics.transfer import affine_map


def _binary_concepts(concepts) -> np.ndarray:
    """``concepts > 0`` (n, C), after checking that every column takes both values."""
    c = np.asarray(concepts) > 0
    constant = np.flatnonzero(c.all(0) | ~c.any(0))
    if constant.size:
        raise InputError(
            f"concepts {constant.tolist()} take only one value; every concept needs examples "
            "with both values to define a direction"
        )
    return c


def concept_directions(embeddings, concepts) -> np.ndarray:
    """Mean-difference direction of each binary concept: ``v_c = μ(f | c=1) − μ(f | c=0)`` (C, d).

    The linear concept representation of arXiv 2410.23501.
    """
    f, c = np.asarray(embeddings, np.float64), _binary_concepts(concepts)
    return np.stack([f[c[:, j]].mean(0) - f[~c[:, j]].mean(0) for j in range(c.shape[1])])


def direction_auc(embeddings, concepts, directions) -> np.ndarray:
    """ROC AUC of the projection ``⟨f(x), v_c⟩`` for each concept c, (C,) (arXiv 2410.23501).

    1 when the direction separates the concept perfectly, 0.5 at chance.
    """
    from sklearn.metrics import roc_auc_score

    c = _binary_concepts(concepts)
    scores = np.asarray(embeddings, np.float64) @ np.asarray(directions).T
    return np.array([roc_auc_score(c[:, j], scores[:, j]) for j in range(scores.shape[1])])


def concept_class_pairs() -> dict[str, list[tuple[int, int]]]:
    """Class pairs ``(y₀, y₁)`` of concept shapes that differ in one concept, all else equal.

    ``label = 6·shape + 2·colour + large`` (:mod:`repsim_jax.data.concepts`):
    ``large`` small→large, ``colour`` red→green, ``shape`` circle→square.
    """
    from repsim_jax.data.concepts import COLOURS, SHAPES

    return {
        "large": [(6 * s + 2 * c, 6 * s + 2 * c + 1) for s in range(len(SHAPES)) for c in range(len(COLOURS))],
        "colour": [(6 * s + big, 6 * s + 2 + big) for s in range(len(SHAPES)) for big in range(2)],
        "shape": [(2 * c + big, 6 + 2 * c + big) for c in range(len(COLOURS)) for big in range(2)],
    }


def class_means(embeddings, labels, num_classes: int) -> np.ndarray:
    """Class means ``μ_y = mean of f(x) over the inputs of class y``, (num_classes, d) float64."""
    return np.stack([np.asarray(embeddings, np.float64)[labels == y].mean(0) for y in range(num_classes)])


def difference_parallelism(first: np.ndarray, second: np.ndarray) -> float:
    """Mean cosine over pairs p < q of the differences ``Δ_p = second[p] − first[p]``,
    ``2/(P(P−1)) Σ_{p<q} cos(Δ_p, Δ_q)``; ``first``, ``second`` (P, d) with P ≥ 2.

    1: a concept change is one shared vector, the "parallelogram" property of linear
    representations (arXiv 2410.23501). InputError for fewer than 2 pairs or a zero
    difference (a pair with one vector: no direction).
    """
    differences = np.asarray(second, np.float64) - np.asarray(first, np.float64)
    count = differences.shape[0]
    if count < 2:
        raise InputError(f"parallelism needs at least 2 pairs, got {count}")
    norms = np.linalg.norm(differences, axis=1)
    if np.any(norms == 0):
        raise InputError(f"pair {int(np.argmin(norms))}: its two tokens have the same vector (no difference)")
    unit = differences / norms[:, None]
    cosines = unit @ unit.T
    return float((cosines.sum() - np.trace(cosines)) / (count * (count - 1)))


def parallelism(class_means, pairs) -> float:
    """:func:`difference_parallelism` of the class-mean differences ``Δ = μ_{y₁} − μ_{y₀}``
    over the class pairs ``(y₀, y₁)``."""
    first, second = zip(*pairs)
    return difference_parallelism(class_means[list(first)], class_means[list(second)])


def steering_success(embeddings, labels, unembedding, class_means, pairs) -> float:
    """Linear steering (arXiv 2410.23501): the fraction of inputs of each source class y₀
    whose ``argmax (f + v)Gᵀ`` is its target y₁, with ``v = mean over pairs of Δ``."""
    f, g = np.asarray(embeddings, np.float64), np.asarray(unembedding, np.float64)
    v = np.mean([class_means[b] - class_means[a] for a, b in pairs], axis=0)
    target = dict(pairs)
    rows = np.isin(labels, list(target))
    pred = np.argmax((f[rows] + v) @ g.T, -1)
    return float(np.mean(pred == np.vectorize(target.get)(labels[rows])))


def linear_properties(train, test, unembedding, num_classes: int) -> dict:
    """All-or-none linear properties (arXiv 2410.23501) of one concept-shapes model.

    ``direction_auc``: mean over concepts of the test AUC of the train direction v_c;
    ``parallelism`` and ``steering_success``: means over the :func:`concept_class_pairs`
    groups, with train class means. ``train``/``test``: ``(embeddings, labels, concepts)``.
    """
    means = class_means(train[0], train[1], num_classes)
    pairs = concept_class_pairs()
    return {
        "direction_auc": float(direction_auc(test[0], test[2], concept_directions(train[0], train[2])).mean()),
        "parallelism": float(np.mean([parallelism(means, p) for p in pairs.values()])),
        "steering_success": float(
            np.mean([steering_success(test[0], test[1], unembedding, means, p) for p in pairs.values()])
        ),
    }


def transfer_properties(student, teacher, concepts) -> dict:
    """Linear transferability (arXiv 2506.00653) student → teacher.

    The affine map ``f_t ≈ A f_s + b`` fitted on train (:func:`repsim_jax.metrics.affine_map`);
    ``transfer_r2 = 1 − SSE/SST`` of it on test; each student concept direction moved as
    ``A v_c`` and scored on the teacher's test embeddings (``transfer_auc``, mean AUC),
    and its cosine with the teacher's own train direction (``transfer_cosine``, mean).
    ``student``/``teacher``: (train, test) embeddings; ``concepts``: (train, test) binary concepts.
    """
    amap = affine_map(student[0], teacher[0])
    predicted = np.asarray(amap.apply(student[1]), np.float64)
    target = np.asarray(teacher[1], np.float64)
    r2 = 1 - np.sum((predicted - target) ** 2) / np.sum((target - target.mean(0)) ** 2)
    moved = np.stack(
        [np.asarray(amap.transfer_direction(v), np.float64) for v in concept_directions(student[0], concepts[0])]
    )
    own = concept_directions(teacher[0], concepts[0])
    cosine = np.sum(moved * own, 1) / (np.linalg.norm(moved, axis=1) * np.linalg.norm(own, axis=1))
    return {
        "transfer_r2": float(r2),
        "transfer_auc": float(direction_auc(target, concepts[1], moved).mean()),
        "transfer_cosine": float(cosine.mean()),
    }
