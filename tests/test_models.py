"""Models built from configs: the article's layer lists and parameter counts, and Keras errors."""
import pytest

from bn_study.config.schema import load_config
from bn_study.errors import UserError
from bn_study.model.build import build_model, check_buildable
from tests.conftest import ROOT

CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.name != "base.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_builds(path):
    config = load_config(path)
    check_buildable(config)
    model = build_model(config.model)
    assert model.output_shape == (None, 10)
    assert not model.compiled  # the builder returns an uncompiled model


def test_article_models_match_the_article():
    no_bn = build_model(load_config(ROOT / "configs/article_no_bn.yaml").model)
    bn = build_model(load_config(ROOT / "configs/article_bn.yaml").model)
    assert [type(l).__name__ for l in no_bn.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert no_bn.count_params() == 431_242
    assert bn.count_params() == 433_034
    trainable = sum(int(w.numpy().size) for w in bn.trainable_weights)
    assert trainable == 432_138
    # BN after the first Conv2D, the first pooling, the second Conv2D, the second pooling, Dense(256).
    names = [type(l).__name__ for l in bn.layers]
    assert [i for i, n in enumerate(names) if n == "BatchNormalization"] == [1, 3, 5, 7, 10]
    assert [names[i - 1] for i in (1, 3, 5, 7, 10)] == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Dense"]


def test_bn_arguments_reach_the_layer():
    config = load_config(ROOT / "configs/article_bn.yaml",
                         ["model.layers.1.momentum=0.9", "model.layers.1.epsilon=0.01",
                          "model.layers.1.center=false", "model.layers.1.renorm=true"])
    layer = build_model(config.model).layers[1]
    assert (layer.momentum, layer.epsilon, layer.center, layer.renorm) == (0.9, 0.01, False, True)


@pytest.mark.parametrize("override, message", [
    ("model.layers.1.class=BatchNormalisation",
     r"model.layers.1 \(BatchNormalisation\): unknown layer class 'BatchNormalisation' \(did you mean 'BatchNormalization'\?\)"),
    ("model.layers.0.filtres=3", r"model.layers.0 \(Conv2D\): Keras rejects the arguments"),
    ("model.layers.5.units=-4", r"model.layers.5 \(Dense\): Keras rejects the arguments"),
    ("model.layers.1.class=FusedBatchNorm", r"model.layers.1 \(FusedBatchNorm\): Keras rejects the arguments"),
    ("optimizer.learning_rat=0.1", r"optimizer \(Adam\): Keras rejects it"),
    ("train.loss=hinge_loss_x", r"train.loss: unknown loss 'hinge_loss_x'"),
])
def test_keras_level_mistakes_name_the_layer(override, message):
    config = load_config(ROOT / "configs/article_no_bn.yaml", [override])
    with pytest.raises(UserError, match=message) as info:
        check_buildable(config)
    assert "\n" not in str(info.value)


def test_fused_bn_sits_where_the_config_says_and_is_refused_off_tensorflow(monkeypatch):
    config = load_config(ROOT / "configs/article_bn_fused.yaml")
    names = [type(l).__name__ for l in build_model(config.model).layers]
    assert [i for i, n in enumerate(names) if n == "FusedBatchNorm"] == [1, 3, 5, 7, 10]
    monkeypatch.setattr("keras.backend.backend", lambda: "jax")
    with pytest.raises(UserError, match=r"^model.layers.1 \(FusedBatchNorm\): FusedBatchNorm needs the tensorflow "
                                        r"backend of Keras, this is 'jax'"):
        build_model(config.model)
