"""Every metric on generated models with known relationships (``repsim-jax demo``).

A random teacher ``(F, G)`` (n inputs, K labels, d dims) is compared with students
whose relation to it is known in closed form:

- ``identifiable``: ``f → A f``, ``g → A⁻ᵀ g + c`` — same predictions, so logit distance
  and d_rep are 0 and m_CCA is 1 (arXiv 2602.15438, identifiability);
- ``noisy``: teacher plus small Gaussian noise on F and G;
- ``swapped``: teacher embeddings, two pairs of unembedding rows swapped;
- ``unrelated``: an independent random model.
"""

from __future__ import annotations

import json
import os

import numpy as np

from repsim_jax.compare import compare
from repsim_jax.io import Representation
from repsim_jax.metrics import pairwise


def make_students(seed: int = 0, n: int = 2000, num_labels: int = 20, dim: int = 8) -> dict:
    """The teacher and its four students as :class:`Representation` objects."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((n, dim)).astype(np.float32)
    g = rng.standard_normal((num_labels, dim)).astype(np.float32)
    mixing = (np.eye(dim) + 0.5 * rng.standard_normal((dim, dim))).astype(np.float32)
    swapped = g.copy()
    swapped[[0, 1, 2, 3]] = g[[1, 0, 3, 2]]
    return {
        "teacher": Representation(f, g),
        "identifiable": Representation(f @ mixing.T, g @ np.linalg.inv(mixing).astype(np.float32) + 1.0),
        "noisy": Representation(
            f + 0.1 * rng.standard_normal(f.shape).astype(np.float32),
            g + 0.1 * rng.standard_normal(g.shape).astype(np.float32),
        ),
        "swapped": Representation(f, swapped),
        "unrelated": Representation(
            rng.standard_normal((n, dim)).astype(np.float32), rng.standard_normal((num_labels, dim)).astype(np.float32)
        ),
    }


def run(seed: int = 0, out: str | None = None) -> dict:
    """Compares the teacher with each student; optionally writes ``out/demo.json``."""
    models = make_students(seed)
    teacher = models.pop("teacher")
    report = {name: compare(teacher, student, {"seed": seed}) for name, student in models.items()}
    stack = np.stack([teacher.embeddings] + [m.embeddings for m in models.values()])
    report["pairwise_mean_cca"] = np.asarray(pairwise("mean_cca", stack)).round(6).tolist()
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "demo.json"), "w") as file:
            json.dump(report, file, indent=2)
    return report
