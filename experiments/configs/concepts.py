"""Concept shapes: concept-bottleneck teacher, distilled students, concept probes and transfer.

For ``repsim-jax reproduce concepts`` (KL vs logit-distance students: concept probes,
affine transfer, all-or-none linear properties) and ``repsim-jax reproduce geometry``
(KD alone vs KD + a feature-geometry loss, arXiv 2509.25253). Data: the offline
``concept_shapes`` set (:mod:`repsim_jax.data.concepts`).

The teacher is an MLP concept-bottleneck classifier (image → 10 concepts → embedding →
24 classes); students are plain MLP classifiers of the same embedding width.
Presets: ``default`` (more data and epochs), ``quick`` (minutes on a 2-core CPU),
``smoke`` (seconds, for tests).
"""

import ml_collections


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.dataset = "concept_shapes"
    c.data_dir = ""
    c.num_train = 4000
    c.num_test = 1000
    c.model = "mlp"
    c.hidden = (256, 256)
    c.dropout = 0.0
    c.concept_bottleneck = False  # students; the teacher sets it to True
    c.concept_weight = 1.0
    c.embedding_dim = 10  # = number of concepts: the bottleneck teacher's embedding has rank <= 10
    c.augment = False
    c.seed = 0
    c.num_epochs = 60
    c.batch_size = 128
    c.optimizer = "adam"
    c.learning_rate = 1e-3
    c.schedule = "constant"
    c.warmup_epochs = 0
    c.decay = 1.0
    c.loss = "ce"
    c.ce_weight = 0.0
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
        {"losses": ("kl", "l1", "l2"), "seeds": (0, 1, 2, 3, 4), "dims": (10,)}
    )
    c.geometry_losses = ("kl", "kl+procrustes", "kl+gram", "kl+cka", "kl+proj_mse")
    c.reproduce = ml_collections.ConfigDict(
        {"teacher_epochs": 60, "student_epochs": 60, "bound_every": 60}
    )
    if preset == "quick":
        c.num_train = 2000
        c.num_test = 500
        c.hidden = (128, 128)
        c.reproduce.update(teacher_epochs=30, student_epochs=30, bound_every=30)
    elif preset == "smoke":
        c.num_train = 256
        c.num_test = 128
        c.hidden = (32,)
        c.batch_size = 64
        c.eval_every = 2
        c.sweep.seeds = (0, 1)
        c.reproduce.update(teacher_epochs=2, student_epochs=2, bound_every=2)
    elif preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose 'default', 'quick' or 'smoke'")
    return c
