"""Everything a user can get wrong ends the CLI with one line naming the file or key at
fault (exit 2), Ctrl-C with one line (exit 130); a genuine bug keeps its traceback."""

import asyncio
import errno
import gc
import json
import logging
import os
import shutil
import signal
import sys
import time
import weakref

import numpy as np
import pytest

from repsim_jax import cli
from repsim_jax.cli import main
from repsim_jax.config import experiment_config
from repsim_jax.io import load_representation


def _one_error_line(capsys, *expected):
    """The single stderr line, checked to name every ``expected`` piece and no traceback."""
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for piece in expected:
        assert piece in err, (piece, err)
    return err


@pytest.fixture
def good_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "good.npz"
    np.savez(
        path,
        embeddings=rng.standard_normal((60, 3)).astype(np.float32),
        unembeddings=rng.standard_normal((5, 3)).astype(np.float32),
    )
    return str(path)


def _empty(path):
    path.write_bytes(b"")


def _npy_renamed(path):
    with open(path, "wb") as handle:
        np.save(handle, np.ones((4, 3), np.float32))


def _text_renamed(path):
    path.write_text("embeddings\n1 2 3\n")


def _truncated_zip(path):
    np.savez(path, embeddings=np.ones((60, 3), np.float32))
    path.write_bytes(path.read_bytes()[:100])


@pytest.mark.parametrize(
    "make, message",
    [
        (_empty, "empty file, not an .npz archive"),
        (_npy_renamed, "not an .npz archive"),
        (_text_renamed, "not an .npz archive"),
        (_truncated_zip, "not a readable .npz file"),
    ],
)
def test_a_file_that_is_not_an_npz_is_one_line(good_npz, tmp_path, capsys, make, message):
    bad = tmp_path / "bad.npz"
    make(bad)
    assert main(["compare", good_npz, str(bad)]) == 2
    _one_error_line(capsys, str(bad), message)


def test_float16_npz_is_read_as_float32(good_npz, tmp_path):
    """float16 → float32 is exact: every array arrives as float32 holding the float16
    values bit for bit (equality is the property tested), so no metric sees float16."""
    with np.load(good_npz) as data:
        halves = {key: data[key].astype(np.float16) for key in data.files}
    half = tmp_path / "half.npz"
    np.savez(half, **halves)
    representation = load_representation(str(half))
    for key, expected in halves.items():
        loaded = getattr(representation, key)
        assert loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded, expected.astype(np.float32))


@pytest.mark.parametrize(
    "argv, option",
    [
        (["demo", "--seed", "99999999999999999999"], "--seed"),
        (["demo", "--seed=-1"], "--seed"),
        (["compare", "a.npz", "b.npz", "--seed", str(2**32)], "--seed"),
        (["compare", "a.npz", "b.npz", "--pivots", "0"], "--pivots"),
        (["bounds", "a.npz", "b.npz", "--subsets", "0"], "--subsets"),
        (["export", "--workdir=w", "--out=x.npz", "--seed", "99999999999999999999"], "--seed"),
        (["compare", "--hf", "a", "--hf", "b", "--text", "t", "--max-length", "0"], "--max-length"),
        (["--num-processes", "0", "demo"], "--num-processes"),
    ],
)
def test_integer_options_are_range_checked_before_running(capsys, argv, option):
    assert main(argv) == 2
    err = _one_error_line(capsys, f"{option} must be an integer")
    assert err.startswith("repsim-jax")


def test_a_config_file_with_a_syntax_error_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "mine.py"
    config.write_text("from repsim_jax.configs import common\n\ndef get_config(:\n    pass\n")
    assert main(["train", f"--config={config}", f"--workdir={tmp_path / 'w'}"]) == 2
    _one_error_line(capsys, f"{config}:3: syntax error")
    assert not (tmp_path / "w").exists()


def test_an_exception_inside_a_users_get_config_names_file_and_line(tmp_path, capsys):
    config = tmp_path / "mine.py"
    config.write_text("def get_config():\n    return {}['missing']\n")
    assert main(["train", f"--config={config}", f"--workdir={tmp_path / 'w'}"]) == 2
    _one_error_line(capsys, f"{config}:2: KeyError in get_config")


@pytest.mark.parametrize(
    "command, override, key",
    [
        ("train", "--config.model.embedding_dim=0", "model.embedding_dim"),
        ("sweep", "--config.sweep.dims=(0,)", "sweep.dims"),
        ("train", "--config.model.dropout=1.5", "model.dropout"),
        ("train", "--config.optim.learning_rate=nan", "optim.learning_rate"),
        ("distill", "--config.seeds=(99999999999999999999,)", "seeds"),
        ("train", "--config.batch_size=0", "batch_size"),
    ],
)
def test_out_of_range_config_values_are_refused_before_anything_is_written(tmp_path, capsys, command, override, key):
    workdir = tmp_path / "w"
    assert main([command, "--config=synthetic:smoke", f"--workdir={workdir}", override]) == 2
    _one_error_line(capsys, f"config key '{key}' must be")
    assert not workdir.exists()


