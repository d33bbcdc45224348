"""Damaged or deleted files of committed checkpoints (issue 21, case 4).

The newest step (8) of a copy of the base workdir is damaged five ways; ``evaluate`` and
``compare`` must use step 7, saying in one line that step 8 was skipped. Which step was
used is checked by its numbers: the test-split cross-entropy the base run logged at
epoch 7 (``eval/ce``), and a comparison with the base workdir cut back to step 7 that
finds the same model (logit distance exactly 0). Every step damaged: one line naming
the checkpoint directory. The same for a teacher given to ``distill`` (beside a teacher
whose report.json is cut short, issue 21 case 9).
"""

import json
import shutil

import numpy as np
import pytest
from _faults import (
    EPOCHS,
    SMOKE,
    TRAIN,
    assert_bit_identical,
    assert_each_epoch_once,
    cli,
    cli_pair,
    evaluates,
    ok,
    state_leaves,
    warning_lines,
)


def _data_files(step_dir):
    """The OCDBT data files of a step (``state/d/*`` and ``state/ocdbt.process_0/d/*``)."""
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
    assert files, f"no data files under {step_dir}"
    return files


def _truncate_data(step_dir):
    for path in _data_files(step_dir):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage_data(step_dir):
    rng = np.random.default_rng(21)
    for path in _data_files(step_dir):
        path.write_bytes(rng.bytes(path.stat().st_size))


def _delete_state(step_dir):
    shutil.rmtree(step_dir / "state")


def _delete_manifests(step_dir):
    manifests = list(step_dir.rglob("manifest.ocdbt"))
    assert manifests
    for path in manifests:
        path.unlink()


def _garbage_meta(step_dir):
    (step_dir / "meta" / "metadata").write_text("garbage")


DAMAGES = {
    "truncated data files": _truncate_data,
    "garbage data files": _garbage_data,
    "state deleted": _delete_state,
    "manifests deleted": _delete_manifests,
    "garbage meta/metadata": _garbage_meta,
}


@pytest.fixture(scope="module")
def step7(base, tmp_path_factory):
    """The base workdir without step 8: its step-7 model, intact."""
    path = tmp_path_factory.mktemp("step7") / "w"
    shutil.copytree(base.path, path)
    shutil.rmtree(path / "checkpoints" / str(EPOCHS))
    return path


def _skipped(result, workdir, step):
    """The command's stderr is exactly one line: step ``step`` of ``workdir`` skipped."""
    lines = warning_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"repsim-jax: warning: skipped checkpoint {workdir}/checkpoints/{step}: "), lines
    assert len(lines[0]) < 400


@pytest.mark.slow
@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_newest_checkpoint_is_skipped_by_evaluate_and_compare(base, trained, step7, damage):
    """Before: tracebacks (155 lines; ZSTD_decompressStream; KeyError 'state'; a multi-kilobyte
    line; a JSON error naming no file)."""
    assert abs(base.test_nll(7) - base.test_nll(8)) > 1e-4  # the two steps are told apart
    DAMAGES[damage](trained / "checkpoints" / str(EPOCHS))
    evaluated, compared = cli_pair(
        ["evaluate", f"--workdir={trained}", "--quiet"], ["compare", trained, step7, "--json"], trained.parent
    )
    _skipped(ok(evaluated), trained, EPOCHS)
    report = json.loads((trained / "report.json").read_text())
    assert report["test"]["nll"] == pytest.approx(base.test_nll(7), rel=1e-5)
    _skipped(ok(compared), trained, EPOCHS)
    values = json.loads(compared.stdout)
    assert values["logit_distance"] == 0.0 and values["mean_cca"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_training_on_resumes_past_the_damaged_step_to_the_uninterrupted_result(base, trained):
    """The re-run deletes the damaged step 8, trains epoch 8 again from step 7 and ends bit
    for bit where the uninterrupted run did, each epoch logged once."""
    _garbage_data(trained / "checkpoints" / str(EPOCHS))
    result = ok(cli([*TRAIN, f"--workdir={trained}"], trained.parent))
    lines = warning_lines(result)
    assert any(f"skipped checkpoint {trained}/checkpoints/{EPOCHS}" in line for line in lines), lines
    assert any(f"deleted damaged checkpoint {trained}/checkpoints/{EPOCHS}" in line for line in lines), lines
    assert_bit_identical(trained, base.leaves)
    assert_each_epoch_once(trained)


@pytest.mark.slow
def test_no_step_restores_is_one_line_naming_the_directory(trained):
    for step in (6, 7, 8):
        _delete_state(trained / "checkpoints" / str(step))
    evaluated, compared = cli_pair(
        ["evaluate", f"--workdir={trained}", "--quiet"], ["compare", trained, trained, "--json"], trained.parent
    )
    for result in (evaluated, compared):
        assert result.returncode == 2, result.stderr[-3000:]
        *skipped, error = warning_lines(result)
        assert [line.split(": it does not")[0].rsplit("/", 1)[1] for line in skipped] == ["8", "7"], skipped
        assert error.startswith("repsim-jax ") and f"error: no checkpoint in {trained}/checkpoints restores" in error


DISTILL = [
    "distill",
    *SMOKE,
    "--config.num_epochs=2",
    "--config.loss.name=l2",
    "--quiet",
]


@pytest.mark.slow
def test_a_damaged_teacher_teaches_from_its_previous_step(trained, step7, tmp_path):
    """Before: ``KeyError: 'Item "state" was not found'`` from distill for a teacher whose
    newest step lost ``state/``, and a truncated teacher report.json blocked distill.
    Two students side by side: one of the teacher without step 8's ``state/``, one of an
    intact step-7 teacher whose report.json is cut short. Each says in one line what it
    passed over, and the two are equal bit for bit: both learnt from step 7."""
    _delete_state(trained / "checkpoints" / str(EPOCHS))
    cut = tmp_path / "cut_report"
    shutil.copytree(step7, cut)
    (cut / "report.json").write_text((cut / "report.json").read_text()[:40])
    students = tmp_path / "of_damaged", tmp_path / "of_cut_report"
    damaged, intact = cli_pair(
        [*DISTILL, f"--workdir={students[0]}", f"--config.teacher.workdir={trained}"],
        [*DISTILL, f"--workdir={students[1]}", f"--config.teacher.workdir={cut}"],
        tmp_path,
    )
    lines = warning_lines(ok(damaged))
    assert lines and all(f"skipped checkpoint {trained}/checkpoints/{EPOCHS}: " in line for line in lines), lines
    lines = warning_lines(ok(intact))
    assert lines and all(f"{cut}/report.json is damaged" in line for line in lines), lines
    assert_bit_identical(students[0], state_leaves(students[1]))
    for student in students:
        assert_each_epoch_once(student, epochs=2)
    assert evaluates(students[1])["test"]["accuracy"] > 0


@pytest.mark.slow
def test_a_teacher_without_a_restorable_step_is_one_line(trained):
    for step in (6, 7, 8):
        _garbage_meta(trained / "checkpoints" / str(step))
    student = trained.parent / "student"
    result = cli([*DISTILL, f"--workdir={student}", f"--config.teacher.workdir={trained}"], trained.parent)
    assert result.returncode == 2, result.stderr[-3000:]
    *skipped, error = warning_lines(result)
    assert len(skipped) == 2
    assert f"error: no checkpoint in {trained}/checkpoints restores" in error
    assert not (student / "checkpoints").exists() or not any((student / "checkpoints").iterdir())
