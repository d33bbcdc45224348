"""`repsim-jax compare` and `repsim-jax demo` end to end, their bad-input errors, and the
CLI's style: help with examples, --version, hyphenated options, --quiet."""

import argparse
import json
import re
import types
import warnings

import numpy as np
import pytest

import repsim_jax
from repsim_jax import cli
from repsim_jax.cli import bounds as bounds_cli
from repsim_jax.cli import build_parser, main
from repsim_jax.cli import reproduce as reproduce_cli
from repsim_jax.config import presets


def _save(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    f = rng.standard_normal((300, 4)).astype(np.float32)
    g = rng.standard_normal((12, 4)).astype(np.float32)
    f2 = (f + 0.3 * rng.standard_normal(f.shape)).astype(np.float32)
    g2 = (g + 0.3 * rng.standard_normal(g.shape)).astype(np.float32)
    return (
        _save(tmp_path / "a.npz", embeddings=f, unembeddings=g),
        _save(tmp_path / "b.npz", embeddings=f2, unembeddings=g2),
        (f, g, f2, g2),
    )


def test_compare_json_matches_numpy(pair, capsys):
    path_a, path_b, (f, g, f2, g2) = pair
    assert main(["compare", path_a, path_b, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert {
        "logit_distance",
        "kl_divergence",
        "mean_cca",
        "procrustes_distance",
        "gram_distance",
        "linear_cka",
        "rep_dissimilarity",
    } <= set(values)
    z1, z2 = (f @ g.T).astype(np.float64), (f2 @ g2.T).astype(np.float64)
    diff = z1 - z2 - (z1 - z2).mean(axis=1, keepdims=True)
    assert values["logit_distance"] == pytest.approx(np.sqrt(np.mean(np.sum(diff**2, axis=1))), rel=1e-4)
    log_p = z1 - np.log(np.exp(z1).sum(1, keepdims=True))
    log_q = z2 - np.log(np.exp(z2).sum(1, keepdims=True))
    assert values["kl_divergence"] == pytest.approx(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), 1)), rel=1e-4)
    assert values["skipped"] == {}


