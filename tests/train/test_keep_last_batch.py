"""``keep_last_batch``: an epoch of n rows takes ⌈n / B⌉ steps, the last one on the n mod B
rows its permutation leaves (PyTorch's ``DataLoader`` without ``drop_last``), checked
against the same steps run one by one from Python."""

import jax
import numpy as np
import pytest

from repsim_jax.errors import InputError
from repsim_jax.losses import get_loss
from repsim_jax.models import Classifier, MLPEncoder
from repsim_jax.train import Data, Schedule, Student, create_state, fit, make_optimizer, make_train_step
from repsim_jax.train.spec import steps_per_epoch_of
from tests.train._common import BATCH, NUM_CLASSES, distill_data

ROWS = 2 * BATCH + 5  # two full batches and a partial one of 5 rows


def _setup():
    model = Classifier(MLPEncoder(4, hidden=(16,), dropout_rate=0.0), NUM_CLASSES)
    data = distill_data(ROWS)
    return model, get_loss("l2"), make_optimizer("adam", 1e-2), data


def _by_hand(model, loss, tx, data, seed: int):
    """The epoch as fit documents it: split the state's key into the permutation key and
    the next key, permute the rows, then one step per slice of B rows (the last shorter)."""
    state = create_state(jax.random.key(seed), model, loss, tx, data["x"][:1], teacher_dim=3)
    perm_key, rng = jax.random.split(state.rng)
    state = state.replace(rng=rng)
    order = np.asarray(jax.random.permutation(perm_key, ROWS))
    step = jax.jit(make_train_step(model, loss, tx))
    for start in range(0, ROWS, BATCH):
        idx = order[start : start + BATCH]
        state, _ = step(state, {k: v[idx] for k, v in data.items()})
    return state


def test_steps_per_epoch_rounds_up_only_when_keeping():
    assert steps_per_epoch_of(37, 16, True) == 3
    assert steps_per_epoch_of(37, 16, False) == 2
    assert steps_per_epoch_of(32, 16, True) == 2


def test_last_partial_batch_is_one_more_step(tmp_path):
    model, loss, tx, data = _setup()
    schedule = Schedule(1, BATCH, keep_last_batch=True, progress=False)
    result = fit(Student(model, loss, tx), Data(data), str(tmp_path), schedule)
    expected = _by_hand(model, loss, tx, data, seed=0)
    assert int(result.state.step) == 3
    assert result.history[-1]["step"] == 3
    got, want = jax.tree.leaves(result.state.params), jax.tree.leaves(expected.params)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_token_streams_refuse_keep_last_batch(tmp_path):
    from repsim_jax.lm.data import TokenStream

    stream = TokenStream.__new__(TokenStream)  # fit refuses before reading the stream
    model, loss, tx, _ = _setup()
    with pytest.raises(InputError, match="keep_last_batch"):
        fit(Student(model, loss, tx), Data(stream), str(tmp_path), Schedule(1, 2, keep_last_batch=True))
