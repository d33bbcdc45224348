"""Config files and `--config.section.key=value` overrides (ml_collections.config_flags semantics)."""

import json
import re
import sys

import ml_collections
import pytest

from repsim_jax.config import (
    CONFIG_NAMES,
    VALUE_RANGES,
    base_config,
    check_values,
    experiment_config,
    load_config,
    presets,
    with_defaults,
    with_values,
)
from repsim_jax.errors import InputError

CONFIGS = {
    "synthetic": ("default", "smoke", "paper", "paper-centred", "paper-cpu", "quick"),
    "concepts": ("default", "quick", "smoke"),
    "cifar100": ("default", "resnet50", "teacher", "students", "smoke", "paper-teacher", "paper-students"),
    "sub": ("default", "paper", "quick", "smoke"),
    "lm": ("default", "smoke", "quick", "paper"),
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


# --- value ranges: one table (VALUE_RANGES), checked on load and on restore ----------------


def _numeric_leaves(config, prefix=""):
    """Keys whose default is a number or a non-empty tuple of numbers (bools excluded)."""
    found = set()
    for key, value in config.items():
        name = prefix + key
        if isinstance(value, ml_collections.ConfigDict):
            found |= _numeric_leaves(value, f"{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.add(name)
        elif isinstance(value, tuple) and value and all(isinstance(v, (int, float)) for v in value):
            found.add(name)
    return found


def test_every_numeric_key_has_a_declared_range():
    base = base_config()
    assert _numeric_leaves(base) <= set(VALUE_RANGES)
    assert set(VALUE_RANGES) <= _schema(base)


def test_every_preset_of_every_config_is_in_range():
    for name in CONFIG_NAMES:
        for preset in presets(name):
            check_values(experiment_config(name, preset))


@pytest.mark.parametrize(
    "key, bad, good",
    [
        ("seeds", "(-1,)", "(0, 4294967295)"),
        ("seeds", "(4294967296,)", "(7,)"),
        ("num_epochs", "0", "1"),
        ("batch_size", "0", "1"),
        ("data.num_train", "-1", "0"),
        ("data.points_per_arm", "0", "1"),
        ("model.hidden", "(8,0)", "(8,1)"),
        ("model.dropout", "1.0", "0.999"),
        ("model.dropout", "-0.1", "0.0"),
        ("model.dropout", "1.5", "0.5"),
        ("model.embedding_dim", "0", "1"),
        ("optim.learning_rate", "0", "1e-9"),
        ("optim.learning_rate", "inf", "10"),
        ("optim.learning_rate", "nan", "0.1"),
        ("optim.decay", "0", "1.0"),
        ("optim.decay", "1.01", "0.5"),
        ("loss.temperature", "0", "0.5"),
        ("loss.logit_weight", "-1", "0"),
        ("eval.every", "0", "1"),
        ("eval.num_pivots", "0", "1"),
        ("eval.pivot_seed", "-1", "0"),
        ("eval.cca_components", "-1", "0"),
        ("checkpoint.keep", "0", "1"),
        ("mesh.data", "-2", "-1"),
        ("sweep.dims", "(0,)", "(1,2)"),
        ("reproduce.bound_every", "0", "1"),
        ("reproduce.finetune_sizes", "(70,0)", "(70,)"),
    ],
)
def test_a_value_out_of_range_is_one_line_naming_the_key(key, bad, good):
    with pytest.raises(InputError, match=f"config key '{re.escape(key)}' must be") as info:
        load_config("synthetic:smoke", [f"--config.{key}={bad}"])
    assert "\n" not in str(info.value) and "synthetic:smoke" in str(info.value)
    load_config("synthetic:smoke", [f"--config.{key}={good}"])  # the edge of the range is accepted


def _stored():
    return json.loads(experiment_config("synthetic", "smoke").to_json())


def test_with_defaults_fills_missing_keys_and_refuses_unknown_ones():
    stored = _stored()
    del stored["model"]["dropout"], stored["reproduce"]
    restored = with_defaults(stored)
    assert restored.model.dropout == base_config().model.dropout
    assert restored.reproduce.to_dict() == base_config().reproduce.to_dict()
    assert restored.model.hidden == (64, 64, 64)  # stored values kept
    for change, message in [
        (lambda c: c["model"].update(widths=3), "unknown config key 'model.widths'"),
        (lambda c: c.update(extra={}), "unknown config key 'extra'"),
        (lambda c: c.update(model=3), "config key 'model' is a section"),
        (lambda c: c["optim"].update(learning_rate="fast"), "config key 'optim.learning_rate' must be of type float"),
        (lambda c: c["model"].update(dropout=1.5), "config key 'model.dropout' must be a finite number in"),
        (
            lambda c: c.update(seeds=[0, -3]),
            r"config key 'seeds' must be a tuple, each entry an integer in \[0, 2\*\*32\)",
        ),
    ]:
        stored = _stored()
        change(stored)
        with pytest.raises(InputError, match=f"^runs/w/config.json: {message}") as info:
            with_defaults(stored, "runs/w/config.json")
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="config.json: expected a JSON object"):
        with_defaults([1, 2])


def test_a_users_config_that_lacks_keys_or_is_not_a_config_dict_is_one_line(tmp_path):
    path = tmp_path / "partial.py"
    path.write_text(
        "import ml_collections\n\ndef get_config():\n    return ml_collections.ConfigDict({'seeds': (0,)})\n"
    )
    with pytest.raises(InputError, match="config has no key 'num_epochs'; build it on"):
        load_config(str(path))
    path.write_text("def get_config():\n    return 3\n")
    with pytest.raises(InputError, match="get_config\\(\\) must return an ml_collections.ConfigDict, got int"):
        load_config(str(path))
