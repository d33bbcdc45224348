"""Language-model training and distillation through the runner and the CLI.

``repsim-jax train --config=lm:smoke`` on a text file the test writes, ``distill`` from
that workdir, ``evaluate`` on it; kill -9 and re-run resumes to the parameters of an
uninterrupted run (bit-equal: the property under test); 4 fake CPU devices (a seeds ×
data mesh) equal 1 device; the vocabulary-chunked loss equals the unchunked one after a
step; the LM loss by name against float64 NumPy; the held-out split of the text.
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from repsim_jax.errors import InputError
from repsim_jax.lm.data import default_text, load_text_data
from repsim_jax.lm.losses import get_lm_loss
from repsim_jax.lm.model import LMOutputs, TransformerLM
from repsim_jax.train.state import create_state
from repsim_jax.train.step import make_lm_train_step

SMOKE = ["--config=lm:smoke", "--quiet"]


def _write_text(path) -> str:
    """A text nobody prepared: a few paragraphs of varied bytes (non-ASCII included)."""
    rng = np.random.default_rng(7)
    words = ["river", "stone", "lumière", "quiet", "north", "garden", "échelle", "seven", "window", "Æsir"]
    lines = [" ".join(rng.choice(words, size=rng.integers(4, 12))) + "." for _ in range(160)]
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)


def _cli(*args, devices: int = 1, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    proc = subprocess.run(
        [sys.executable, "-m", "repsim_jax.cli", *map(str, args)], env=env, capture_output=True, text=True, timeout=400
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _flat(workdir) -> list[np.ndarray]:
    from repsim_jax.experiment import restore

    state = restore(str(workdir)).state
    return [np.asarray(leaf) for leaf in jax.tree.leaves((state.params, state.opt_state, state.step))]


# --- data and losses (fast) ---------------------------------------------------------------


def _data_config(**values):
    data = dict(path="", context=0, num_train=0, num_test=0, seed=0, augment=False)
    data.update(values)
    return ml_collections.ConfigDict(data)


def test_text_data_holds_out_the_last_sequences_and_trains_on_the_tokens_before(tmp_path):
    path = _write_text(tmp_path / "any.txt")
    tokens = np.frombuffer(open(path, "rb").read(), np.uint8)
    data = load_text_data(_data_config(path=path, num_test=5), 0, 16)
    assert data.vocab_size == 256 and data.length == 16 and data.test.shape == (5, 17)
    assert data.test[-1, -1] == tokens[-1]
    train_end = (len(data.train) - 1) * 16 + 17  # last training token (exclusive)
    first_target = len(tokens) - 5 * 16  # every held-out target lies at or after this position
    assert train_end <= first_target
    np.testing.assert_array_equal(data.test[0], tokens[first_target - 1 : first_target + 16])
    assert len(data.stream(8).iterator().__next__()["x"]) == 8
    assert default_text() == default_text() and len(load_text_data(_data_config(), 0, 32).test) >= 1
    with pytest.raises(InputError, match="needs model.vocab"):
        np.save(tmp_path / "ids.npy", np.arange(100) % 7)
        load_text_data(_data_config(path=str(tmp_path / "ids.npy")), 0, 16)
    with pytest.raises(InputError, match="too few to hold out"):
        load_text_data(_data_config(path=path, num_test=10_000), 0, 16)


def _procrustes64(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    return np.sqrt(max(0.0, 2 - 2 * np.linalg.svd(x.T @ y, compute_uv=False).sum()))


def test_lm_loss_by_name_equals_float64_numpy():
    rng = np.random.default_rng(0)
    f_s, f_t = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5, 6))
    g_s, g_t = rng.normal(size=(11, 4)), rng.normal(size=(11, 6))
    targets = rng.integers(0, 11, size=(3, 5))
    z_s, z_t = f_s @ g_s.T, f_t @ g_t.T
    centred = lambda z: z - z.mean(-1, keepdims=True)
    l2 = np.mean(np.sum((centred(z_s) - centred(z_t)) ** 2, -1))
    log_q = z_s - np.log(np.exp(z_s).sum(-1, keepdims=True))
    ce = -np.mean(np.take_along_axis(log_q, targets[..., None], -1))
    procrustes = _procrustes64(f_s.reshape(-1, 4), f_t.reshape(-1, 6))
    student = LMOutputs(jnp.asarray(f_s, jnp.float32), None, (), jnp.asarray(g_s, jnp.float32))
    teacher = LMOutputs(jnp.asarray(f_t, jnp.float32), None, (), jnp.asarray(g_t, jnp.float32))
    for chunk in (None, 4):
        loss = get_lm_loss("ce+l2+procrustes", ce_weight=0.3, logit_weight=0.5, feature_weight=2.0, chunk=chunk)
        total, parts = jax.jit(loss.apply)({}, student, teacher, jnp.asarray(targets))
        np.testing.assert_allclose([parts["ce"], parts["l2"], parts["procrustes"]], [ce, l2, procrustes], rtol=2e-5)
        np.testing.assert_allclose(total, 0.3 * ce + 0.5 * l2 + 2.0 * procrustes, rtol=2e-5)
    assert get_lm_loss("kl").needs_teacher and not get_lm_loss("ce").needs_teacher
    with pytest.raises(InputError, match="unknown or repeated loss term 'l3'"):
        get_lm_loss("l3")


@pytest.mark.slow
def test_vocabulary_chunks_equal_the_unchunked_loss_after_a_step():
    """One distillation step (l2, kl, l1) with the vocabulary in chunks of 7 (K = 50, a
    partial last chunk) gives the parameters of the unchunked step within 1e-5. Plain SGD,
    so that the parameters differ by the gradients' rounding (Adam's first step divides
    each gradient by its own size: near-zero entries would amplify that rounding)."""
    model = TransformerLM(50, 8, 16, 1, 2)
    teacher = TransformerLM(50, 8, 24, 1, 2)
    x = jax.random.randint(jax.random.key(1), (4, 8), 0, 50)
    batch = {"x": x, "y": jnp.roll(x, -1, axis=1)}
    t_vars = teacher.init(jax.random.key(2), x)
    tx = optax.sgd(0.1)
    for name in ("l2", "kl", "l1"):
        params = []
        for chunk in (None, 7):
            loss = get_lm_loss(name, chunk=chunk)
            state = create_state(jax.random.key(0), model, loss, tx, x, 24)
            state, _ = jax.jit(make_lm_train_step(model, loss, tx, teacher))(state, batch, t_vars)
            params.append(jax.tree.leaves(state.params))
        for a, b in zip(*params):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=name)


# --- the CLI (slow) -----------------------------------------------------------------------


@pytest.mark.slow
def test_train_distill_and_evaluate_an_lm_through_the_cli(tmp_path):
    text = _write_text(tmp_path / "any.txt")
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    data = f"--config.data.path={text}"
    _cli("train", *SMOKE, data, f"--workdir={teacher}")
    report = json.loads((teacher / "report.json").read_text())
    for split in ("train", "test"):
        assert 0 <= report[split]["accuracy"] <= 1 and report[split]["tokens"] == 16 * 32
        assert np.isclose(report[split]["perplexity"], np.exp(report[split]["ce"]))
    assert report["test"]["ce"] < np.log(256)  # learnt something in 2 epochs
    meta = json.loads((teacher / "checkpoints" / "2" / "meta" / "metadata").read_text())
    assert meta["data_state"]["epoch"] == 2 and "iterator" in meta["data_state"]

    distill = ["distill", *SMOKE, data, "--config.loss.name=l2", f"--config.teacher.workdir={teacher}"]
    _cli(*distill, f"--workdir={student}")
    report = json.loads((student / "report.json").read_text())["test"]
    for key in ("agreement", "kl_divergence", "reverse_kl_divergence", "logit_distance"):
        assert np.isfinite(report[key]) and report[key] >= 0
    assert report["teacher"]["ce"] == json.loads((teacher / "report.json").read_text())["test"]["ce"]
    (student / "report.json").unlink()
    _cli("evaluate", f"--workdir={student}", "--quiet")
    again = json.loads((student / "report.json").read_text())["test"]
    assert again == report  # the restored student evaluates to the same report
    refused = _cli(
        "distill",
        *SMOKE,
        data,
        "--config.teacher.mode=cached",
        "--config.loss.name=l2",
        f"--config.teacher.workdir={teacher}",
        f"--workdir={tmp_path / 'cached'}",
        check=False,
    )
    assert refused.returncode == 2


def _committed_steps(workdir) -> list[int]:
    directory = workdir / "checkpoints"
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit()) if directory.exists() else []


@pytest.mark.slow
def test_kill_9_and_rerun_resumes_to_the_parameters_of_an_uninterrupted_run(tmp_path):
    """Bit-equality is the property: the resumed run reads the batches (grain iterator state
    in the checkpoint) and does the arithmetic of the uninterrupted one."""
    text = _write_text(tmp_path / "any.txt")
    args = ["train", *SMOKE, f"--config.data.path={text}", "--config.num_epochs=5"]
    killed = tmp_path / "killed"
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    proc = subprocess.Popen([sys.executable, "-m", "repsim_jax.cli", *args, f"--workdir={killed}"], env=env)
    deadline = time.monotonic() + 300
    while not _committed_steps(killed) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    at_kill = _committed_steps(killed)
    assert at_kill and at_kill[-1] < 5, at_kill  # killed mid-run, after a checkpoint
    _cli(*args, f"--workdir={killed}")
    _cli(*args, f"--workdir={tmp_path / 'whole'}")
    for a, b in zip(_flat(tmp_path / "whole"), _flat(killed), strict=True):
        np.testing.assert_array_equal(b, a)


@pytest.mark.slow
def test_four_fake_devices_equal_one_device(tmp_path):
    """Two vmapped seeds on a (seeds=2, data=2) mesh of 4 fake CPU devices, distilling
    online from a teacher: after 11 steps the students equal those of one device within
    2e-5 absolute (parameters of size ~1e-2; the data axis reorders the sums: measured up to
    3.6e-6 apart, and up to 1.04e-5 since the KL's gradient is its closed form
    ``metrics.kl.mean_kl``, one entry of 2048 of the token embedding). SGD, not Adam: the
    key biases of attention have a zero gradient in exact
    arithmetic (softmax ignores a per-query shift) and Adam divides each gradient by its own
    size, so those entries follow the rounding noise (measured 1e-5 apart on values of 1e-6)."""
    text = _write_text(tmp_path / "any.txt")
    data = f"--config.data.path={text}"
    _cli("train", *SMOKE, data, "--config.num_epochs=1", f"--workdir={tmp_path / 'teacher'}")
    student = [
        "distill",
        *SMOKE,
        data,
        "--config.loss.name=kl+procrustes",
        "--config.seeds=(0,1)",
        "--config.optim.name=sgd",
        "--config.optim.learning_rate=0.1",
        f"--config.teacher.workdir={tmp_path / 'teacher'}",
    ]
    _cli(*student, f"--workdir={tmp_path / 'four'}", devices=4)
    _cli(*student, f"--workdir={tmp_path / 'one'}")
    run = json.loads((tmp_path / "four" / "seed1" / "report.json").read_text())["run"]
    assert run["devices"] == 4 and run["mesh"] == {"seeds": 2, "data": 2}
    for a, b in zip(_flat(tmp_path / "one"), _flat(tmp_path / "four"), strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=2e-5)
