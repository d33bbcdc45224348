"""The torchvision ResNet converter's errors on bad state_dicts (needs torch only)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from repsim_jax.adapters.torchvision_resnet import read_resnet_variables, resnet_variables  # noqa: E402


def stem_state() -> dict[str, np.ndarray]:
    """conv1 and bn1 of a torchvision ResNet: the smallest state_dict that converts."""
    rng = np.random.default_rng(0)
    state = {"conv1.weight": rng.normal(size=(64, 3, 7, 7)).astype(np.float32)}
    for leaf in ("weight", "bias", "running_mean", "running_var"):
        state[f"bn1.{leaf}"] = rng.uniform(0.5, 1.5, size=64).astype(np.float32)
    return state


def test_the_stem_converts_to_flax_layouts():
    state = stem_state()
    out = resnet_variables(state | {"bn1.num_batches_tracked": np.array(3), "fc.weight": np.zeros((1000, 2048))})
    assert set(out) == {
        "params/encoder/Conv_0/kernel",
        "params/encoder/BatchNorm_0/scale",
        "params/encoder/BatchNorm_0/bias",
        "batch_stats/encoder/BatchNorm_0/mean",
        "batch_stats/encoder/BatchNorm_0/var",
    }
    # kernel[i, j, c, o] = weight[o, c, i, j]
    np.testing.assert_array_equal(out["params/encoder/Conv_0/kernel"][2, 5, 1, 7], state["conv1.weight"][7, 1, 2, 5])
    np.testing.assert_array_equal(out["batch_stats/encoder/BatchNorm_0/var"], state["bn1.running_var"])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s.pop("bn1.running_var"), r"bn1 lacks \['running_var'\]"),
        (lambda s: s.pop("conv1.weight"), "no conv1.weight"),
        (lambda s: s.update({"bn1.weight": np.full(64, np.nan, np.float32)}), "bn1.weight has NaN"),
        (lambda s: s.update({"head.weight": np.zeros((3, 3))}), "not part of a torchvision ResNet"),
        (lambda s: s.update({"conv1.weight": np.zeros((64, 3))}), "must be 4-D"),
        (lambda s: s.update({"layer1.0.conv1.weight": np.zeros((64, 64, 3, 3))}), "layer1.0.bn1 lacks"),
    ],
)
def test_bad_state_dicts_raise_a_clear_error(change, message):
    state = stem_state()
    change(state)
    with pytest.raises(ValueError, match=message):
        resnet_variables(state)


def test_reference_layout_with_foreign_keys_is_rejected():
    state = {f"encoder.tv_layers.{k}": v for k, v in stem_state().items()} | {"teacher.linear.weight": np.zeros(2)}
    with pytest.raises(ValueError, match="unexpected keys"):
        resnet_variables(state)


def test_files_that_are_not_state_dicts(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="list.pth: expected a state_dict"):
        read_resnet_variables(str(tmp_path / "list.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pth: cannot read"):
        read_resnet_variables(str(tmp_path / "junk.pth"))
