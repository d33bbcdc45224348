"""CIFAR-100: ResNet teachers and distilled students (arXiv 2602.15438 image setting).

Needs CIFAR-100 prepared once as TFDS array_record under ``data.data_dir`` (see
:mod:`repsim_jax.data`). The paper's image setting is a ResNet-50 teacher and ResNet-18
students of embedding dims 50 and 25 (GPU/TPU)::

  repsim-jax train --config=cifar100:teacher --workdir=W/teacher \
      --config.data.data_dir=DATA
  repsim-jax sweep --config=cifar100:students --workdir=W/students \
      --config.data.data_dir=DATA --config.teacher.workdir=W/teacher

Presets: ``default``, ``resnet50``, ``teacher`` (ResNet-50, d = 50), ``students``
(ResNet-18; sweep over KL/L1/L2 × dims 50, 25 × 5 seeds, teacher run online), ``smoke``
(the local concept-shapes set, a few hundred images, one epoch of a small MLP
concept-bottleneck model; ResNet-18 is exercised by ``--config.model.name=resnet18``,
which takes minutes on a 2-core CPU).

The authors' runs (their ``cifar100_teacher_example.s``, ``cifar100_student_example.s``,
``utils/train.py``, ``backbones/resnet.py``), on GPU:

* ``paper-teacher``: torchvision's ResNet-50 (``model.stem="imagenet"``) initialised
  from the ImageNet weights ``model.init_from`` (torchvision's IMAGENET1K_V2 file
  ``resnet50-11ad3fa6.pth``, which the user supplies; the ImageNet ``fc`` is dropped), a
  fresh 50-dim embedding head and bias-free unembedding, fine-tuned 10 epochs with Adam
  lr 1e-3, batch 32, no augmentation, pixels/255 (``data.normalization="unit"``), the
  lr at 1e-3·lr for 3 warm-up epochs and then ×0.995 per epoch;
* ``paper-students``: torchvision's ResNet-18 from random init, d = 50 and 25
  (``sweep.dims``), KL and uncentred L1/L2 (``loss.centered=False``) on cached teacher
  logits, 50 epochs, same optimiser and schedule, 5 seeds per teacher (``sweep.seeds``)
  and 5 teachers (``reproduce.teacher_seeds``: run the teacher preset once per seed with
  ``--config.seeds="(t,)"``), checkpoints every 10 epochs for the Theorem F.1 figure
  (:mod:`repsim_jax.reproduce.theorem_f1`), d_rep over P × C = 100 × 200 pivots ×
  subsets (``eval.num_pivots``/``num_subsets``)::

    repsim-jax train --config=cifar100:paper-teacher --workdir=W/teacher0 \
        --config.data.data_dir=DATA --config.model.init_from=resnet50-11ad3fa6.pth --config.seeds="(0,)"
    repsim-jax sweep --config=cifar100:paper-students --workdir=W/students0 \
        --config.data.data_dir=DATA --config.teacher.workdir=W/teacher0

Known differences from their code: their teacher's data loader does not shuffle (ours
shuffles every epoch), and their student loss is on a test loader that drops the last
incomplete batch of 32 (our reports use the whole test split).
"""

from repsim_jax.configs import common

PRESETS = ("default", "resnet50", "teacher", "students", "smoke", "paper-teacher", "paper-students")


def get_config(preset: str = "default"):
    common.check_preset(preset, PRESETS)
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
    elif preset in ("paper-teacher", "paper-students"):
        _paper(c, teacher=preset == "paper-teacher")
    return c


def _paper(c, teacher: bool) -> None:
    """The authors' schedule (module docstring): the teacher or the students' preset."""
    c.data.update(augment=False, normalization="unit")
    c.model.update(stem="imagenet", embedding_dim=50)
    c.batch_size = 32
    c.keep_last_batch = True  # their DataLoader keeps the last partial batch (no drop_last)
    c.optim.update(name="adam", learning_rate=1e-3, schedule="reference", warmup_epochs=3, decay=0.995)
    c.teacher.mode = "cached"
    c.eval.update(every=5, num_pivots=100, num_subsets=200)
    c.reproduce.update(teacher_seeds=(0, 1, 2, 3, 4), teacher_epochs=10, student_epochs=50, bound_every=10)
    c.sweep.update(losses=("kl", "l1", "l2"), seeds=(0, 1, 2, 3, 4), dims=(50, 25))
    if teacher:
        c.model.update(name="resnet50", init_from="resnet50-11ad3fa6.pth")
        c.num_epochs = 10
        c.checkpoint.update(every=10, keep=1)
    else:
        c.model.name = "resnet18"
        c.loss.centered = False
        c.num_epochs = 50
        c.checkpoint.update(every=10, keep=6)