def test_compare_identifiable_pair_is_zero_distance(tmp_path, capsys):
    rng = np.random.default_rng(1)
    f, g = rng.standard_normal((200, 3)), rng.standard_normal((10, 3))
    mixing = np.eye(3) + 0.4 * rng.standard_normal((3, 3))
    a = _save(tmp_path / "a.npz", embeddings=f.astype(np.float32), unembeddings=g.astype(np.float32))
    b = _save(
        tmp_path / "b.npz",
        embeddings=(f @ mixing.T).astype(np.float32),
        unembeddings=(g @ np.linalg.inv(mixing) + 2.0).astype(np.float32),
    )
    assert main(["compare", a, b, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["logit_distance"] < 1e-3
    assert values["rep_dissimilarity"] < 1e-3
    assert values["mean_cca"] == pytest.approx(1.0, abs=1e-5)


def test_compare_embeddings_only_skips_nothing_silently(tmp_path, capsys):
    rng = np.random.default_rng(2)
    a = _save(tmp_path / "a.npz", embeddings=rng.standard_normal((5, 4)).astype(np.float32))
    b = _save(tmp_path / "b.npz", embeddings=rng.standard_normal((5, 4)).astype(np.float32))
    assert main(["compare", a, b, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert "logit_distance" not in values and "rep_dissimilarity" not in values
    assert "too few samples" in values["skipped"]["mean_cca"]
    assert 0.0 <= values["linear_cka"] <= 1.0


def test_compare_plain_table(pair, capsys):
    path_a, path_b, _ = pair
    assert main(["compare", path_a, path_b]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("mean_cca") for line in lines)


@pytest.mark.parametrize(
    "arrays_b, message",
    [
        ({}, "missing key 'embeddings'"),
        ({"embeddings": np.full((300, 4), np.nan, np.float32)}, "NaN"),
        ({"embeddings": np.ones((299, 4), np.float32)}, "row"),
        ({"embeddings": np.ones((300, 4), np.int64)}, "floating"),
        ({"embeddings": np.ones((300,), np.float32)}, "dimensions"),
        ({"embeddings": np.ones((300, 4), np.float32), "unembeddings": np.ones((7, 4), np.float32)}, "label counts"),
        ({"embeddings": np.ones((300, 4), np.float32), "unembeddings": np.ones((12, 3), np.float32)}, "width"),
    ],
)
def test_compare_bad_input_is_one_line_exit_2(pair, tmp_path, capsys, arrays_b, message):
    path_a, _, _ = pair
    bad = _save(tmp_path / "bad.npz", **arrays_b)
    assert main(["compare", path_a, bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert message in captured.err and "Traceback" not in captured.err


def test_compare_missing_and_unreadable_files(pair, tmp_path, capsys):
    path_a, _, _ = pair
    assert main(["compare", path_a, str(tmp_path / "nope.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    assert main(["compare", path_a, str(junk)]) == 2
    assert f"{junk}: not an .npz archive" in capsys.readouterr().err


def test_demo_writes_report_with_known_relations(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "demo.json").read_text())
    assert report["identifiable"]["logit_distance"] < 1e-3
    assert report["identifiable"]["mean_cca"] == pytest.approx(1.0, abs=1e-5)
    assert report["unrelated"]["mean_cca"] < 0.3
    assert report["swapped"]["mean_cca"] == pytest.approx(1.0, abs=1e-5)
    assert report["swapped"]["logit_distance"] > report["noisy"]["logit_distance"]
    assert "identifiable" in capsys.readouterr().out


# --- one CLI style: help, version, aliases, --quiet (issue 19) ---------------------------


def _subparsers(parser):
    """``{command: parser}`` of every (nested) subcommand, e.g. ``"reproduce synthetic"``."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {inner}": p for inner, p in _subparsers(sub).items()})
    return found


COMMANDS = sorted(_subparsers(build_parser()))


def _help(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_a_description_and_an_example(capsys, command):
    text = _help(capsys, command.split())
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: repsim-jax {command}")
    assert description.strip() and not description.lstrip().startswith(("options:", "positional"))
    examples = text.split("examples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith(f"  repsim-jax {command.split()[0]}") for line in examples)


def test_the_top_level_help_is_a_short_summary_with_examples(capsys):
    text = _help(capsys, [])
    description = text.split("\n\n")[1]
    assert "Compare trained models" in description and len(description.splitlines()) <= 4
    assert "examples:\n  repsim-jax" in text
    assert "``" not in text  # no internal docstring markup


@pytest.mark.parametrize("experiment", sorted(reproduce_cli.EXPERIMENTS))
def test_reproduce_help_lists_the_configs_own_presets_and_default(capsys, experiment):
    config = reproduce_cli.EXPERIMENTS[experiment][1]
    text = " ".join(_help(capsys, ["reproduce", experiment]).split())
    default = reproduce_cli.default_preset(experiment)
    assert default in presets(config)
    assert f"presets: {', '.join(presets(config))}; default: {default}." in text
    assert f"--preset PRESET one of {', '.join(presets(config))} (default: {default})" in text
    advertised = set(re.findall(r"presets: ([\w, -]+);", text)[0].split(", "))
    assert advertised == set(presets(config))


def test_reproduce_concepts_does_not_advertise_paper(capsys):
    assert "paper" not in _help(capsys, ["reproduce", "concepts"])


def test_an_unknown_reproduce_preset_is_one_line(tmp_path, capsys):
    assert main(["reproduce", "concepts", "--preset", "paper", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "unknown preset 'paper'; choose one of default, quick, smoke" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"repsim-jax {repsim_jax.__version__}\n"


def test_options_are_hyphenated_and_underscore_spellings_are_hidden_aliases(capsys):
    parser = build_parser()
    for spelling in ("--num-processes", "--num_processes"):
        assert parser.parse_known_args([spelling, "3", "demo"])[0].num_processes == 3
    evaluate_help = _help(capsys, ["evaluate"])
    assert "--teacher-workdir" in evaluate_help and "--teacher_workdir" not in evaluate_help
    for spelling in ("--teacher-workdir", "--teacher_workdir"):
        args = parser.parse_args(["evaluate", "--workdir=w", spelling, "t"])
        assert args.teacher_workdir == "t"
    args = parser.parse_args(["compare", "--all_pairs", "d", "--max_tokens", "5"])
    assert (args.all_pairs, args.max_tokens) == ("d", 5)
    for command in COMMANDS:
        text = _help(capsys, command.split())
        assert not re.search(r"--\w+_\w+", text.split("examples:")[0]), command


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--pivots", "many"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.endswith("(see repsim-jax compare --help)\n")
    assert err.startswith("repsim-jax compare: error: argument --pivots: invalid int value: 'many'")


LONG_RUNNING = ["train", "distill", "sweep", "evaluate", "compare", "extract", "reproduce synthetic"]


@pytest.mark.parametrize("command", LONG_RUNNING)
def test_long_running_commands_take_quiet(capsys, command):
    assert "--quiet" in _help(capsys, command.split())


@pytest.mark.parametrize(
    "command, target, extra",
    [
        ("train", "repsim_jax.cli.train.train_and_evaluate", []),
        ("distill", "repsim_jax.cli.train.train_and_evaluate", ["--config.loss.name=kl"]),  # one handler for both
        ("sweep", "repsim_jax.cli.sweep.run_sweep", []),
    ],
)
def test_quiet_turns_the_progress_switch_off(tmp_path, monkeypatch, command, target, extra):
    seen = []

    def record(config, workdir, *args, progress):
        seen.append(progress)
        return "" if command == "sweep" else types.SimpleNamespace(models=[], reports=[])

    monkeypatch.setattr(target, record)
    argv = [command, "--config=synthetic:smoke", f"--workdir={tmp_path}", *extra]
    assert main(argv) == 0 and main([*argv, "--quiet"]) == 0
    assert seen == [True, False]


def test_quiet_reaches_the_reproduce_runner(tmp_path, monkeypatch, capsys):
    seen = []

    def run_synthetic(preset, out, progress, overrides, modality):
        seen.append((preset, progress))
        (tmp_path / "summary.md").write_text("summary")
        return {}

    monkeypatch.setattr(reproduce_cli.reproduce, "run_synthetic", run_synthetic)
    assert main(["reproduce", "synthetic", "--out", str(tmp_path), "--quiet"]) == 0
    assert seen == [(reproduce_cli.default_preset("synthetic"), False)]


def test_warning_format_is_set_only_while_main_runs(tmp_path, monkeypatch, capsys):
    original = warnings.formatwarning
    seen = []

    def warn(seed, out):
        warnings.warn("inside", stacklevel=1)
        seen.append(warnings.formatwarning("inside", UserWarning, "f.py", 1))
        return {"pairwise_mean_cca": [], "only": {"metric": 1.0}}

    monkeypatch.setattr(cli.demo.demo, "run", warn)
    assert main(["demo"]) == 0
    assert seen == ["repsim-jax: warning: inside\n"]
    assert warnings.formatwarning is original


# --- bounds --students table --------------------------------------------------------------


def _bound(lhs, rhs):
    return {"lhs": lhs, "rhs": rhs, "holds": lhs <= rhs}


def test_bounds_table_columns_line_up_and_name_group_and_seed():
    rows = [
        {
            "teacher": "runs/quick/teacher",
            "student": "runs/quick/students/l2/seed0",
            "cca_logit": _bound(0.012345, 0.5),
            "rep_logit": _bound(1.5e-13, 2.25),
            "kl_logit": _bound(3.0, 2.0),
        },
        {"teacher": "runs/quick/teacher", "student": "zoo/a_long_model_name.npz", "cca_logit": _bound(0.1, 0.2)},
    ]
    lines = bounds_cli.table_lines(rows)
    assert [line.split()[:2] for line in lines[1:]] == [
        ["teacher", "l2/seed0"],
        ["teacher", "a_long_model_name.npz"],
    ]
    spans = [[m.span() for m in re.finditer(r"\S+(?: \S+)*", line)] for line in lines]
    assert all(len(cells) == 5 for cells in spans), lines
    for column in range(5):  # names start together (left-aligned), bound cells end together (right-aligned)
        edge = 0 if column < 2 else 1
        assert len({cells[column][edge] for cells in spans}) == 1, (column, lines)
    assert lines[1].rstrip().endswith("3 / 2 FAIL") and "1.5e-13 / 2.25 ok" in lines[1]
    assert lines[2].rstrip().endswith("-")
    assert bounds_cli.model_label("runs/quick/students/kl/seed12") == "kl/seed12"
    assert bounds_cli.model_label("x/teacher.npz") == "teacher.npz"


def test_bound_lines_say_round_off_and_write_an_overflowed_rhs_from_its_log(capsys):
    from repsim_jax.cli import bounds as bounds_cli

    row = {
        "cca_logit": {"lhs": 3.5e-13, "rhs": 1.5e-15, "holds": True, "within_round_off": True, "slack": 0.004},
        "kl_logit": {"lhs": 2.0, "rhs": float("inf"), "holds": True, "log10_rhs": 4521.5, "slack": float("inf")},
    }
    bounds_cli._print_pair(row)
    cca, kl = capsys.readouterr().out.splitlines()
    assert "holds (within round-off)" in cca
    assert re.search(r"rhs 3\.16\d*e\+4521 +holds +\(slack rhs/lhs 1\.58\d*e\+4521\)", kl) and "inf" not in kl
