"""Config loading, extension, overrides and the one-line errors for each kind of mistake."""
import dataclasses

import pytest

from bn_study.config.schema import RunConfig, load_config
from bn_study.errors import UserError
from tests.conftest import ROOT, write

BASE = """\
optimizer: {class: Adam}
train: {batch_size: 250, epochs: 25, validation_split: 0.2}
model:
  name: tiny
  input_shape: [28, 28, 1]
  layers:
    - {class: Flatten}
    - {class: Dense, units: 10, activation: softmax}
"""


@pytest.fixture
def base(tmp_path):
    return write(tmp_path / "base.yaml", BASE)


def test_article_configs_resolve_through_base():
    no_bn = load_config(ROOT / "configs/article_no_bn.yaml")
    bn = load_config(ROOT / "configs/article_bn.yaml")
    for config in (no_bn, bn):
        assert config.train.batch_size == 250 and config.train.epochs == 25
        assert config.train.validation_split == 0.2 and config.optimizer.class_name == "Adam"
    assert [l.class_name for l in bn.model.layers].count("BatchNormalization") == 5
    assert no_bn.fingerprint() != bn.fingerprint()


def test_config_is_frozen(base):
    config = load_config(base)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.epochs = 3
    with pytest.raises(TypeError):
        config.model.layers[1].args["units"] = 3


def test_extends_overrides_only_what_differs(tmp_path, base):
    child = write(tmp_path / "child.yaml", "extends: base.yaml\ntrain: {epochs: 3}\n")
    config = load_config(child)
    assert config.train.epochs == 3 and config.train.batch_size == 250


def test_set_overrides_with_yaml_values(base):
    config = load_config(base, ["train.epochs=2", "data.train_limit=2000", "model.layers.1.units=7",
                                "optimizer.learning_rate=1e-2"], seed=3)
    assert config.train.epochs == 2 and config.data.train_limit == 2000 and config.seed == 3
    assert config.model.layers[1].args["units"] == 7
    assert config.optimizer.args["learning_rate"] == 0.01


def test_fingerprint_follows_seed_and_values_not_data_path(base):
    a = load_config(base)
    assert a.fingerprint() == load_config(base, ["data.path=/elsewhere/mnist.npz"]).fingerprint()
    assert a.fingerprint() != a.with_seed(1).fingerprint()
    assert a.fingerprint() != load_config(base, ["train.epochs=2"]).fingerprint()


def test_resolved_config_round_trips(tmp_path, base):
    config = load_config(base, ["train.epochs=4"])
    from bn_study.config.yamlio import dump_yaml

    again = write(tmp_path / "resolved.yaml", dump_yaml(config.to_raw()))
    assert load_config(again) == config


@pytest.mark.parametrize("text, message", [
    ("train: {epochs: 3\n", r"base.yaml:\d+: YAML syntax error"),
    ("trian: {epochs: 3}\n", r"trian: unknown key \(did you mean 'train'\?\)"),
    ("train: {epochs: -1}\n", r"train.epochs: expected a positive integer, got -1"),
    ("train: {batch_size: big}\n", r"train.batch_size: expected int, got 'big'"),
    ("train: {validation_split: 1.5}\n", r"train.validation_split: expected a fraction strictly between 0 and 1, got 1.5"),
    ("train: {shuffle: 3}\n", r"train.shuffle: expected bool, got 3"),
    ("train: {epochs: 2}\ntrain: {epochs: 3}\n", r"key 'train' is given twice"),
    ("model: {layers: [{units: 3}]}\n", r"model.layers.0: expected a mapping with a 'class' name"),
])
def test_bad_config_values_name_file_and_key(tmp_path, text, message):
    base = write(tmp_path / "base.yaml", BASE)
    # Mistakes are appended to a child so that each error names the file it is in.
    child = write(tmp_path / "child.yaml", "extends: base.yaml\n" + text)
    target = base if "syntax" in message or "twice" in message else child
    if target is base:
        write(base, BASE + text)
    with pytest.raises(UserError, match=message) as info:
        load_config(target)
    assert str(target) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_extends_cycle(tmp_path):
    with pytest.raises(UserError, match="nope.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(UserError, match="cycle"):
        load_config(tmp_path / "a.yaml")


@pytest.mark.parametrize("override, message", [
    ("trian.epochs=2", r"--set trian.epochs: unknown key 'trian' \(did you mean 'train'\?\)"),
    ("train.epoch=2", r"unknown key 'train.epoch' \(did you mean 'epochs'\?\)"),
    ("train.epochs=-1", r"--set train.epochs: expected a positive integer, got -1"),
    ("train.epochs", r"expected KEY=VALUE"),
    ("model.layers.9.units=3", r"needs a position 0..1"),
    ("train.epochs.x=3", r"'train.epochs' is a value, not a section"),
])
def test_bad_overrides(base, override, message):
    with pytest.raises(UserError, match=message):
        load_config(base, [override])


def test_schema_defaults_are_complete():
    # Every field a user may omit has a default; the required ones are the model and training core.
    required = {f.name for f in dataclasses.fields(RunConfig) if f.default is dataclasses.MISSING}
    assert required == {"model", "optimizer", "train"}
