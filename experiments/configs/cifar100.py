"""CIFAR-100: ResNet teachers and distilled students (arXiv 2602.15438 image setting).

Needs CIFAR-100 prepared once as TFDS array_record under ``data.data_dir`` (see
:mod:`repsim_jax.data`). The paper's image setting is a ResNet-50 teacher and ResNet-18
students of embedding dims 50 and 25 (GPU/TPU)::

  repsim-jax train --config=experiments/configs/cifar100.py:teacher --workdir=W/teacher \
      --config.data.data_dir=DATA
  repsim-jax sweep --config=experiments/configs/cifar100.py:students --workdir=W/students \
      --config.data.data_dir=DATA --config.teacher.workdir=W/teacher

Presets: ``default``, ``resnet50``, ``teacher`` (ResNet-50, d = 50), ``students``
(ResNet-18; sweep over KL/L1/L2 × dims 50, 25 × 5 seeds, teacher run online), ``smoke``
(the local concept-shapes set, a few hundred images, one epoch of a small MLP
concept-bottleneck model; ResNet-18 is exercised by ``--config.model.name=resnet18``,
which takes minutes on a 2-core CPU).
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import common  # noqa: E402


def get_config(preset: str = "default"):
    c = common.get_base_config()
    c.data.update(name="cifar100", augment=True)
    c.model.update(name="resnet18", embedding_dim=128, dropout=0.0)
    c.num_epochs = 200
    c.optim.update(name="sgd", learning_rate=0.05, schedule="reference", warmup_epochs=1, decay=0.98)
    c.teacher.mode = "online"
    c.eval.every = 5
    c.checkpoint.every = 1
    c.sweep.update(losses=("kl", "l2", "l2+procrustes"), seeds=(0, 1, 2), dims=(128,))
    if preset == "resnet50":
        c.model.name = "resnet50"
    elif preset == "teacher":
        c.model.update(name="resnet50", embedding_dim=50)
    elif preset == "students":
        c.model.embedding_dim = 50
        c.sweep.update(losses=("kl", "l1", "l2"), seeds=(0, 1, 2, 3, 4), dims=(50, 25))
    elif preset == "smoke":
        c.data.update(name="concept_shapes", num_train=256, num_test=128, augment=False)
        c.model.update(name="mlp", hidden=(128, 128), concept_bottleneck=True, embedding_dim=16)
        c.num_epochs = 1
        c.batch_size = 64
        c.optim.update(name="adam", learning_rate=1e-3, schedule="constant")
        c.eval.every = 1
        c.sweep.update(seeds=(0, 1), dims=(16,))
    elif preset != "default":
        raise ValueError(f"unknown preset {preset!r}; choose 'default', 'resnet50', 'teacher', 'students' or 'smoke'")
    return c
