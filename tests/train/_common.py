"""Small shared set-ups for the training tests (also imported by ``_worker.py``)."""

from __future__ import annotations

import flax.linen as nn
import numpy as np

from repsim_jax.data.synthetic import make_spirals
from repsim_jax.losses import get_loss
from repsim_jax.models import Classifier, MLPEncoder
from repsim_jax.train import Data, Schedule, Student, fit, make_optimizer

NUM_CLASSES = 7
BATCH = 16
NUM_STEPS = 4
MESH_SEEDS = (3, 5, 7, 9)


class BatchNormEncoder(nn.Module):
    """Dense → BatchNorm → ReLU → Dropout → Dense: exercises BatchNorm state and dropout."""

    embedding_dim: int = 4

    @nn.compact
    def __call__(self, x, train=False):
        h = nn.Dense(16, use_bias=False)(x)  # a bias before BatchNorm has zero gradient
        h = nn.relu(nn.BatchNorm(use_running_average=not train)(h))
        h = nn.Dropout(0.1, deterministic=not train)(h)
        return nn.Dense(self.embedding_dim)(h)


def distill_data(n: int = 64) -> dict:
    """Spiral inputs with fixed pseudo-teacher outputs (no teacher training needed)."""
    x, y = make_spirals(seed=0, points_per_arm=10)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))[:n]
    return {
        "x": x[idx],
        "y": y[idx],
        "teacher_embeddings": rng.normal(size=(n, 3)).astype(np.float32),
        "teacher_logits": rng.normal(size=(n, NUM_CLASSES)).astype(np.float32),
    }


def step_setup():
    model = Classifier(BatchNormEncoder(), NUM_CLASSES)
    loss = get_loss("l2+procrustes", ce_weight=0.5)
    tx = make_optimizer("adam", 1e-2)
    return model, loss, tx


def run_steps(workdir, mesh=None):
    """``NUM_STEPS`` steps of :func:`step_setup`'s student (one epoch of ``BATCH × NUM_STEPS``
    rows) through ``fit``; with a mesh, data-parallel (each process reads only its own rows
    of the training set, every global batch sharded on ``"data"``)."""
    student = Student(*step_setup(), seeds=3)
    data = Data(distill_data(BATCH * NUM_STEPS))
    return fit(student, data, workdir, Schedule(1, BATCH, progress=False), mesh=mesh).state


def run_fit(workdir, epochs, mesh=None, seeds=0, num_epochs=3, eval_data=None, curves=None, checkpoint_every=1):
    """``fit`` of a small MLP student with the L2 loss on fixed teacher outputs, stopped
    after ``epochs`` epochs of this call (None: run to ``num_epochs``)."""
    model = Classifier(MLPEncoder(4, hidden=(16, 16)), NUM_CLASSES)
    student = Student(model, get_loss("l2"), make_optimizer("adam", 1e-2), seeds)
    schedule = Schedule(num_epochs, BATCH, checkpoint_every=checkpoint_every, stop_after_epochs=epochs, progress=False)
    return fit(student, Data(distill_data(), eval_data, curves=curves), workdir, schedule, mesh=mesh)
