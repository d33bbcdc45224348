"""CIFAR-100: ResNet teachers and distilled students (arXiv 2602.15438 image setting).

Needs CIFAR-100 prepared once as TFDS array_record under ``data_dir`` (see
:mod:`repsim_jax.data`). The paper's image setting is a ResNet-50 teacher and ResNet-18
students of embedding dims 50 and 25 (GPU/TPU)::

  repsim-jax train --config=experiments/configs/cifar100.py:teacher --workdir=W/teacher \
      --config.data_dir=DATA
  repsim-jax sweep --config=experiments/configs/cifar100.py:students --workdir=W/students \
      --config.data_dir=DATA --config.teacher_workdir=W/teacher

Presets: ``default``, ``resnet50``, ``teacher`` (ResNet-50, d = 50), ``students``
(ResNet-18; sweep over KL/L1/L2 × dims 50, 25 × 5 seeds, teacher run online), ``smoke`` (the local
concept-shapes set, a few hundred images, one epoch of a small MLP concept-bottleneck
model; ResNet-18 is exercised by ``--config.model=resnet18``, which takes minutes on a
2-core CPU).
"""

import ml_collections


def get_config(preset: str = "default") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.dataset = "cifar100"
    c.data_dir = ""
    c.num_train = 0  # 0: the whole split
    c.num_test = 0
    c.model = "resnet18"
    c.concept_bottleneck = False
    c.concept_weight = 1.0
    c.embedding_dim = 128
    c.dropout = 0.0
    c.hidden = (512, 512, 512)
    c.augment = True
    c.seed = 0
    c.num_epochs = 200
    c.batch_size = 128
    c.optimizer = "sgd"
    c.learning_rate = 0.05
    c.schedule = "reference"
    c.warmup_epochs = 1
    c.decay = 0.98
    c.loss = "ce"
    c.ce_weight = 0.0
    c.logit_weight = 1.0
    c.feature_weight = 1.0
    c.temperature = 1.0
    c.centered = True
    c.teacher_workdir = ""
    c.teacher_mode = "online"
    c.eval_every = 5
    c.checkpoint_every = 1
    c.keep = 3
    c.sweep = ml_collections.ConfigDict(
        {"losses": ("kl", "l2", "l2+procrustes"), "seeds": (0, 1, 2), "dims": (128,)}
    )
    if preset == "resnet50":
        c.model = "resnet50"
    elif preset == "teacher":
        c.model = "resnet50"
        c.embedding_dim = 50
    elif preset == "students":
        c.embedding_dim = 50
        c.sweep.losses = ("kl", "l1", "l2")
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.sweep.dims = (50, 25)
    elif preset == "smoke":
        c.dataset = "concept_shapes"
        c.num_train = 256
        c.num_test = 128
        c.model = "mlp"
        c.hidden = (128, 128)
        c.concept_bottleneck = True
        c.embedding_dim = 16
        c.num_epochs = 1
        c.batch_size = 64
        c.optimizer = "adam"
        c.learning_rate = 1e-3
        c.schedule = "constant"
        c.augment = False
        c.eval_every = 1
        c.sweep.seeds = (0, 1)
        c.sweep.dims = (16,)
    elif preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose 'default', 'resnet50', 'teacher', 'students' or 'smoke'")
    return c
