"""Bad inputs through the CLI (issue 21, cases 7 and 10): one line naming the file or key,
exit 2, nothing written, and an existing workdir untouched and still evaluating.

Before: EOFError (empty .npz), TypeError (.npy renamed .npz), "pickled (object) data"
(text renamed .npz), NotImplementedError (float16 .npz), OverflowError (a 20-digit
--seed), SyntaxError (config file), ZeroDivisionError (embedding_dim=0, sweep.dims=(0,)),
dropout=1.5 accepted (trains to chance), unknown keys in config.json accepted silently,
``export --out x.csv`` writing x.csv.npz. These fail before any heavy work, so they run
in process (``repsim_jax.cli.main``); stderr is captured at the file descriptor.
"""

import json

import numpy as np
import pytest
from _faults import SMOKE, TRAIN, assert_bit_identical, evaluates

from repsim_jax.cli import main


def _one_line(capfd, status, got, *pieces) -> str:
    err = capfd.readouterr().err
    assert got == status, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for piece in pieces:
        assert piece in err, (piece, err)
    return err


@pytest.fixture
def arrays(tmp_path):
    """A float32 model file and the same values as float16 (exact in float16)."""
    rng = np.random.default_rng(7)
    halves = {
        "embeddings": rng.standard_normal((80, 4)).astype(np.float16),
        "unembeddings": rng.standard_normal((6, 4)).astype(np.float16),
    }
    np.savez(tmp_path / "half.npz", **halves)
    np.savez(tmp_path / "single.npz", **{k: v.astype(np.float32) for k, v in halves.items()})
    return tmp_path / "single.npz", tmp_path / "half.npz"


def _empty(path):
    path.write_bytes(b"")


def _npy_renamed(path):
    with open(path, "wb") as file:
        np.save(file, np.ones((5, 3), np.float32))


def _text_renamed(path):
    path.write_text("embeddings,unembeddings\n0.1,0.2\n")


@pytest.mark.slow
@pytest.mark.parametrize("make", [_empty, _npy_renamed, _text_renamed], ids=["empty", "npy", "text"])
@pytest.mark.parametrize("side", [0, 1])
def test_a_file_that_is_not_an_npz_is_one_line_naming_it(arrays, tmp_path, capfd, make, side):
    bad = tmp_path / "bad.npz"
    make(bad)
    models = [str(arrays[0]), str(bad)] if side else [str(bad), str(arrays[0])]
    _one_line(capfd, 2, main(["compare", *models]), str(bad), "not")


@pytest.mark.slow
def test_a_float16_file_is_compared_as_its_exact_float32_values(arrays, capfd):
    """float16 → float32 is exact: comparing the float16 file with the float32 one gives
    exactly what comparing the float32 file with itself gives (equality is the property)."""
    single, half = arrays
    results = []
    for first in (half, single):
        assert main(["compare", str(first), str(single), "--json"]) == 0
        out = capfd.readouterr()
        assert out.err == ""
        results.append(json.loads(out.out))
    assert results[0] == results[1]
    assert results[0]["logit_distance"] == 0.0 and results[0]["mean_cca"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--seed", "99999999999999999999"],
        ["compare", "a.npz", "b.npz", "--seed", "99999999999999999999"],
    ],
    ids=["demo", "compare"],
)
def test_a_huge_seed_is_one_line(capfd, argv):
    _one_line(capfd, 2, main(argv), "--seed")


@pytest.fixture
def syntax_error(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("from repsim_jax.configs import synthetic\n\ndef get_config(preset='smoke'\n    return 1\n")
    return path


CONFIG_VALUES = [
    ("--config.model.embedding_dim=0", "model.embedding_dim"),
    ("--config.model.dropout=1.5", "model.dropout"),
    ("--config.optim.learning_rate=nan", "optim.learning_rate"),
]


@pytest.mark.slow
@pytest.mark.parametrize("override, key", CONFIG_VALUES, ids=[key for _, key in CONFIG_VALUES])
def test_a_bad_config_value_is_one_line_and_changes_nothing(base, trained, tmp_path, capfd, override, key):
    """Refused for a new workdir (nothing created) and for the trained one (nothing changed)."""
    fresh = tmp_path / "fresh"
    _one_line(capfd, 2, main([*TRAIN, f"--workdir={fresh}", override]), f"config key '{key}' must be")
    assert not fresh.exists()
    before = {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()}
    _one_line(capfd, 2, main([*TRAIN, f"--workdir={trained}", override]), f"config key '{key}' must be")
    assert {p: p.read_bytes() for p in trained.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_sweep_dims_zero_is_one_line(tmp_path, capfd):
    workdir = tmp_path / "sweep"
    argv = ["sweep", "--config=synthetic:smoke", f"--workdir={workdir}", "--config.sweep.dims=(0,)"]
    _one_line(capfd, 2, main(argv), "config key 'sweep.dims' must be")
    assert not workdir.exists()


@pytest.mark.slow
def test_a_config_file_with_a_syntax_error_is_one_line_naming_file_and_line(syntax_error, tmp_path, capfd):
    workdir = tmp_path / "w"
    argv = ["train", f"--config={syntax_error}:smoke", f"--workdir={workdir}"]
    _one_line(capfd, 2, main(argv), f"{syntax_error}:3: syntax error")
    assert not workdir.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["model"].update(widht=64), "unknown config key 'model.widht'"),
        (lambda c: c["model"].update(dropout=1.5), "config key 'model.dropout' must be"),
    ],
    ids=["unknown key", "dropout"],
)
def test_a_bad_key_in_a_workdirs_config_json_is_one_line_and_loses_nothing(base, trained, capfd, change, message):
    """Evaluating it, re-running it and distilling from it as a teacher: one line naming that
    workdir's config.json (before the fix: "config.json: ...", whose workdir unsaid)."""
    config = trained / "config.json"
    stored = json.loads(config.read_text())
    change(stored)
    config.write_text(json.dumps(stored))
    _one_line(capfd, 2, main(["evaluate", f"--workdir={trained}", "--quiet"]), str(config), message)
    _one_line(capfd, 2, main([*TRAIN, f"--workdir={trained}"]), str(config), message)
    student = trained.parent / "student"  # the same workdir as a teacher: its config.json named, not the student's
    distill = [
        "distill",
        *SMOKE,
        "--config.loss.name=l2",
        f"--config.teacher.workdir={trained}",
        f"--workdir={student}",
    ]
    _one_line(capfd, 2, main(distill), str(config), message)
    assert not (student / "config.json").exists()
    config.write_bytes(base.config_json)  # put right, the trained model is still there
    assert_bit_identical(trained, base.leaves)
    assert evaluates(trained)["test"]["accuracy"] == base.report["test"]["accuracy"]


@pytest.mark.slow
def test_export_to_a_csv_is_one_line_and_writes_nothing(trained, tmp_path, capfd):
    out = tmp_path / "x.csv"
    _one_line(capfd, 2, main(["export", f"--workdir={trained}", f"--out={out}"]), str(out), ".npz")
    assert not out.exists() and not (tmp_path / "x.csv.npz").exists()
    assert main(["export", f"--workdir={trained}", f"--out={tmp_path / 'x.npz'}"]) == 0
    with np.load(tmp_path / "x.npz") as exported:
        assert exported["embeddings"].shape[1] == 4 and np.all(np.isfinite(exported["logits"]))
