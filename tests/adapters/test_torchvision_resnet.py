"""torchvision ResNet state_dicts → our Flax ResNet (imagenet stem): the converted model
computes torchvision's forward pass (the reference). The files are read by
``models.load_variables``, the reader of ``model.init_from`` (whose ``init`` is tested in
tests/test_pretrained_init.py on a small model: a ResNet's random init alone takes seconds).

Needs torch and torchvision (the ``[torch]`` extra); skipped without them. The reference
classifier has the layout of the authors' code: a torchvision trunk under
``encoder.tv_layers``, a d-dim ``encoder.linear`` head with bias and a bias-free
``linear`` unembedding.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from repsim_jax import models  # noqa: E402
from repsim_jax.adapters.torchvision_resnet import convert  # noqa: E402

D, K = 16, 10


def _randomise(trunk) -> None:
    """BatchNorm statistics and affine parameters away from their trivial init (γ in
    [0.5, 1] keeps ResNet-50's activations of order one)."""
    with torch.no_grad():
        for module in trunk.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0, 0.1)


def reference_classifier(arch: str, seed: int = 0):
    """A random-init torchvision ``arch`` trunk with a d-dim embedding head and a bias-free
    unembedding, under the reference code's names; eval mode."""
    torch.manual_seed(seed)
    model = torch.nn.Module()
    model.encoder = torch.nn.Module()
    model.encoder.tv_layers = getattr(torchvision.models, arch)(weights=None)
    model.encoder.linear = torch.nn.Linear(model.encoder.tv_layers.fc.in_features, D)
    model.linear = torch.nn.Linear(D, K, bias=False)
    _randomise(model.encoder.tv_layers)
    with torch.no_grad():  # logits of order 1-10, so that 1e-4 is a strict tolerance
        model.encoder.linear.weight.normal_(0, 0.3)
        model.linear.weight.normal_(0, 0.3)
    return model.eval()


def pooled_features(trunk, x):
    """torchvision's trunk up to the global average pool (its ``fc`` skipped)."""
    with torch.no_grad():
        h = trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))
        h = trunk.layer4(trunk.layer3(trunk.layer2(trunk.layer1(h))))
        return torch.flatten(trunk.avgpool(h), 1)


def _flax(arch: str, path: str, x_nchw):
    """Our imagenet-stem classifier with the variables stored in ``path`` (the others
    random), and its ``(embeddings, logits)`` on ``x_nchw``."""
    encoder = {"resnet18": models.resnet18_encoder, "resnet50": models.resnet50_encoder}[arch](D, "imagenet")
    model = models.Classifier(encoder, K)
    x = jnp.asarray(x_nchw.numpy().transpose(0, 2, 3, 1))
    rng = np.random.default_rng(4)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    random = jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), shapes)
    variables = models.with_variables(random, models.load_variables(path), path)
    return variables, [np.asarray(a) for a in model.apply(variables, x)]


@pytest.mark.parametrize(
    "arch, size", [("resnet18", 32), pytest.param("resnet50", 48, marks=pytest.mark.slow)], ids=["resnet18", "resnet50"]
)
def test_converted_classifier_gives_torchvision_logits(tmp_path, arch, size):
    reference = reference_classifier(arch)
    path = tmp_path / "classifier.pth"
    torch.save(reference.state_dict(), path)
    x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        f = reference.encoder.linear(pooled_features(reference.encoder.tv_layers, x))
        z = reference.linear(f)
    _, (f_ours, z_ours) = _flax(arch, str(path), x)
    assert np.abs(z.numpy()).max() > 1.0
    assert np.abs(z_ours - z.numpy()).max() <= 1e-4
    assert np.abs(f_ours - f.numpy()).max() <= 1e-4


def test_plain_torchvision_state_dict_converts_the_trunk(tmp_path):
    trunk = torchvision.models.resnet18(weights=None)
    _randomise(trunk)
    trunk.eval()
    torch.save(trunk.state_dict(), tmp_path / "imagenet.pth")
    stored = convert(str(tmp_path / "imagenet.pth"), str(tmp_path / "imagenet.npz"))
    x = torch.randn(3, 3, 40, 40, generator=torch.Generator().manual_seed(3))
    variables, (f_ours, _) = _flax("resnet18", str(tmp_path / "imagenet.npz"), x)
    # ImageNet's fc (1000 classes) is dropped: the embedding head and unembedding stay random.
    assert not any("Dense_0" in key for key in stored)
    head = variables["params"]["encoder"]["Dense_0"]
    expected = pooled_features(trunk, x).numpy() @ np.asarray(head["kernel"]) + np.asarray(head["bias"])
    assert np.abs(f_ours - expected).max() <= 1e-4


def test_cifar_stem_model_rejects_torchvision_weights(tmp_path):
    path = tmp_path / "imagenet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    shapes = jax.eval_shape(
        models.Classifier(models.resnet18_encoder(D), K).init, jax.random.key(0), jnp.zeros((1, 32, 32, 3))
    )
    with pytest.raises(ValueError, match="Conv_0/kernel has shape"):
        models.with_variables(shapes, models.load_variables(str(path)), str(path))
