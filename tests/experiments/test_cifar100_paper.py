"""The authors' CIFAR-100 schedule: the paper presets' values, their learning-rate
schedule against torch's SequentialLR (their scheduler), and (slow) the whole path on
``tfds.testing.mock_data``: a teacher from ``model.init_from``, a student sweep, and the
Theorem F.1 curves and figure."""

import numpy as np
import pytest
import tensorflow_datasets as tfds
from flax import traverse_util

from repsim_jax.cli import main
from repsim_jax.config import experiment_config
from repsim_jax.train.optim import reference_schedule

CONFIG = "cifar100"


def test_paper_presets_are_the_authors_settings():
    teacher, students = experiment_config("cifar100", "paper-teacher"), experiment_config("cifar100", "paper-students")
    schema = lambda c: traverse_util.flatten_dict(c.to_dict()).keys()
    assert schema(teacher) == schema(students) == schema(experiment_config("synthetic", "default"))
    for c in (teacher, students):
        assert (c.data.name, c.data.augment, c.data.normalization) == ("cifar100", False, "unit")
        assert (c.model.stem, c.model.embedding_dim, c.batch_size) == ("imagenet", 50, 32)
        o = c.optim
        assert (o.name, o.learning_rate, o.schedule, o.warmup_epochs, o.decay) == ("adam", 1e-3, "reference", 3, 0.995)
        assert tuple(c.reproduce.teacher_seeds) == (0, 1, 2, 3, 4) and tuple(c.sweep.seeds) == (0, 1, 2, 3, 4)
    assert (teacher.model.name, teacher.num_epochs, teacher.model.init_from) == (
        "resnet50",
        10,
        "resnet50-11ad3fa6.pth",
    )
    assert (students.model.name, students.num_epochs, students.model.init_from) == ("resnet18", 50, "")
    assert tuple(students.sweep.dims) == (50, 25) and tuple(students.sweep.losses) == ("kl", "l1", "l2")
    assert not students.loss.centered and students.teacher.mode == "cached"
    assert (students.eval.num_pivots, students.eval.num_subsets) == (100, 200)
    assert (students.checkpoint.every, students.checkpoint.keep) == (10, 6)


def test_schedule_is_torchs_sequential_lr():
    torch = pytest.importorskip("torch")
    steps_per_epoch, lr = 7, 1e-3
    optimiser = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    warm = torch.optim.lr_scheduler.ConstantLR(optimiser, factor=0.001, total_iters=20)
    decay = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.995)
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimiser, [warm, decay], milestones=[3])
    expected = []
    for _ in range(12):
        expected.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    ours = reference_schedule(lr, 3, 0.995, steps_per_epoch)
    got = [float(ours(epoch * steps_per_epoch + 3)) for epoch in range(12)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.slow
def test_teacher_from_init_file_students_and_theorem_f1_on_mock_cifar100(tmp_path):
    import jax
    import jax.numpy as jnp

    from repsim_jax import models
    from repsim_jax.experiment import restore
    from repsim_jax.reproduce.theorem_f1 import run_theorem_f1

    # The init file: the trunk of a random imagenet-stem ResNet-18 (the heads stay random).
    model = models.Classifier(models.resnet18_encoder(8, "imagenet"), 100)
    variables = traverse_util.flatten_dict(model.init(jax.random.key(7), jnp.zeros((1, 32, 32, 3))), sep="/")
    trunk = {k: np.asarray(v) for k, v in variables.items() if "Dense_0" not in k}
    np.savez(tmp_path / "trunk.npz", **trunk)
    tiny = ["--config.data.num_train=16", "--config.data.num_test=16", "--config.batch_size=8", "--config.eval.every=1"]
    with tfds.testing.mock_data(num_examples=16):
        teacher = [
            "train",
            f"--config={CONFIG}:paper-teacher",
            f"--workdir={tmp_path}/t",
            "--config.model.name=resnet18",
            "--config.model.embedding_dim=8",
            f"--config.model.init_from={tmp_path}/trunk.npz",
            "--config.num_epochs=2",
            "--config.checkpoint.every=2",
            *tiny,
        ]
        assert main(teacher) == 0
        sweep = [
            "sweep",
            f"--config={CONFIG}:paper-students",
            f"--workdir={tmp_path}/s",
            f"--config.teacher.workdir={tmp_path}/t",
            "--config.sweep.losses=('l2',)",
            "--config.sweep.seeds=(0,1)",
            "--config.sweep.dims=(4,)",
            "--config.num_epochs=2",
            "--config.checkpoint.every=1",
            "--config.checkpoint.keep=2",
            *tiny,
        ]
        assert main(sweep) == 0
        curves = run_theorem_f1(f"{tmp_path}/t", f"{tmp_path}/s/l2_d4", f"{tmp_path}/f1")
        kernel = restore(f"{tmp_path}/t").model.variables["params"]["encoder"]["Conv_0"]["kernel"]
    # warm-up lr is 1e-6: two epochs of Adam move the stored kernel by at most ~4e-6
    assert np.abs(np.asarray(kernel) - trunk["params/encoder/Conv_0/kernel"]).max() < 1e-4
    assert list(curves["epochs"]) == [1, 2] and curves["centred"]["lhs"].shape == (2, 2)
    assert np.all(curves["centred"]["lhs"] <= curves["centred"]["rhs"] * (1 + 1e-4))
    assert np.all(curves["raw"]["lhs"] >= curves["centred"]["lhs"] * (1 - 1e-4))
    assert (tmp_path / "f1" / "theorem_f1.png").stat().st_size > 10_000
