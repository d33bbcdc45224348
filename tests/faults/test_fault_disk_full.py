"""A full disk (issue 21, case 8): a 3 MB tmpfs holds the workdir.

Before: 130-348 lines of traceback before the one error line, and a 0-byte config.json
when nothing was free. Now: one line, config.json whole (the old one, or none), and
after space is freed the same command resumes. Mounting needs privileges: the tests
skip, saying why, where ``mount -t tmpfs`` is refused.
"""

import errno
import json
import shutil
import subprocess

import pytest
from _faults import (
    EPOCHS,
    TRAIN,
    assert_bit_identical,
    assert_each_epoch_once,
    cli,
    evaluates,
    ok,
    one_line,
    rows,
)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 3 MB tmpfs mounted on ``tmp_path/disk`` (skip when mounting is not allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command to make a small tmpfs")
    if mounted.returncode:
        pytest.skip(f"cannot mount a 3 MB tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    yield disk
    if subprocess.run(["umount", str(disk)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk, leave: int = 0):
    """Take the disk's free space but ``leave`` bytes (0: write until ENOSPC)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as file:  # unbuffered: nothing left to flush on close
        if leave:
            file.write(b"\0" * max(shutil.disk_usage(disk).free - leave, 0))
        else:
            try:
                while True:
                    file.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    assert leave or shutil.disk_usage(disk).free == 0
    return filler


def _config_whole(workdir, expected: bytes | None = None) -> None:
    config = workdir / "config.json"
    if config.exists():
        text = config.read_bytes()
        assert text, "config.json is 0 bytes"
        json.loads(text)
        if expected is not None:
            assert text == expected


@pytest.mark.slow
def test_no_space_to_rerun_is_one_line_and_keeps_the_config(base, tiny_disk, tmp_path):
    """An existing workdir re-run for 10 epochs on a disk with nothing free: refused in one
    line, config.json byte-identical; with space freed the re-run trains epochs 9 and 10."""
    workdir = tiny_disk / "w"
    shutil.copytree(base.path, workdir)
    filler = _fill(tiny_disk)
    command = [*TRAIN, f"--workdir={workdir}", "--config.num_epochs=10"]
    one_line(cli(command, tmp_path), 2, "no space left on device writing")
    _config_whole(workdir, base.config_json)
    assert rows(workdir) == rows(base.path)
    filler.unlink()
    ok(cli(command, tmp_path))
    assert_each_epoch_once(workdir, epochs=10)
    assert json.loads((workdir / "config.json").read_text())["num_epochs"] == 10
    evaluates(workdir)


@pytest.mark.slow
def test_disk_full_while_training_is_one_line_and_the_rerun_resumes_exactly(base, tiny_disk, tmp_path):
    """A fresh run with room for about one checkpoint fails on a later save in one line;
    with space freed the same command ends bit for bit where the uninterrupted run did."""
    workdir = tiny_disk / "w"
    filler = _fill(tiny_disk, leave=400_000)
    command = [*TRAIN, f"--workdir={workdir}"]
    one_line(cli(command, tmp_path), 2, "no space left on device writing")
    _config_whole(workdir, base.config_json)
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert not saved or saved[-1] < EPOCHS, saved
    filler.unlink()
    ok(cli(command, tmp_path))
    assert_bit_identical(workdir, base.leaves)
    assert_each_epoch_once(workdir)
    evaluates(workdir)