def _workdir_config(tmp_path, change):
    workdir = tmp_path / "w"
    workdir.mkdir()
    stored = experiment_config("synthetic", "smoke").to_dict()
    change(stored)
    (workdir / "config.json").write_text(json.dumps(stored))
    return workdir


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["model"].update(widths=3), "unknown config key 'model.widths'"),
        (lambda c: c.update(extra=1), "unknown config key 'extra'"),
        (lambda c: c["model"].update(dropout=1.5), "config key 'model.dropout' must be"),
        (lambda c: c.update(num_epochs="ten"), "config key 'num_epochs' must be of type int"),
    ],
)
def test_a_bad_key_in_a_workdirs_config_json_is_named(tmp_path, capsys, change, message):
    workdir = _workdir_config(tmp_path, change)
    assert main(["evaluate", f"--workdir={workdir}"]) == 2
    _one_error_line(capsys, "config.json", message)


def test_export_refuses_an_output_that_is_not_npz(tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["export", f"--workdir={tmp_path / 'w'}", f"--out={out}"]) == 2
    _one_error_line(capsys, str(out), "ending in .npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, path",
    [("--out", "table.txt"), ("--plot", "figure.xyz")],
)
def test_table_and_figure_outputs_need_a_known_suffix(good_npz, tmp_path, capsys, option, path):
    target = tmp_path / path
    assert main(["compare", "--all-pairs", str(tmp_path), option, str(target)]) == 2
    _one_error_line(capsys, option, str(target))
    assert not target.exists()


def _orbax_logs_an_error(message):
    record = logging.LogRecord(
        "absl", logging.ERROR, "/site-packages/orbax/checkpoint/future.py", 1, message, None, None
    )
    logging.getLogger("absl").handle(record)


class _LateCallback:
    def __del__(self):
        raise RuntimeError("Event loop is closed")


def _callback_after_the_loop_closed():
    """An exception nobody can catch (raised in ``__del__``): Python reports it to
    ``sys.unraisablehook``, as it does tensorstore's callbacks after orbax's loop closed."""
    _LateCallback()


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(good_npz, tmp_path, capsys, monkeypatch):
    """np.savez/json.dump on a full disk raise OSError(ENOSPC) without a file name: the
    line names the output, and the atomic write leaves nothing under its name."""
    models = tmp_path / "models"
    models.mkdir()
    for name in ("a.npz", "b.npz"):
        shutil.copy(good_npz, models / name)
    monkeypatch.setattr("repsim_jax.io.json.dump", _no_space)
    out = tmp_path / "zoo.json"
    assert main(["compare", "--all-pairs", str(models), "--out", str(out)]) == 2
    _one_error_line(capsys, f"no space left on device writing {out}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.npz", "models"]


def test_a_full_disk_inside_orbax_is_one_line_and_its_logged_tracebacks_are_dropped(
    tmp_path, capsys, caplog, monkeypatch
):
    """Orbax's async save fails through tensorstore with a ValueError that only says
    ENOSPC in its text, after logging the same error (with tracebacks) from its threads."""

    def checkpoint_fails(config, workdir, progress=True):
        _orbax_logs_an_error("save thread failed")
        _callback_after_the_loop_closed()
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "x" in OCDBT database: No space left on device [28]')

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(cli.train, "train_and_evaluate", checkpoint_fails)
    workdir = tmp_path / "w"
    assert main(["train", "--config=synthetic:smoke", f"--workdir={workdir}", "--quiet"]) == 2
    _one_error_line(capsys, f"no space left on device writing {workdir}")
    assert "save thread failed" not in caplog.text and unraisable == []
    assert sys.unraisablehook == unraisable.append  # the caller's hook is back


def _orbax_write_task_left_unretrieved(keep: list) -> None:
    """An orbax write task that failed with nobody retrieving its exception, held in a
    reference cycle: asyncio logs "Task exception was never retrieved" (with a traceback)
    only when the garbage collector frees it, as it did after a real full disk."""
    namespace = {}
    source = "async def write_fragment():\n    raise ValueError('No space left on device')\n"
    exec(compile(source, f"{os.sep}site{os.sep}orbax{os.sep}serialization.py", "exec"), namespace)
    loop = asyncio.new_event_loop()
    cycle = [loop.create_task(namespace["write_fragment"]())]
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    cycle.append(cycle)
    keep.append(weakref.ref(cycle[0]))


