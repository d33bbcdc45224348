"""Spirals: MLP teacher, distilled students, sweeps (arXiv 2602.15438 synthetic setting).

Presets: ``default`` (paper-sized), ``smoke`` (under a minute on CPU).
``repsim-jax train --config=experiments/configs/synthetic.py:smoke --workdir=W``
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
    elif preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose 'default' or 'smoke'")
    return c
