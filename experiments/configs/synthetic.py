"""Spirals: MLP teacher, distilled students, sweeps (arXiv 2602.15438 synthetic setting).

Presets: ``default``, ``smoke`` (under a minute on CPU), and for
``repsim-jax reproduce synthetic``: ``paper`` (the reference hyper-parameters: teacher
500 epochs, students 250, batch 512, lr 1e-3 with per-epoch decay 0.995, 5 seeds) and
``quick`` (a smaller MLP and fewer epochs: minutes on a 2-core CPU).
``repsim-jax train --config=experiments/configs/synthetic.py:smoke --workdir=W``

``reproduce`` holds the reproduction's own settings: ``teacher_epochs`` and
``student_epochs`` (``num_epochs`` of the teacher and of the students) and
``bound_every`` (epochs between the CCA–logit bound evaluations of the students).
"""

import ml_collections


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.dataset = "spirals"
    c.points_per_arm = 1000
    c.modality = "standard"
    c.model = "mlp"
    c.hidden = (512, 512, 512)
    c.dropout = 0.1
    c.embedding_dim = 6  # d_rep needs d <= K - 1 = 6 (7 spiral arms)
    c.seed = 0
    c.num_epochs = 100
    c.batch_size = 128
    c.optimizer = "adam"
    c.learning_rate = 1e-3
    c.schedule = "constant"
    c.warmup_epochs = 0
    c.decay = 1.0
    c.loss = "ce"  # the teacher's loss; distillation: "kl", "l1", "l2", "l2+procrustes", ...
    c.ce_weight = 0.0  # added to distillation losses; "ce" alone always has weight 1
    c.logit_weight = 1.0
    c.feature_weight = 1.0
    c.temperature = 1.0
    c.centered = True
    c.teacher_workdir = ""
    c.teacher_mode = "cached"
    c.eval_every = 10
    c.checkpoint_every = 10
    c.keep = 3
    c.sweep = ml_collections.ConfigDict(
        {"losses": ("kl", "l1", "l2"), "seeds": (0, 1, 2), "dims": (2, 4, 6)}
    )
    c.reproduce = ml_collections.ConfigDict(
        {"teacher_epochs": 100, "student_epochs": 100, "bound_every": 10}
    )
    if preset == "smoke":
        c.points_per_arm = 100
        c.hidden = (64, 64, 64)
        c.num_epochs = 4
        c.batch_size = 64
        c.eval_every = 2
        c.checkpoint_every = 2
        c.embedding_dim = 4
        c.sweep.seeds = (0, 1)
        c.sweep.dims = (4,)
        c.reproduce.update(teacher_epochs=4, student_epochs=4, bound_every=2)
    elif preset == "paper":
        c.batch_size = 512
        c.schedule = "reference"
        c.decay = 0.995
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.reproduce.update(teacher_epochs=500, student_epochs=250, bound_every=25)
    elif preset == "quick":
        c.points_per_arm = 400
        c.hidden = (128, 128, 128)
        c.batch_size = 256
        c.schedule = "reference"
        c.decay = 0.99
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.reproduce.update(teacher_epochs=150, student_epochs=100, bound_every=10)
    elif preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose 'default', 'smoke', 'paper' or 'quick'")
    return c
