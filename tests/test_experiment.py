"""The runner (`train_and_evaluate`, `restore`, `evaluate_run`) and the training commands
on tiny spirals runs, with the defects they fixed."""

import json

import jax
import numpy as np
import pytest
from etils import epath

from repsim_jax import experiment
from repsim_jax.cli import main
from repsim_jax.config import base_config, experiment_config, with_values
from repsim_jax.train.loop import _MetricsLog

TINY = {
    "data.points_per_arm": 20,
    "num_epochs": 2,
    "batch_size": 32,
    "model.hidden": (16, 16),
    "model.embedding_dim": 4,
    "eval.every": 1,
    "checkpoint.every": 1,
}
TINY_ARGS = [f"--config.{k}={v}" for k, v in TINY.items()]


def _config(**values):
    return with_values(experiment_config("synthetic", "smoke"), {**TINY, **values})


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return experiment.train_and_evaluate(_config(), str(tmp_path_factory.mktemp("teacher")), progress=False)


@pytest.fixture(scope="module")
def group(tmp_path_factory, teacher):
    config = _config(**{"loss.name": "l2", "seeds": (0, 1)})
    return experiment.train_and_evaluate(config, str(tmp_path_factory.mktemp("group")), teacher.model, progress=False)


def _same_variables(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_report_accuracy_is_the_argmax_of_the_models_logits(teacher):
    test = teacher.built.data.splits["test"]
    _, logits = teacher.model.outputs(test["x"])
    expected = np.mean(np.argmax(logits, -1) == test["y"])
    assert teacher.reports[0]["test"]["accuracy"] == pytest.approx(expected)
    saved = json.loads((epath.Path(teacher.workdir) / "report.json").read_text())
    assert saved["test"]["accuracy"] == pytest.approx(expected)
    assert set(saved) == {"test", "run"}  # eval.splits of the spirals config; no "ood" in the standard modality
    assert saved["run"] == {
        "devices": 1,
        "processes": 1,
        "mesh": {"seeds": 1, "data": 1},
        "platform": "cpu",
        "jax_version": jax.__version__,
        "dtype": "float32",
    }


def test_restore_single_run_gives_the_trained_variables(teacher):
    restored = experiment.restore(teacher.workdir)
    assert restored.seeds == [0] and _same_variables(restored.model.variables, teacher.model.variables)
    assert restored.reports == teacher.reports


def test_a_workdir_written_before_newer_keys_restores_with_their_defaults(teacher, tmp_path):
    """A config.json without keys added later (model.dtype, stem, init_from, attribute_head,
    data.normalization, mesh) restores with those keys at their declared defaults."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(teacher.workdir, old)
    stored = json.loads((old / "config.json").read_text())
    for section, key in [("model", "dtype"), ("model", "stem"), ("model", "init_from"), ("model", "attribute_head")]:
        del stored[section][key]
    del stored["data"]["normalization"], stored["mesh"]
    (old / "config.json").write_text(json.dumps(stored))
    restored = experiment.restore(str(old))
    defaults = base_config()
    assert (restored.config.model.dtype, restored.config.model.stem) == (defaults.model.dtype, defaults.model.stem)
    assert restored.config.mesh.to_dict() == defaults.mesh.to_dict()
    assert restored.config.model.hidden == teacher.config.model.hidden  # stored values kept
    assert _same_variables(restored.model.variables, teacher.model.variables)


def test_restore_group_and_one_seed_of_it(group):
    restored = experiment.restore(group.workdir)
    assert restored.seeds == [0, 1]
    for a, b in zip(restored.models, group.models):
        assert _same_variables(a.variables, b.variables)
    member = experiment.restore(f"{group.workdir}/seed1")
    assert member.seeds == [1] and _same_variables(member.model.variables, group.models[1].variables)
    assert member.reports == group.reports[1:]
    with pytest.raises(ValueError, match="holds 2 seeds"):
        _ = restored.model


def test_restore_refuses_what_is_not_a_workdir(tmp_path, group):
    with pytest.raises(FileNotFoundError, match="not a workdir"):
        experiment.restore(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no seed 7"):
        experiment.restore(f"{group.workdir}/seed7")


def test_evaluate_run_reproduces_the_reports(group, teacher):
    again = experiment.evaluate_run(experiment.restore(group.workdir), teacher.model)
    for new, old in zip(again, group.reports):
        assert new["test"]["rep_dissimilarity"] == pytest.approx(old["test"]["rep_dissimilarity"], rel=1e-6)
        assert new["test"]["mean_cca"] == pytest.approx(old["test"]["mean_cca"], rel=1e-6)


def test_distillation_without_a_teacher_is_refused(tmp_path):
    with pytest.raises(ValueError, match="teacher.workdir"):
        experiment.train_and_evaluate(_config(**{"loss.name": "kl"}), str(tmp_path), progress=False)


def test_export_round_trip_and_workdir_inputs_match_the_report(group, teacher, tmp_path, capsys):
    """Defect: `compare` sampled 10 pivots × 20 subsets and `evaluate` min(K,5) × 10; now
    `export` then `compare` (and `compare` on the workdirs themselves) give report.json's numbers."""
    assert main(["export", f"--workdir={teacher.workdir}", f"--out={tmp_path}/t.npz"]) == 0
    assert main(["export", f"--workdir={group.workdir}", f"--out={tmp_path}/s.npz"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_seed0.npz", "s_seed1.npz", "t.npz"]
    with np.load(tmp_path / "s_seed1.npz") as arrays:
        emb, g, logits = arrays["embeddings"], arrays["unembeddings"], arrays["logits"]
        assert np.allclose(emb @ g.T, logits, atol=1e-4)
        assert np.array_equal(arrays["labels"], group.built.data.splits["test"]["y"])
    capsys.readouterr()
    expected = group.reports[1]["test"]
    for pair in ([f"{tmp_path}/t.npz", f"{tmp_path}/s_seed1.npz"], [teacher.workdir, f"{group.workdir}/seed1"]):
        assert main(["compare", *pair, "--json"]) == 0
        values = json.loads(capsys.readouterr().out)
        for key in ("rep_dissimilarity", "mean_cca", "logit_distance", "kl_divergence", "linear_cka"):
            assert values[key] == pytest.approx(expected[key], rel=1e-5), key
    used = expected["pivot_subsets"]
    assert used["pivots_used"] == 7 and used["subsets_per_pivot"] == 15  # K = 7, d = 4: all C(6, 4) subsets


def test_a_group_workdir_needs_a_seed_to_be_compared(group, teacher, capsys):
    assert main(["compare", teacher.workdir, group.workdir]) == 2
    assert "pass" in capsys.readouterr().err


@pytest.mark.slow
def test_model_zoo_over_workdirs(group, teacher, tmp_path, capsys):
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "teacher").symlink_to(teacher.workdir)
    (zoo / "students").symlink_to(group.workdir)
    out, plot = tmp_path / "zoo.csv", tmp_path / "zoo.png"
    assert main(["compare", "--all-pairs", str(zoo), "--out", str(out), "--plot", str(plot)]) == 0
    import csv

    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 6  # 3 models: teacher, students/seed0, students/seed1
    for row in rows:
        assert float(row["cca_logit_floor"]) <= float(row["logit_distance"]) * (1 + 1e-4)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["bounds", str(zoo / "teacher"), "--students", str(zoo / "students"), "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert [c["student"] for c in checks] == [f"{zoo}/students/seed0", f"{zoo}/students/seed1"]
    assert all(c[name]["holds"] for c in checks for name in ("cca_logit", "rep_logit", "kl_logit"))


def test_metrics_log_appends_without_reading(tmp_path, monkeypatch):
    """Defect: metrics.jsonl was read and rewritten whole every epoch."""
    log = _MetricsLog(epath.Path(tmp_path), [0, 1], grouped=True)
    first = [{"epoch": 1, "step": 4, "seed": 0}]
    second = [{"epoch": 2, "step": 8, "seed": 0}, {"epoch": 2, "step": 8, "seed": 1}]
    log.append(first)
    monkeypatch.setattr(type(log.path), "read_text", lambda *a, **k: pytest.fail("append read the log"))
    log.append(second)
    monkeypatch.undo()
    log.close()
    rows = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert rows == first + second


@pytest.mark.slow
def test_train_distill_evaluate_commands(tmp_path, capsys):
    spec = "--config=synthetic:smoke"
    assert main(["train", spec, f"--workdir={tmp_path}/t", *TINY_ARGS]) == 0
    assert (
        main(
            [
                "distill",
                spec,
                f"--workdir={tmp_path}/s",
                *TINY_ARGS,
                "--config.loss.name=l2+procrustes",
                f"--config.teacher.workdir={tmp_path}/t",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    for key in (
        "accuracy",
        "agreement",
        "kl_divergence",
        "logit_distance",
        "rep_dissimilarity",
        "mean_cca",
        "linear_cka",
        "procrustes_distance",
        "ece",
        "brier",
        "nll",
    ):
        assert np.isfinite(report["test"][key]), key
    assert len((tmp_path / "s" / "metrics.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()
    assert main(["evaluate", f"--workdir={tmp_path}/s"]) == 0
    assert "rep_dissimilarity=" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["distill", "--config.loss.name.x=l2"], "'loss.name' is a value, not a section"),  # defect 6
        (["distill", "--config.loss.name=ce"], "does not use the teacher"),
        (["distill", "--config.loss.name=l2"], "teacher.workdir"),
        (["train", "--config.loss.name=kl"], "use `repsim-jax distill`"),
        (["train", "--config.nope=1"], "unknown config key"),
        (["evaluate"], "not a workdir"),
    ],
)
def test_command_errors_are_one_line_exit_2(tmp_path, capsys, argv, message):
    command, *rest = argv
    config = [] if command == "evaluate" else ["--config=synthetic:smoke"]
    assert main([command, *config, f"--workdir={tmp_path}/w", *rest]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_sweep_cells_and_evaluate_on_a_member_without_traceback(tmp_path, teacher, group, capsys):
    """In process (``main``), at the ``group`` fixture's shapes, so the compiled steps are
    shared; ``group`` is requested for that reason only."""
    status = main(
        [
            "sweep",
            "--config=synthetic:smoke",
            f"--workdir={tmp_path}",
            *TINY_ARGS,
            f"--config.teacher.workdir={teacher.workdir}",
            "--config.sweep.losses=('ce','l2')",  # ce: the baseline cell, trained on the labels
            f"--config.sweep.dims=({TINY['model.embedding_dim']},)",
            "--config.sweep.seeds=(0,1)",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0 and "Traceback" not in err, err
    assert "| ce d=4 |" in out and "| l2 d=4 |" in out
    baseline = json.loads((tmp_path / "ce_d4" / "seed0" / "report.json").read_text())["test"]
    assert 0 <= baseline["agreement"] <= 1 and np.isfinite(baseline["logit_distance"])  # compared with the teacher
    before = json.loads((tmp_path / "l2_d4" / "seed1" / "report.json").read_text())
    assert main(["evaluate", f"--workdir={tmp_path}/l2_d4/seed1"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    after = json.loads((tmp_path / "l2_d4" / "seed1" / "report.json").read_text())
    assert after["test"]["mean_cca"] == pytest.approx(before["test"]["mean_cca"], rel=1e-6)


def test_report_carries_the_authors_normalisation(group, teacher):
    """The authors' loop: each subset's Σ_x‖f₁ − A f₂‖² / (n·P·C), then the mean over (P, C)."""
    from repsim_jax.metrics import all_pivot_subsets

    x = group.built.data.splits["test"]["x"]
    f1, f2 = (np.asarray(m.outputs(x)[0], np.float64) for m in (teacher.model, group.models[0]))
    g1, g2 = (np.asarray(m.unembeddings, np.float64) for m in (teacher.model, group.models[0]))
    pivots, subsets = all_pivot_subsets(7, 4)
    count, n = subsets.shape[0] * subsets.shape[1], len(f1)
    terms = [
        np.sum((f1 - f2 @ np.linalg.solve(g1[s] - g1[p], g2[s] - g2[p]).T) ** 2) / (n * count)
        for p, row in zip(np.asarray(pivots), np.asarray(subsets))
        for s in row
    ]
    assert group.reports[0]["test"]["rep_dissimilarity_reference"] == pytest.approx(np.mean(terms), rel=1e-3)


def test_commands_on_a_damaged_workdir_say_one_line(teacher, tmp_path, capsys):
    """Through the CLI: a changed model key is refused (exit 2, one line, config.json kept);
    `evaluate` skips a damaged newest checkpoint with one warning and fails with one line
    naming the checkpoint directory once none restores."""
    import shutil

    copy = tmp_path / "w"
    shutil.copytree(teacher.workdir, copy)
    config_json = (copy / "config.json").read_bytes()
    train = ["train", "--config=synthetic:smoke", f"--workdir={copy}", *TINY_ARGS]
    assert main([*train, "--config.model.embedding_dim=3"]) == 2
    err = capsys.readouterr().err
    assert "model.embedding_dim stored 4, requested 3" in err and err.count("\n") == 1, err
    assert (copy / "config.json").read_bytes() == config_json
    shutil.rmtree(copy / "checkpoints" / "2" / "state")
    with pytest.warns(UserWarning, match=r"skipped checkpoint .*/checkpoints/2: it does not restore") as seen:
        assert main(["evaluate", f"--workdir={copy}"]) == 0
    assert sum("skipped checkpoint" in str(w.message) for w in seen) == 1
    capsys.readouterr()
    shutil.rmtree(copy / "checkpoints" / "1" / "state")
    with pytest.warns(UserWarning):
        assert main(["evaluate", f"--workdir={copy}"]) == 2
    err = capsys.readouterr().err
    assert f"no checkpoint in {copy / 'checkpoints'} restores" in err and err.count("\n") == 1, err
