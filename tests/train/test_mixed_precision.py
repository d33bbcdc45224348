"""bfloat16 compute (model.dtype): float32 parameters, optimiser state, loss and outputs."""

import _common
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from repsim_jax.config import base_config
from repsim_jax.losses import get_loss
from repsim_jax.models import build_model
from repsim_jax.train import make_optimizer, make_train_step
from repsim_jax.train.state import create_state


def _model(dtype):
    section = base_config().model
    section.update(dict(name="mlp", hidden=(32, 32), dropout=0.0, embedding_dim=4, dtype=dtype))
    return build_model(section, _common.NUM_CLASSES)


def _train(dtype, steps=5):
    model, loss, tx = _model(dtype), get_loss("l2"), make_optimizer("adam", 1e-2)
    data = _common.distill_data(_common.BATCH * steps)
    state = create_state(jax.random.key(0), model, loss, tx, data["x"][:1], teacher_dim=3)
    step = jax.jit(make_train_step(model, loss, tx))
    losses = []
    for i in range(steps):
        batch = {k: v[i * _common.BATCH : (i + 1) * _common.BATCH] for k, v in data.items()}
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    return model, state, np.array(losses)


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_state_and_loss_close():
    _, full, full_losses = _train("float32")
    model, half, half_losses = _train("bfloat16")
    floats = [
        leaf for leaf in jax.tree.leaves((half.params, half.opt_state)) if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    assert floats and all(leaf.dtype == jnp.float32 for leaf in floats)  # Adam's step count is int32
    assert np.all(np.isfinite(half_losses))
    np.testing.assert_allclose(half_losses, full_losses, rtol=1e-2)
    emb, logits = model.apply({"params": half.params["model"]}, _common.distill_data(8)["x"])
    assert emb.dtype == logits.dtype == jnp.float32
    # the compute really ran in bfloat16: the outputs differ from float32's on the same parameters
    emb32, _ = _model("float32").apply({"params": half.params["model"]}, _common.distill_data(8)["x"])
    assert 0 < np.max(np.abs(np.asarray(emb) - np.asarray(emb32)))


def test_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="model.dtype"):
        _model("float16")
