"""One process of a multi-process evaluation (``tests/test_row_statistics.py``).

``python tests/_evaluate_worker.py ARRAYS WORKDIR OUT PID NPROC PORT [bad-last-label]``: joins
``NPROC`` CPU processes (gloo collectives) at ``localhost:PORT`` and runs
:func:`repsim_jax.evaluate.evaluate` of the linear student and teacher of ``ARRAYS`` (see
:class:`LinearModel`) on its splits, writing ``report.json`` to ``WORKDIR`` (process 0) and this
process's report, or ``{"error": ...}`` when it failed, to ``OUT``. ``bad-last-label``: the test
split's last label (in the last process's rows) is out of range.
"""

import json
import sys

import jax
import numpy as np

from repsim_jax.evaluate import evaluate


class LinearModel:
    """``f(x) = x W``, logits ``f(x) Gᵀ``: the part of a TrainedModel that ``evaluate`` uses."""

    def __init__(self, weights, unembeddings):
        self.weights, self.unembeddings = weights, unembeddings

    def outputs(self, x, preprocess=None):
        embeddings = np.asarray(x, np.float32) @ self.weights
        return embeddings, embeddings @ self.unembeddings.T


def splits(arrays) -> dict:
    """The ``train`` and ``test`` splits of ``arrays`` (``x_*``, ``y_*``, ``c_*``)."""
    return {
        name: {"x": arrays[f"x_{name}"], "y": arrays[f"y_{name}"], "concepts": arrays[f"c_{name}"]}
        for name in ("train", "test")
    }


def models(arrays) -> tuple:
    """The student and the teacher of ``arrays``."""
    return LinearModel(arrays["w_student"], arrays["g_student"]), LinearModel(arrays["w_teacher"], arrays["g_teacher"])


PIVOTS = {"num_pivots": 3, "num_subsets": 4, "seed": 0}

if __name__ == "__main__":
    arrays_path, workdir, out = sys.argv[1:4]
    pid, nproc, port = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", nproc, pid)
    with np.load(arrays_path) as data:
        arrays = dict(data)
    if len(sys.argv) > 7 and sys.argv[7] == "bad-last-label":  # a label out of range in process 1's rows
        arrays["y_test"][-1] = arrays["g_student"].shape[0]
    student, teacher = models(arrays)
    try:
        report = evaluate(student, splits(arrays), workdir, teacher=teacher, pivot_options=PIVOTS)
    except Exception as error:  # written for the test to read: each process's own failure
        report = {"error": f"{type(error).__name__}: {error}"}
    with open(out, "w") as file:
        json.dump(report, file)
    jax.distributed.shutdown()
