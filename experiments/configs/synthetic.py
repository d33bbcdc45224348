"""Spirals: MLP teacher, distilled students, sweeps (arXiv 2602.15438 synthetic setting).

Presets: ``default``, ``smoke`` (under a minute on CPU), and for
``repsim-jax reproduce synthetic``: ``paper`` (teacher 500 epochs, students 250,
batch 512, lr 1e-3 with per-epoch decay 0.995, 5 seeds) and ``quick`` (a smaller MLP
and fewer epochs: minutes on a 2-core CPU).
``repsim-jax train --config=experiments/configs/synthetic.py:smoke --workdir=W``
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402


def get_config(preset: str = "default"):
    c = common.get_base_config()
    c.sweep.dims = (2, 4, 6)  # d_rep needs d <= K - 1 = 6 (7 spiral arms)
    c.eval.splits = ("test", "ood")
    if preset == "smoke":
        c.data.points_per_arm = 100
        c.model.hidden = (64, 64, 64)
        c.model.embedding_dim = 4
        c.num_epochs = 4
        c.batch_size = 64
        c.eval.every = 2
        c.checkpoint.every = 2
        c.sweep.seeds = (0, 1)
        c.sweep.dims = (4,)
        c.reproduce.update(teacher_epochs=4, student_epochs=4, bound_every=2)
    elif preset == "paper":
        c.batch_size = 512
        c.optim.schedule = "reference"
        c.optim.decay = 0.995
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.reproduce.update(teacher_epochs=500, student_epochs=250, bound_every=25)
    elif preset == "quick":
        c.data.points_per_arm = 400
        c.model.hidden = (128, 128, 128)
        c.batch_size = 256
        c.optim.schedule = "reference"
        c.optim.decay = 0.99
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.reproduce.update(teacher_epochs=150, student_epochs=100, bound_every=10)
    elif preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose 'default', 'smoke', 'paper' or 'quick'")
    return c