def test_an_orbax_write_task_collected_after_the_one_line_error_stays_quiet(tmp_path, capsys, caplog, monkeypatch):
    """The CI failure of stop 26: asyncio's echo of orbax's failed write tasks came after
    the command's one line, with tracebacks, whenever Python collected the tasks."""
    tasks = []

    def checkpoint_fails(config, workdir, progress=True):
        _orbax_write_task_left_unretrieved(tasks)
        raise ValueError('RESOURCE_EXHAUSTED: Error writing "x" in OCDBT database: No space left on device [28]')

    monkeypatch.setattr(cli.train, "train_and_evaluate", checkpoint_fails)
    workdir = tmp_path / "w"
    assert main(["train", "--config=synthetic:smoke", f"--workdir={workdir}", "--quiet"]) == 2
    gc.collect()
    assert tasks and tasks[0]() is None, "the failed task was not collected"
    _one_error_line(capsys, f"no space left on device writing {workdir}")
    assert "never retrieved" not in caplog.text
    assert logging.getLogger("asyncio").filters == []  # nothing left installed


def test_an_orbax_read_task_dropped_by_a_successful_command_stays_quiet(capsys, caplog, monkeypatch):
    """A CI failure of this stop: `evaluate` skipped a damaged checkpoint (one warning line)
    and succeeded, then asyncio logged "Task exception was never retrieved" with tracebacks
    for the abandoned reads when Python collected them."""
    tasks = []

    def skips_a_damaged_read(seed, out):
        _orbax_write_task_left_unretrieved(tasks)
        return {"pairwise_mean_cca": [], "only": {"metric": 1.0}}

    monkeypatch.setattr(cli.demo.demo, "run", skips_a_damaged_read)
    assert main(["demo"]) == 0
    gc.collect()
    assert tasks and tasks[0]() is None, "the dropped task was not collected"
    assert "never retrieved" not in caplog.text
    assert "Traceback" not in capsys.readouterr().err
    assert logging.getLogger("asyncio").filters == []  # nothing left installed


def test_orbax_errors_logged_during_a_successful_command_are_still_shown(tmp_path, capsys, caplog, monkeypatch):
    def logs_and_succeeds(seed, out):
        _orbax_logs_an_error("kept for the user")
        _callback_after_the_loop_closed()
        return {"pairwise_mean_cca": [], "only": {"metric": 1.0}}

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(cli.demo.demo, "run", logs_and_succeeds)
    assert main(["demo"]) == 0
    assert "kept for the user" in caplog.text
    assert [str(u.exc_value) for u in unraisable] == ["Event loop is closed"]


def test_ctrl_c_is_one_line_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.train, "train_and_evaluate", interrupted)
    assert main(["train", "--config=synthetic:smoke", f"--workdir={tmp_path / 'w'}"]) == 130
    _one_error_line(capsys, "repsim-jax train: interrupted; re-run the same command to resume")


def test_ctrl_c_swallowed_inside_a_callback_still_ends_the_command(capsys, monkeypatch):
    """A CI failure: the KeyboardInterrupt of a SIGINT was raised inside jax's garbage-
    collection callback, Python printed "Exception ignored" and training ran on (exit 0)."""

    class InterruptedWhileCollected:
        def __del__(self):
            raise KeyboardInterrupt  # what Python does when SIGINT lands in a callback

    def runs_on(seed, out):
        InterruptedWhileCollected()  # collected at once: its exception is unraisable
        for _ in range(400):  # the work that would run on
            time.sleep(0.005)
        return {"pairwise_mean_cca": [], "only": {"metric": 1.0}}

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        monkeypatch.setattr(cli.demo.demo, "run", runs_on)
        assert main(["demo"]) == 130
    finally:
        signal.signal(signal.SIGINT, previous)
    _one_error_line(capsys, "repsim-jax demo: interrupted; re-run the same command to resume")


def test_a_swallowed_ctrl_c_is_reported_not_redelivered_when_python_does_not_handle_sigint(monkeypatch):
    class InterruptedWhileCollected:
        def __del__(self):
            raise KeyboardInterrupt

    def runs_on(seed, out):
        InterruptedWhileCollected()
        time.sleep(0.1)
        return {"pairwise_mean_cca": [], "only": {"metric": 1.0}}

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(cli.demo.demo, "run", runs_on)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # e.g. a background job
    try:
        assert main(["demo"]) == 0
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [type(u.exc_value) for u in unraisable] == [KeyboardInterrupt]  # shown as Python would


@pytest.mark.parametrize("error", [ValueError("a bug"), ZeroDivisionError("a bug"), KeyError("a bug")])
def test_a_genuine_internal_error_keeps_its_traceback(monkeypatch, error):
    """Only InputError/OSError are the user's; a plain ValueError is a bug and propagates."""

    def broken(seed, out):
        raise error

    monkeypatch.setattr(cli.demo.demo, "run", broken)
    with pytest.raises(type(error), match="a bug"):
        main(["demo"])
