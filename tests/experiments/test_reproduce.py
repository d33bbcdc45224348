"""`repsim-jax reproduce synthetic` end to end (smoke preset), the statistics helpers
against closed forms and scipy, and bad input through the CLI."""

import json
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
from flax import traverse_util

from repsim_jax import report
from repsim_jax.cli import main
from repsim_jax.experiment import restore
from repsim_jax.reproduce.progress import Stages
from repsim_jax.reproduce.students import checkpoint_epochs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    assert main(["reproduce", "synthetic", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    return out, json.loads((out / "summary.json").read_text())


def _finite(values):
    return bool(np.all(np.isfinite(np.asarray(values, np.float64))))


@pytest.mark.slow
def test_summary_structure_and_finite_values(synthetic_run):
    _, summary = synthetic_run
    config = summary["config"]
    seeds = len(config["sweep"]["seeds"])
    for loss in config["sweep"]["losses"]:
        for metric in report.STUDENT_METRICS:
            stats = summary[loss][metric]
            assert set(stats) == {"mean", "std", "values"}
            assert len(stats["values"]) == seeds and _finite(stats["values"])
            assert stats["mean"] == pytest.approx(np.mean(stats["values"]))
            assert stats["std"] == pytest.approx(np.std(stats["values"]))
    assert summary["teacher"]["accuracy"]["values"][0] > 1 / 7 - 0.05


@pytest.mark.slow
def test_bound_over_epochs_holds_for_every_seed(synthetic_run):
    _, summary = synthetic_run
    epochs = checkpoint_epochs(
        summary["config"]["reproduce"]["student_epochs"], summary["config"]["reproduce"]["bound_every"]
    )
    for loss in summary["config"]["sweep"]["losses"]:
        lhs, rhs = (np.asarray(summary[loss][f"cca_bound_{s}"]["values"]) for s in ("lhs", "rhs"))
        assert summary[loss]["cca_bound_lhs"]["epochs"] == epochs
        assert lhs.shape == rhs.shape == (len(summary["config"]["sweep"]["seeds"]), len(epochs))
        assert np.all(lhs >= 0) and np.all(lhs <= rhs * (1 + 1e-4) + 1e-6)
        assert summary[loss]["cca_bound_holds"] is True


@pytest.mark.slow
def test_significance_entries_and_files(synthetic_run):
    out, summary = synthetic_run
    assert set(summary["significance"]) == {"l1_vs_kl", "l2_vs_kl"}
    for per_metric in summary["significance"].values():
        assert set(per_metric) == set(report.TESTED_METRICS)
        for test in per_metric.values():
            assert 0 <= test["welch_p"] <= 1 and 0 <= test["mannwhitney_p"] <= 1
    for name in ("metrics.png", "decision_regions.png", "cca_logit_bound.png", "soft_confusion.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    table = (out / "summary.md").read_text()
    assert "| kl |" in table and "Welch" in table and "Mann–Whitney" in table
    for seed in summary["config"]["sweep"]["seeds"]:
        assert (out / "students" / "l2" / f"seed{seed}" / "report.json").exists()


@pytest.mark.slow
def test_evaluate_command_on_a_student_group_gives_one_report_per_seed(synthetic_run):
    """Defect: `evaluate` on a reproduce student group (seeds vmapped) failed in orbax
    with a shape mismatch, then printed "Event loop is closed" tracebacks at exit."""
    out, summary = synthetic_run
    group = out / "students" / "kl"
    reports = [group / f"seed{s}" / "report.json" for s in summary["config"]["sweep"]["seeds"]]
    before = [json.loads(p.read_text())["test"] for p in reports]
    for p in reports:
        p.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "repsim_jax.cli", "evaluate", f"--workdir={group}"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    for p, old in zip(reports, before):
        new = json.loads(p.read_text())["test"]
        for key in ("accuracy", "agreement", "mean_cca", "rep_dissimilarity"):
            assert new[key] == pytest.approx(old[key], rel=1e-6), key
    assert summary["kl"]["mean_cca"]["values"] == pytest.approx([r["mean_cca"] for r in before])


@pytest.mark.slow
def test_several_teachers_each_with_their_students(tmp_path, capsys):
    """Two teachers (the paper's teachers × students design): each run in its own
    directory; the summary's per-teacher means are those of the reports on disk, and the
    tests are at the teacher level. Every stage announces itself by name and number
    (2 teachers × (teacher + 3 losses × (students, bound)) + figures = 15), and the
    training bars and the evaluation name their stage."""
    out = tmp_path / "two"
    argv = ["reproduce", "synthetic", "--preset", "smoke", "--out", str(out)]
    assert main([*argv, "--config.reproduce.teacher_seeds=(3,5)", "--config.reproduce.student_epochs=2"]) == 0
    progress = capsys.readouterr().err
    assert "teacher (seed 3)" in progress and "teacher (seed 5)" in progress and "l2 students (2 seeds)" in progress
    stages = re.findall(r"^\[(\d+)/(\d+) · \d+ s\] (.*)$", progress, re.MULTILINE)
    assert [(int(k), int(n)) for k, n, _ in stages] == [(k, 15) for k in range(1, 16)]
    named = [name for _, _, name in stages]
    assert named[:3] == [
        "teacher (seed 3): train 4 epochs, evaluate",
        "kl students (2 seeds): train 2 epochs, evaluate",
        "kl students: CCA–logit bound at epochs 2",
    ]
    assert named[7] == "teacher (seed 5): train 4 epochs, evaluate" and named[-1].startswith("summary and figures")
    assert "l2 students (2 seeds): evaluating" in progress
    summary = json.loads((out / "summary.json").read_text())
    seeds = summary["config"]["sweep"]["seeds"]
    for loss in summary["config"]["sweep"]["losses"]:
        on_disk = [
            [
                json.loads((out / f"teacher_seed{t}" / "students" / loss / f"seed{s}" / "report.json").read_text())[
                    "test"
                ]
                for s in seeds
            ]
            for t in (3, 5)
        ]
        for metric in ("mean_cca", "rep_dissimilarity", "accuracy"):
            stats = summary[loss][metric]
            assert stats["teacher_means"] == pytest.approx([np.mean([r[metric] for r in g]) for g in on_disk])
            assert len(stats["values"]) == 2 * len(seeds)
        assert np.asarray(summary[loss]["cca_bound_lhs"]["values"]).shape[0] == 2 * len(seeds)
    teacher_seeds = [
        json.loads((out / f"teacher_seed{t}" / "teacher" / "config.json").read_text())["seeds"] for t in (3, 5)
    ]
    assert teacher_seeds == [[3], [5]]
    assert {t["level"] for per_metric in summary["significance"].values() for t in per_metric.values()} == {"teachers"}
    assert "2 teachers × 2 seeds" in (out / "summary.md").read_text()


def test_stages_are_numbered_and_quiet_without_progress(capsys):
    shown, quiet = Stages(2), Stages(2, shown=False)
    for stages in (shown, quiet):
        stages.next("teacher (seed 0): train 3 epochs, evaluate")
        stages.next("summary and figures")
    assert re.fullmatch(
        r"\[1/2 · \d+ s\] teacher \(seed 0\): train 3 epochs, evaluate\n\[2/2 · \d+ s\] summary and figures\n",
        capsys.readouterr().err,
    )


def test_checkpoint_epochs_include_the_last():
    assert checkpoint_epochs(10, 4) == [4, 8, 10]
    assert checkpoint_epochs(10, 5) == [5, 10]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--preset", "nope"], "unknown preset"),
        (["--preset", "smoke", "--config.sweep.seeds=(0,)"], ">= 2 distinct student seeds"),
        (["--preset", "smoke", "--config.nope=1"], "unknown config key"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["reproduce", "synthetic", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_rejects_unknown_modality(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "synthetic", "--out", str(tmp_path), "--modality", "sideways"])
    assert exit_info.value.code == 2


@pytest.mark.slow
def test_finetune_students_train_on_n_points(tmp_path):
    """`reproduce finetune`: per N, students distilled full-batch on a stratified subset of
    N training points, evaluated on the whole test split; a figure against N. Run in the
    authors' --checkin mode (``finetune_from=checkpoint``): every student loads the second
    cross-entropy model's variables, written as an .npz equal to that model's weights."""
    out = tmp_path / "finetune"
    argv = ["reproduce", "finetune", "--preset", "smoke", "--out", str(out), "--quiet"]
    sizes = ["--config.reproduce.finetune_sizes=(14,70)", "--config.reproduce.student_epochs=2"]
    assert main([*argv, *sizes, "--config.reproduce.finetune_from=checkpoint"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["reproduce"]["finetune_sizes"] == [14, 70]
    checkin = out / "checkin" / "variables.npz"
    flat = traverse_util.flatten_dict(jax.device_get(restore(str(out / "checkin")).models[0].variables), sep="/")
    with np.load(checkin) as stored:
        assert sorted(stored.files) == sorted(flat)
        for key, value in flat.items():
            np.testing.assert_array_equal(stored[key], np.asarray(value))  # the file is that model, bit for bit
    for n in (14, 70):
        config = json.loads((out / f"n{n}" / "students" / "l2" / "config.json").read_text())
        assert config["data"]["num_train"] == n and config["batch_size"] == n
        assert config["model"]["init_from"] == str(checkin)
        for loss in ("kl", "l1", "l2"):
            assert len(summary[f"{loss} N={n}"]["mean_cca"]["values"]) == 2
        assert set(summary["significance"][f"l2_vs_kl N={n}"]) == set(report.TESTED_METRICS)
    teacher = json.loads((out / "teacher" / "config.json").read_text())
    assert teacher["data"]["num_train"] == 0
    assert (out / "metrics_by_size.png").read_bytes()[:8] == PNG_MAGIC


def test_finetune_refuses_empty_sizes(tmp_path, capsys):
    argv = [
        "reproduce",
        "finetune",
        "--preset",
        "smoke",
        "--out",
        str(tmp_path),
        "--config.reproduce.finetune_sizes=()",
    ]
    assert main(argv) == 2
    assert "finetune_sizes must be positive" in capsys.readouterr().err
