"""Language models: a GPT-2-family LM trained on text, and students distilled from it.

``repsim-jax train --config=lm:smoke --workdir=W`` trains on ``data.path`` (a text file,
byte tokens; a ``.npy`` of token ids with ``model.vocab`` set; empty: the built-in
synthetic text of ``repsim_jax.lm.data``), and
``repsim-jax distill --config=lm:smoke --config.loss.name=l2 --config.teacher.workdir=W --workdir=S``
distils a student of it online (the teacher runs inside each step; ``teacher.workdir``
may also be a Hugging Face GPT-2 directory, whose vocabulary ``model.vocab`` must match).
An epoch is one pass over the training sequences; ``batch_size`` counts sequences of
``data.context`` tokens.

``repsim-jax reproduce lm --preset P --out D`` (:mod:`repsim_jax.reproduce.lm`) uses the
same presets on the concept language (``data.source = "concepts"``, set by the
reproduction): a teacher for ``reproduce.teacher_epochs``, students of each loss of
``sweep.losses`` (KL, L2, L2 + Procrustes) over ``sweep.seeds`` for
``reproduce.student_epochs``.

Presets: ``default``; ``smoke`` (seconds on a CPU: 2 blocks of width 32, 256 sequences
of 32 tokens; the reproduction: 2 teacher epochs, 1 student epoch, 2 seeds, about 1 min
of compiling); ``quick`` (2 blocks of width 48, 4096 sequences of 32 tokens; the
reproduction: 20 teacher epochs, 5 student epochs, 3 seeds, about 10 min on a shared
2-core CPU); ``paper`` (GPT-2 small's shape, 12 blocks of width 768, 1024 positions, a
vocabulary of 1024, bfloat16 compute; the reproduction: 20 + 10 epochs, 5 seeds, 8192 generated sequences:
for an accelerator).
"""

from repsim_jax.configs import common

PRESETS = ("default", "smoke", "quick", "paper")


def get_config(preset: str = "default"):
    common.check_preset(preset, PRESETS)
    c = common.get_base_config()
    c.data.update(name="text", context=64)
    c.model.update(name="gpt2", context=64, width=128, depth=4, heads=4, tied_head=True, dropout=0.0)
    c.optim.learning_rate = 1e-3
    c.loss.name = "ce"
    c.teacher.mode = "online"
    c.num_epochs = 10
    c.batch_size = 32
    c.eval.update(every=1, splits=("train", "test"))
    c.checkpoint.every = 1
    c.sweep.update(losses=("kl", "l2", "l2+procrustes"), seeds=(0, 1, 2))
    c.reproduce.update(teacher_epochs=10, student_epochs=10, bound_every=10)
    if preset == "smoke":
        c.data.update(context=32, num_train=256, num_test=16)
        c.model.update(context=32, width=32, depth=2, heads=4)
        c.num_epochs = 2
        c.batch_size = 16
        c.sweep.seeds = (0, 1)
        c.reproduce.update(teacher_epochs=2, student_epochs=1, bound_every=1)
    elif preset == "quick":
        c.data.update(context=32, num_train=4096, num_test=128)
        c.model.update(context=32, width=48, depth=2)  # d_rep needs the vocabulary (64) > width
        c.num_epochs = 5
        c.reproduce.update(teacher_epochs=20, student_epochs=5, bound_every=5)
    elif preset == "paper":
        c.data.update(context=1024, num_test=256)
        # vocab 1024 > width: d_rep needs K >= d + 1 (byte text uses 256 of the ids)
        c.model.update(context=1024, width=768, depth=12, heads=12, dtype="bfloat16", vocab=1024)
        c.optim.learning_rate = 3e-4
        c.loss.vocab_chunk = 8192
        c.batch_size = 64
        c.sweep.seeds = (0, 1, 2, 3, 4)
        c.reproduce.update(teacher_epochs=20, student_epochs=10, bound_every=10)
    c.sweep.dims = (c.model.width,)  # a language model's sweep dimension is model.width
    return c
