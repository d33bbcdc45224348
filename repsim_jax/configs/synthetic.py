"""Spirals: MLP teacher, distilled students, sweeps (arXiv 2602.15438 synthetic setting).

Presets: ``default``, ``smoke`` (under a minute on CPU), and for
``repsim-jax reproduce synthetic``:

- ``paper``: the authors' setup (their public code): MLP 512-512-512 → d = 2, dropout
  0.1; Adam lr 1e-3 with a 20-epoch warm-up at lr·1e-3, then per-epoch decay 0.995;
  batch 512; teachers 500 epochs (cross-entropy), students 250 epochs (distillation
  loss only, T = 1, L1/L2 on raw, uncentred logits); 5 teachers × 5 students per
  loss; d_rep on every pivot × every 2-subset of the other labels (7 × 15); PyTorch's
  initialisation (``model.init = "torch_default"``) and the last partial batch of every
  epoch kept (``keep_last_batch``), as their ``main.py`` and ``DataLoader`` do.
- ``paper-centred``: ``paper`` with label-centred L1/L2 (the paper's d_logit), an ablation.
- ``paper-cpu``: ``paper`` with 3 teachers × 3 students per loss (about 45 min on a quiet
  2-core CPU from a measured 0.29 s per teacher epoch and 0.95 s per epoch of 3 vmapped
  students).
- ``quick``: a smaller MLP and fewer epochs, d = 6, centred losses: minutes on a
  2-core CPU (the README's main job).
``repsim-jax train --config=synthetic:smoke --workdir=W``
"""

from repsim_jax.configs import common

PRESETS = ("default", "smoke", "quick", "paper", "paper-centred", "paper-cpu")


def get_config(preset: str = "default"):
    common.check_preset(preset, PRESETS)
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
    elif preset in ("paper", "paper-centred", "paper-cpu"):
        c.model.update(embedding_dim=2, init="torch_default")  # their PyTorch initialisation
        c.reproduce.finetune_from = "checkpoint"  # their --checkin students
        c.batch_size = 512
        c.keep_last_batch = True  # their DataLoader keeps the last partial batch (no drop_last)
        c.optim.update(schedule="reference", warmup_epochs=20, decay=0.995)
        c.loss.centered = preset == "paper-centred"
        c.eval.update(every=50, num_pivots=7, num_subsets=15)
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.sweep.dims = (2,)
        # teacher seeds apart from the student seeds: a student of seed s would otherwise start
        # from the very initialisation of teacher s (the same key draws the same encoder)
        teachers = (100, 101, 102, 103, 104)
        c.reproduce.update(teacher_seeds=teachers, teacher_epochs=500, student_epochs=250, bound_every=25)
        if preset == "paper-cpu":
            c.sweep.seeds = (0, 1, 2)
            c.reproduce.teacher_seeds = teachers[:3]
    elif preset == "quick":
        c.data.points_per_arm = 400
        c.model.hidden = (128, 128, 128)
        c.batch_size = 256
        c.optim.schedule = "reference"
        c.optim.decay = 0.99
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.reproduce.update(teacher_epochs=150, student_epochs=100, bound_every=10)
    return c
