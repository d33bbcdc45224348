"""SUB (arXiv 2602.15438): an attribute-head teacher on frozen image features, KL and
logit-distance students, attribute probes (``repsim-jax reproduce sub``,
:mod:`repsim_jax.reproduce.sub`).

``paper``: the authors' runs (their ``sub_teacher_example.sh``, ``sub_student_example.sh``,
``dsets/sub.py``, ``models/cbm.py``, ``evaluation/sub_evaluate.py``). Data: the user's
``.npz`` (``--config.data.path=SUB.npz``) of DINOv2-base CLS features of the SUB images
(768-dim), bird ``labels`` and the substituted attribute (``attributes``, 33 classes),
split 56/14/30 % stratified by label with seed 42 (:mod:`repsim_jax.data.features`).
Models: the shallow encoder ``768 → 2048 → 10`` (ReLU, dropout 0.1, a linear 10-dim
embedding), a bias-free label head; the teacher also has a bias-free attribute head on
the embedding (``model.attribute_head``). Adam lr 0.005, batch 512, 500 epochs, lr at
0.005·1e-3 for 20 warm-up epochs then ×0.995 per epoch; students KL and uncentred
L1/L2; 5 teachers (``reproduce.teacher_seeds``) × 5 students (``sweep.seeds``).
Evaluation on the test split: m_CCA of the top 2 canonical correlations
(``eval.cca_components``), d_rep over 33 pivots × 250 subsets, a multinomial logistic
attribute probe fitted on half of the test split and scored on the other half.

The attribute head is trained as theirs, with a softmax cross-entropy over the 33
attributes (``loss.concept_loss = "softmax"``), from PyTorch's initialisation
(``model.init = "torch_default"``), keeping each epoch's last partial batch
(``keep_last_batch``). The offline presets keep the per-attribute sigmoid cross-entropy
(``loss.concept_loss = "bce"``), Flax's initialisation and whole batches.

Offline presets (``default``, ``quick``, ``smoke``), no download: ``data.path`` empty
makes the driver compute the features itself, with our image encoder (a fixed random
ResNet-18, 768-dim) on ``num_train + num_test`` generated ``concept_shapes`` images
(seed ``data.seed``), the attribute being the shape's quadrant (independent of the
class, as SUB's substituted attribute is of the bird); the 56/14/30 split then keeps
``num_train`` training and ``num_test`` test rows at most.
"""

from repsim_jax.configs import common

PRESETS = ("default", "paper", "quick", "smoke")


def get_config(preset: str = "default"):
    common.check_preset(preset, PRESETS)
    c = common.get_base_config()
    c.data.update(name="features", seed=42, num_train=2800, num_test=1200)
    c.model.update(name="mlp", hidden=(2048,), dropout=0.1, embedding_dim=10)
    c.batch_size = 512
    c.optim.update(name="adam", learning_rate=0.005, schedule="reference", warmup_epochs=20, decay=0.995)
    c.loss.centered = False
    c.teacher.mode = "cached"
    c.eval.update(splits=("train", "test"), cca_components=2, num_pivots=33, num_subsets=250)
    c.sweep.update(losses=("kl", "l1", "l2"), seeds=(0, 1, 2, 3, 4), dims=(10,))
    c.reproduce.update(teacher_seeds=(0,), teacher_epochs=200, student_epochs=200, bound_every=200)
    if preset == "paper":
        c.data.update(num_train=0, num_test=0)
        c.model.init = "torch_default"  # their PyTorch initialisation
        c.keep_last_batch = True  # their DataLoader keeps the last partial batch
        c.loss.concept_loss = "softmax"  # their attribute loss: cross-entropy over the 33 attributes
        # teacher seeds apart from the student seeds (a student of seed s would otherwise start from
        # teacher s's encoder initialisation)
        c.reproduce.update(teacher_seeds=(100, 101, 102, 103, 104), teacher_epochs=500, student_epochs=500)
        c.reproduce.bound_every = 500
    elif preset == "quick":
        c.reproduce.update(teacher_epochs=60, student_epochs=60, bound_every=60)
        c.optim.warmup_epochs = 5
    elif preset == "smoke":
        c.data.update(num_train=300, num_test=200)
        c.batch_size = 64
        c.eval.num_subsets = 20
        c.sweep.seeds = (0, 1)
        c.reproduce.update(teacher_epochs=2, student_epochs=2, bound_every=2)
        c.optim.warmup_epochs = 0
    return c
