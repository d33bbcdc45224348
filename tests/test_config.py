"""Config files and `--config.section.key=value` overrides (ml_collections.config_flags semantics)."""

import sys

import ml_collections
import pytest

from repsim_jax.config import CONFIG_NAMES, experiment_config, load_config, presets, with_values

CONFIGS = {
    "synthetic": ("default", "smoke", "paper", "paper-centred", "paper-cpu", "quick"),
    "concepts": ("default", "quick", "smoke"),
    "cifar100": ("default", "resnet50", "teacher", "students", "smoke", "paper-teacher", "paper-students"),
    "sub": ("default", "paper", "quick", "smoke"),
}


def test_presets_are_read_from_the_configs():
    assert set(CONFIG_NAMES) == set(CONFIGS)
    for name, expected in CONFIGS.items():
        assert presets(name)[0] == "default" and set(presets(name)) == set(expected)


def _schema(config, prefix=""):
    keys = set()
    for key, value in config.items():
        keys.add(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            keys |= _schema(value, f"{prefix}{key}.")
    return keys


def test_every_preset_declares_the_common_schema():
    base = _schema(experiment_config("synthetic", "default"))
    assert {
        "seeds",
        "data.name",
        "model.embedding_dim",
        "optim.learning_rate",
        "loss.name",
        "teacher.workdir",
        "eval.num_pivots",
        "checkpoint.every",
        "sweep.losses",
        "reproduce.bound_every",
    } <= base
    for name, names in CONFIGS.items():
        for preset in names:
            assert _schema(experiment_config(name, preset)) == base, (name, preset)


def test_overrides_parse_to_the_declared_types():
    config = load_config(
        "synthetic:smoke",
        [
            "--config.optim.learning_rate=1",
            "--config.sweep.seeds=(3,4)",
            "--config.loss.name=l1",
            "--config.model.hidden=(8,)",
        ],
    )
    assert config.optim.learning_rate == 1.0 and isinstance(config.optim.learning_rate, float)
    assert tuple(config.sweep.seeds) == (3, 4) and config.loss.name == "l1"
    assert tuple(config.model.hidden) == (8,)


def test_loaded_configs_are_locked():
    config = experiment_config("synthetic", "smoke")
    with pytest.raises(AttributeError):
        config.loss.new_key = 1


@pytest.mark.parametrize(
    "spec, overrides, message",
    [
        ("synthetic", ["--config.nope=1"], "unknown config key 'nope'"),
        ("synthetic", ["--config.loss.nope=1"], "section 'loss' has keys"),
        ("synthetic", ["--config.loss.name.x=l2"], "'loss.name' is a value, not a section"),
        ("synthetic", ["--config.optim.learning_rate=fast"], "could not convert"),
        ("synthetic", ["config.seeds=(1,)"], "overrides look like --config.section.key=value"),
        ("synthetic:huge", [], "unknown preset 'huge'"),
        ("synthetics:quick", [], "unknown config 'synthetics'; choose one of synthetic"),
    ],
)
def test_bad_configs_raise_one_clear_line(spec, overrides, message):
    with pytest.raises(ValueError, match=message) as info:
        load_config(spec, overrides)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="missing.py"):
        load_config("my_configs/missing.py")


def test_packaged_configs_load_from_any_directory_and_by_their_old_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_name = experiment_config("synthetic", "smoke")
    # the checkout layout before the configs moved into the package keeps working
    by_old_path = load_config("experiments/configs/synthetic.py:smoke")
    assert by_old_path.to_dict() == by_name.to_dict()


def test_a_users_config_file_builds_on_the_packaged_common(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "from repsim_jax.configs import common\n\n\n"
        "def get_config(preset='default'):\n"
        "    c = common.get_base_config()\n"
        "    c.num_epochs = 7 if preset == 'short' else 70\n"
        "    return c\n"
    )
    assert load_config(f"{path}:short", ["--config.batch_size=32"]).num_epochs == 7
    assert load_config(str(path)).num_epochs == 70


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("def get_config(:\n    pass\n")
    with pytest.raises(ValueError, match=r"broken.py:1: syntax error") as info:
        load_config(str(path))
    assert "\n" not in str(info.value)


def test_loading_configs_leaves_sys_path_and_modules_alone():
    path_before = list(sys.path)
    for _ in range(5):
        experiment_config("synthetic", "smoke")
        experiment_config("concepts", "quick")
    assert sys.path == path_before
    assert "common" not in sys.modules


def test_with_values_copies_and_checks_keys():
    config = experiment_config("synthetic", "smoke")
    changed = with_values(config, {"loss.name": "kl", "seeds": (1, 2)})
    assert changed.loss.name == "kl" and tuple(changed.seeds) == (1, 2)
    assert config.loss.name == "ce" and tuple(config.seeds) == (0,)
    with pytest.raises(ValueError, match="unknown config key"):
        with_values(config, {"loss.nope": 1})
