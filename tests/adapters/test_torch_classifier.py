"""PyTorch classifier adapter: penultimate features and the final Linear give the logits exactly."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from repsim_jax.adapters.torch_classifier import classifier_representation, final_linear  # noqa: E402


def _mlp(seed=0, bias=True):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 16),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(16, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 4, bias=bias),
    )


def _inputs(n=50):
    return np.random.default_rng(0).standard_normal((n, 5))  # float64: cast to the model's dtype


@pytest.mark.parametrize("bias", [True, False])
def test_features_times_unembeddings_are_the_logits(bias):
    model = _mlp(bias=bias).train()
    rep = classifier_representation(model, _inputs(), batch_size=16)
    assert not model.training
    width = 9 if bias else 8
    assert rep.embeddings.shape == (50, width) and rep.unembeddings.shape == (4, width) and rep.logits.shape == (50, 4)
    assert {a.dtype for a in rep} == {np.dtype(np.float32)}
    with torch.no_grad():
        own = model(torch.as_tensor(_inputs(), dtype=torch.float32)).numpy()
    # batches of 16 and one batch of 50 round differently on some CPUs (1.5e-8 seen): not bit-equal
    np.testing.assert_allclose(rep.logits, own, rtol=1e-6, atol=1e-6)
    assert np.abs(rep.embeddings @ rep.unembeddings.T - own).max() <= 1e-4
    if bias:
        assert np.all(rep.embeddings[:, -1] == 1)
        np.testing.assert_array_equal(rep.unembeddings[:, -1], model[-1].bias.detach().numpy())


def test_explicit_head_and_default_head():
    model = _mlp()
    assert final_linear(model) is model[-1]
    rep = classifier_representation(model, torch.as_tensor(_inputs(), dtype=torch.float32), head=model[-1])
    assert rep.embeddings.shape == (50, 9)
    with pytest.raises(ValueError, match="no nn.Linear"):
        final_linear(torch.nn.Sequential(torch.nn.ReLU()))


def test_model_output_other_than_its_head_is_refused():
    model = torch.nn.Sequential(_mlp(), torch.nn.LogSoftmax(dim=1))
    with pytest.raises(ValueError, match="not its head's output"):
        classifier_representation(model, _inputs())
    inner = _mlp()
    with pytest.raises(ValueError, match="not its head's output"):
        classifier_representation(inner, _inputs(), head=inner[0])
    with pytest.raises(ValueError, match="called 0 times"):
        classifier_representation(inner, _inputs(), head=_mlp()[-1])
