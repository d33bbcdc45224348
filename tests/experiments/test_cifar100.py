"""CIFAR-100 configs (ResNet-50 teacher → ResNet-18 students, dims 50 and 25) end to end
on ``tfds.testing.mock_data`` on CPU: train the teacher and sweep the students one epoch.

The mock teacher is a ResNet-18 (``--config.model.name=resnet18``): compiling the ResNet-50
step alone took minutes on the 2-core CPU; ``test_presets_describe_the_paper_setting``
checks that the preset itself names ResNet-50."""

import json
import math

import pytest
import tensorflow_datasets as tfds

from repsim_jax.cli import main
from repsim_jax.config import load_config

CONFIG = "cifar100"


def test_presets_describe_the_paper_setting():
    teacher, students = load_config(f"{CONFIG}:teacher"), load_config(f"{CONFIG}:students")
    assert (teacher.model.name, teacher.model.embedding_dim, teacher.data.name) == ("resnet50", 50, "cifar100")
    assert students.model.name == "resnet18" and tuple(students.sweep.dims) == (50, 25)
    assert tuple(students.sweep.losses) == ("kl", "l1", "l2") and len(students.sweep.seeds) == 5


@pytest.mark.slow
def test_teacher_and_student_sweep_on_mock_cifar100(tmp_path):
    tiny = [
        "--config.data.num_train=16",
        "--config.data.num_test=16",
        "--config.num_epochs=1",
        "--config.batch_size=8",
        "--config.eval.every=1",
    ]
    with tfds.testing.mock_data(num_examples=16):
        assert (
            main(
                [
                    "train",
                    f"--config={CONFIG}:teacher",
                    f"--workdir={tmp_path}/t",
                    "--config.model.name=resnet18",
                    *tiny,
                ]
            )
            == 0
        )
        assert (
            main(
                [
                    "sweep",
                    f"--config={CONFIG}:students",
                    f"--workdir={tmp_path}/s",
                    f"--config.teacher.workdir={tmp_path}/t",
                    "--config.sweep.losses=('l2',)",
                    "--config.sweep.seeds=(0,)",
                    "--config.sweep.dims=(25,)",
                    *tiny,
                ]
            )
            == 0
        )
    report = json.loads((tmp_path / "s" / "l2_d25" / "report.json").read_text())
    assert 0 <= report["test"]["agreement"] <= 1
    assert math.isfinite(report["test"]["logit_distance"]) and math.isfinite(report["test"]["kl_divergence"])
