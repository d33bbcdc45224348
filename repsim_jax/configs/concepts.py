"""Concept shapes: concept-bottleneck teacher, distilled students, concept probes and transfer.

For ``repsim-jax reproduce concepts`` (KL vs logit-distance students: concept probes,
affine transfer, all-or-none linear properties) and ``repsim-jax reproduce geometry``
(KD alone vs KD + a feature-geometry loss, arXiv 2509.25253, losses in
``reproduce.geometry_losses``). Data: the offline ``concept_shapes`` set.

The teacher is an MLP concept-bottleneck classifier (image → 10 concepts → embedding →
24 classes); students are plain MLP classifiers of the same embedding width.
Presets: ``default`` (more data and epochs), ``quick`` (minutes on a 2-core CPU),
``smoke`` (seconds, for tests).
"""

from repsim_jax.configs import common

PRESETS = ("default", "quick", "smoke")


def get_config(preset: str = "default"):
    common.check_preset(preset, PRESETS)
    c = common.get_base_config()
    c.data.update(name="concept_shapes", num_train=4000, num_test=1000)
    c.model.update(hidden=(256, 256), dropout=0.0)
    c.model.embedding_dim = 10  # = number of concepts: the bottleneck teacher's embedding has rank <= 10
    c.num_epochs = 60
    c.sweep.update(losses=("kl", "l1", "l2"), seeds=(0, 1, 2, 3, 4), dims=(10,))
    c.reproduce.update(teacher_epochs=60, student_epochs=60, bound_every=60)
    if preset == "quick":
        c.data.update(num_train=2000, num_test=500)
        c.model.hidden = (128, 128)
        c.reproduce.update(teacher_epochs=30, student_epochs=30, bound_every=30)
    elif preset == "smoke":
        c.data.update(num_train=256, num_test=128)
        c.model.hidden = (32,)
        c.batch_size = 64
        c.eval.every = 2
        c.sweep.seeds = (0, 1)
        c.reproduce.update(teacher_epochs=2, student_epochs=2, bound_every=2)
    return c
